"""Teacher sign-in. On first run (no teacher yet) the same dialog creates the first teacher.

Wrong passwords are throttled by storage.auth (growing, persisted delays); while a delay runs the
dialog says how long and counts down instead of letting the teacher click into a wall.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from storage import StorageError, auth, users


class TeacherLoginDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *,
                 params: auth.ScryptParams = auth.DEFAULT_PARAMS, clock: auth.Clock | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._params = params   # tests pass cheap ones; production hashes are memory-hard
        self._clock = clock
        self.first_run = not auth.teacher_exists(ctx.db)
        self._wait_left = 0
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._tick)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        if self.first_run:
            self.setWindowTitle("Create the first teacher")
            intro = QLabel("No teacher account exists yet. Create one: teachers review what the tutor said and "
                           "decide what the model may learn from. Students cannot open the teacher tools.")
            intro.setWordWrap(True)
            layout.addWidget(intro)
            self.name_edit: QLineEdit | QComboBox = QLineEdit()
            self.name_edit.setPlaceholderText("e.g. Ms Lee")
            form.addRow("Teacher name", self.name_edit)
            form.addRow("Password", self.password_edit)
            form.addRow("Password again", self.confirm_edit)
            self.password_edit.setPlaceholderText(f"at least {auth.MIN_PASSWORD_LENGTH} characters")
            submit_text = "Create and sign in"
        else:
            self.setWindowTitle("Teacher sign in")
            self.name_edit = QComboBox()
            self.name_edit.setEditable(True)
            self.name_edit.addItems([t.name for t in users.list_users(ctx.db, role="teacher")])
            form.addRow("Teacher", self.name_edit)
            form.addRow("Password", self.password_edit)
            submit_text = "Sign in"
        layout.addLayout(form)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020")
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.submit_button: QPushButton = self.buttons.addButton(submit_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        # only once the button is inside the dialog: setDefault on a button without a dialog is
        # forgotten, and on show the dialog makes its first button (Cancel) the default for Enter
        self.submit_button.setDefault(True)
        (self.password_edit if not self.first_run and self.name() else self.name_edit).setFocus()

    def name(self) -> str:
        edit = self.name_edit
        return (edit.text() if isinstance(edit, QLineEdit) else edit.currentText()).strip()

    @Slot()
    def submit(self) -> None:
        if self._wait_left > 0:
            return
        try:
            if self.first_run:
                if self.password_edit.text() != self.confirm_edit.text():
                    self._show_error("The two passwords differ.")
                    return
                teacher = auth.create_teacher(self.ctx.db, None, self.name(), self.password_edit.text(),
                                              params=self._params)
            else:
                teacher = auth.authenticate(self.ctx.db, self.name(), self.password_edit.text(), clock=self._clock)
        except auth.LoginThrottled as exc:
            self.password_edit.clear()
            self._start_countdown(exc.retry_after_s, str(exc))
            return
        except StorageError as exc:
            self.password_edit.clear()
            self.password_edit.setFocus()
            self._show_error(str(exc))
            return
        self.ctx.teacher = teacher
        self.ctx.changes.notify(ChangeKind.USERS)
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)

    def _start_countdown(self, seconds: int, text: str) -> None:
        self._wait_left = seconds
        self._show_error(text)
        self.submit_button.setEnabled(False)
        self._countdown.start()

    @Slot()
    def _tick(self) -> None:
        self._wait_left -= 1
        if self._wait_left <= 0:
            self._countdown.stop()
            self.submit_button.setEnabled(True)
            self._show_error("You can try again now.")
        else:
            self._show_error(f"Too many wrong passwords. Try again in {self._wait_left} s.")


class TeacherSignIn(QObject):
    """The window's one sign-in: any feature that needs a teacher asks it to run an action, now or
    once someone has signed in. One dialog at a time; a second request brings that dialog forward."""

    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.parent_widget = parent
        self.dialog: TeacherLoginDialog | None = None

    def with_teacher(self, action: Callable[[], None]) -> None:
        if self.ctx.teacher is not None:
            action()
        else:
            self.sign_in(then=action)

    def sign_in(self, then: Callable[[], None] | None = None) -> None:
        """Open the sign-in dialog (non-blocking); run `then` once a teacher is signed in."""
        if self.dialog is not None:
            self.dialog.raise_()
            return
        dialog = TeacherLoginDialog(self.ctx, self.parent_widget)
        self.dialog = dialog

        def done(result: int) -> None:
            self.dialog = None
            if result == QDialog.DialogCode.Accepted and then is not None:
                then()

        dialog.finished.connect(done)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
