"""The Teacher menu: sign in/out, the review queue, import/export, the audit log and student data.

The main window hands over its `teacher_menu`; this object fills it and owns the teacher windows,
so main_window.py needs two lines. Opening a teacher tool while nobody is signed in asks for the
sign-in first. Hiding or disabling entries is convenience only: storage checks the role itself.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMenu, QWidget

from app.audit_view import AuditView
from app.context import AppContext
from app.exchange_dialog import ExchangeDialog
from app.review_view import ReviewView
from app.student_data_dialog import StudentDataDialog
from app.teacher_login import TeacherLoginDialog
from storage import auth


class TeacherActions(QObject):
    def __init__(self, parent: QWidget, ctx: AppContext, menu: QMenu) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.ctx = ctx
        self.review_window: ReviewView | None = None
        self.audit_window: AuditView | None = None
        self.login_dialog: TeacherLoginDialog | None = None

        self.sign_in_action = QAction("Sign &in as teacher…", self)
        self.sign_in_action.triggered.connect(lambda: self.sign_in())
        self.sign_out_action = QAction("Sign &out", self)
        self.sign_out_action.triggered.connect(self.sign_out)
        self.review_action = QAction("&Review queue…", self)
        self.review_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.review_action.triggered.connect(self.open_review)
        self.audit_action = QAction("&Audit log…", self)
        self.audit_action.triggered.connect(self.open_audit)
        self.student_data_action = QAction("&Student data (export or delete)…", self)
        self.student_data_action.triggered.connect(self.open_student_data)
        self.exchange_action = QAction("&Import or export examples…", self)
        self.exchange_action.triggered.connect(self.open_exchange)
        menu.addActions([self.sign_in_action, self.sign_out_action])
        menu.addSeparator()
        menu.addActions([self.review_action, self.exchange_action, self.audit_action, self.student_data_action])
        ctx.changes.changed.connect(self._on_changed)
        self._update()

    @Slot(str)
    def _on_changed(self, kind: str) -> None:
        if kind == "users":
            self._update()

    def _update(self) -> None:
        teacher = self.ctx.teacher
        self.sign_in_action.setText("Sign &in as teacher…" if auth.teacher_exists(self.ctx.db)
                                    else "Create the first &teacher account…")
        self.sign_in_action.setVisible(teacher is None)
        self.sign_out_action.setVisible(teacher is not None)
        self.sign_out_action.setText(f"Sign &out ({teacher.name})" if teacher else "Sign &out")

    def sign_in(self, then: Callable[[], None] | None = None) -> None:
        """Open the sign-in dialog (non-blocking); run `then` once a teacher is signed in."""
        if self.login_dialog is not None:
            self.login_dialog.raise_()
            return
        dialog = TeacherLoginDialog(self.ctx, self.parent_widget)
        self.login_dialog = dialog

        def done(result: int) -> None:
            self.login_dialog = None
            self._update()
            if result == QDialog.DialogCode.Accepted and then is not None:
                then()

        dialog.finished.connect(done)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    @Slot()
    def sign_out(self) -> None:
        self.ctx.teacher = None
        for window in (self.review_window, self.audit_window):
            if window is not None:
                window.close()
        self.review_window = self.audit_window = None
        self.ctx.changes.notify("users")

    def _with_teacher(self, action: Callable[[], None]) -> None:
        if self.ctx.teacher is None:
            self.sign_in(then=action)
        else:
            action()

    @Slot()
    def open_review(self) -> None:
        def show() -> None:
            if self.review_window is None:
                # A child window of the main window: it closes when the app does.
                self.review_window = ReviewView(self.ctx, self.parent_widget)
                self.review_window.setWindowFlag(Qt.WindowType.Window)
                self.review_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                self.review_window.destroyed.connect(lambda: setattr(self, "review_window", None))
            self.review_window.show()
            self.review_window.raise_()
            self.review_window.activateWindow()
        self._with_teacher(show)

    @Slot()
    def open_audit(self) -> None:
        def show() -> None:
            if self.audit_window is None:
                # A child window of the main window: it closes when the app does.
                self.audit_window = AuditView(self.ctx, self.parent_widget)
                self.audit_window.setWindowFlag(Qt.WindowType.Window)
                self.audit_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                self.audit_window.destroyed.connect(lambda: setattr(self, "audit_window", None))
            self.audit_window.show()
            self.audit_window.raise_()
        self._with_teacher(show)

    @Slot()
    def open_exchange(self) -> None:
        def show() -> None:
            dialog = ExchangeDialog(self.ctx, self.parent_widget)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
        self._with_teacher(show)

    @Slot()
    def open_student_data(self) -> None:
        def show() -> None:
            dialog = StudentDataDialog(self.ctx, self.parent_widget)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
        self._with_teacher(show)
