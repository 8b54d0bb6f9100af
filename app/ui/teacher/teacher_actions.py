"""The Teacher menu: sign in/out, the review queue, import/export, the audit log, student data and
safeguarding alerts (with an indicator in the status bar while a teacher is signed in and alerts wait).

A window feature (app.ui.features): it fills the host's Teacher menu and owns the teacher windows.
Opening a teacher tool while nobody is signed in asks for the sign-in first (the host's
`with_teacher`). Hiding or disabling entries is convenience only: storage checks the role itself.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QPushButton, QWidget

from app.ui.features import WindowHost
from app.ui.teacher.audit_view import AuditView
from app.ui.context import AppContext, ChangeKind
from app.ui.teacher.exchange_dialog import ExchangeDialog
from app.ui.teacher.review_view import ReviewView
from app.ui.teacher.safeguarding_view import SafeguardingView
from app.ui.teacher.student_data_dialog import StudentDataDialog
from storage import StorageError, auth, safeguarding


class TeacherActions(QObject):
    def __init__(self, host: WindowHost) -> None:
        super().__init__(host.widget())
        self.host = host
        self.parent_widget: QWidget = host.widget()
        self.ctx: AppContext = host.ctx
        self.review_window: ReviewView | None = None
        self.audit_window: AuditView | None = None
        self.safeguarding_window: SafeguardingView | None = None
        menu = host.menu("teacher")

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
        self.safeguarding_action = QAction("Safe&guarding alerts…", self)
        self.safeguarding_action.triggered.connect(self.open_safeguarding)
        menu.addActions([self.sign_in_action, self.sign_out_action])
        menu.addSeparator()
        menu.addActions([self.review_action, self.exchange_action, self.audit_action, self.student_data_action])
        menu.addSeparator()
        menu.addAction(self.safeguarding_action)
        # who is signed in, where it is always seen (not only inside the Teacher menu); click to sign out
        self.badge = QPushButton()
        self.badge.setObjectName("teacherBadge")
        self.badge.setFlat(True)
        self.badge.setStyleSheet("QPushButton#teacherBadge { background: #e3f0e8; color: #1b5e20;"
                                 " border: 1px solid #9ccfa8; border-radius: 4px; padding: 1px 8px; }")
        self.badge.setToolTip("A teacher is signed in on this window. Click to sign out.")
        self.badge.clicked.connect(self.sign_out)
        host.add_status_widget(self.badge)
        # New safeguarding alerts, seen by a signed-in teacher wherever they are (click: open the list).
        self.alert_indicator = QPushButton()
        self.alert_indicator.setObjectName("safeguardingIndicator")
        self.alert_indicator.setFlat(True)
        self.alert_indicator.setStyleSheet("QPushButton#safeguardingIndicator { background: #fdecea; color: #b71c1c;"
                                           " border: 1px solid #ef9a9a; border-radius: 4px; padding: 1px 8px; }")
        self.alert_indicator.setToolTip("Safeguarding alerts wait for a teacher. Click to open them.")
        self.alert_indicator.clicked.connect(self.open_safeguarding)
        host.add_status_widget(self.alert_indicator)
        self.ctx.changes.changed.connect(self._on_changed)
        self.ctx.navigation.review_item.connect(self.open_review_at)
        self._update()

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind is ChangeKind.USERS:
            if self.ctx.teacher is None:   # signed out (the menu, a profile change, idle time): close the tools
                self._close_windows()
            self._update()
        elif kind in (ChangeKind.SAFEGUARDING, ChangeKind.MESSAGES):
            self._update_alerts()   # MESSAGES too: `tutorloop ask` in another process may have added one

    def _update(self) -> None:
        teacher = self.ctx.teacher
        self.sign_in_action.setText("Sign &in as teacher…" if auth.teacher_exists(self.ctx.db)
                                    else "Create the first &teacher account…")
        self.sign_in_action.setVisible(teacher is None)
        self.sign_out_action.setVisible(teacher is not None)
        self.sign_out_action.setText(f"Sign &out ({teacher.name})" if teacher else "Sign &out")
        self.badge.setText(f"Teacher: {teacher.name}" if teacher else "")
        self.badge.setVisible(teacher is not None)
        self._update_alerts()

    def _update_alerts(self) -> None:
        """The count of alerts waiting: in the menu entry for anyone, as a status-bar indicator for a
        signed-in teacher (a student sees no red badge about what they wrote)."""
        try:
            waiting = safeguarding.unacknowledged_count(self.ctx.db)
        except StorageError:
            waiting = 0
        self.safeguarding_action.setText(f"Safe&guarding alerts ({waiting} new)…" if waiting
                                         else "Safe&guarding alerts…")
        self.alert_indicator.setText(f"Safeguarding: {waiting} new")
        self.alert_indicator.setVisible(self.ctx.teacher is not None and waiting > 0)

    def sign_in(self) -> None:
        self.host.with_teacher(lambda: None)

    @Slot()
    def sign_out(self) -> None:
        self.ctx.teacher = None
        self._close_windows()
        self.ctx.changes.notify(ChangeKind.USERS)

    def _close_windows(self) -> None:
        for window in (self.review_window, self.audit_window, self.safeguarding_window):
            if window is not None:
                window.close()
        self.review_window = self.audit_window = self.safeguarding_window = None

    def shutdown(self) -> None:
        for window in (self.review_window, self.audit_window, self.safeguarding_window):
            if window is not None:
                window.close()

    @Slot()
    def open_review(self) -> None:
        def show() -> None:
            if self.review_window is None:
                # A child window of the main window: it closes when the app does.
                self.review_window = ReviewView(self.ctx, self.parent_widget)
                self.review_window.model_host = self.host.model
                self.review_window.setWindowFlag(Qt.WindowType.Window)
                self.review_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                self.review_window.destroyed.connect(lambda: setattr(self, "review_window", None))
            self.review_window.show()
            self.review_window.raise_()
            self.review_window.activateWindow()
        self.host.with_teacher(show)

    @Slot(str)
    def open_review_at(self, key: str) -> None:
        """"Why this answer?" asked to see an approved example where it was decided."""
        def show() -> None:
            self.open_review()
            if self.review_window is not None:
                self.review_window.show_item(key)
        self.host.with_teacher(show)

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
        self.host.with_teacher(show)

    @Slot()
    def open_safeguarding(self) -> None:
        def show() -> None:
            if self.safeguarding_window is None:
                # A child window of the main window: it closes when the app does (and on sign-out).
                self.safeguarding_window = SafeguardingView(self.ctx, self.parent_widget)
                self.safeguarding_window.setWindowFlag(Qt.WindowType.Window)
                self.safeguarding_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                self.safeguarding_window.destroyed.connect(lambda: setattr(self, "safeguarding_window", None))
            self.safeguarding_window.show()
            self.safeguarding_window.raise_()
            self.safeguarding_window.activateWindow()
        self.host.with_teacher(show)

    @Slot()
    def open_exchange(self) -> None:
        def show() -> None:
            dialog = ExchangeDialog(self.ctx, self.parent_widget)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
        self.host.with_teacher(show)

    @Slot()
    def open_student_data(self) -> None:
        def show() -> None:
            dialog = StudentDataDialog(self.ctx, self.parent_widget)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
        self.host.with_teacher(show)
