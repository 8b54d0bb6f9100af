"""Teacher sign-in. On first run (no teacher yet) the same dialog creates the first teacher.

Wrong passwords are throttled by storage.auth (growing, persisted delays, counted per source: the OS
account plus the profile open in the window); while a delay runs the dialog says how long and
counts down instead of letting the teacher click into a wall.

A sign-in lasts while the profile open at sign-in stays open and the teacher keeps acting
(storage.auth.TeacherSignIn): `TeacherSignIn` checks on every profile change and every
IDLE_CHECK_MS, signs the teacher out (teacher windows close on ChangeKind.USERS) and says why.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

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
                student = self.ctx.student
                teacher = auth.authenticate(self.ctx.db, self.name(), self.password_edit.text(), clock=self._clock,
                                            source=auth.signin_source(student.id if student else None))
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


IDLE_CHECK_MS = 30_000   # how often an idle sign-in is looked at (the limit itself is minutes)


class TeacherSignIn(QObject):
    """The window's one sign-in: any feature that needs a teacher asks it to run an action, now or
    once someone has signed in. One dialog at a time; a second request brings that dialog forward.

    It keeps the sign-in's storage.auth.TeacherSignIn: teacher actions (`with_teacher`, review
    decisions) count as activity; a profile change or the teacher's idle time ends it, with the
    reason passed to `on_signed_out` (the window's status bar)."""

    def __init__(self, ctx: AppContext, parent: QWidget, *,
                 on_signed_out: Callable[[str], None] | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.parent_widget = parent
        self.dialog: TeacherLoginDialog | None = None
        self.session: auth.TeacherSignIn | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)   # tests move the clock
        self._on_signed_out = on_signed_out
        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(IDLE_CHECK_MS)
        self.idle_timer.timeout.connect(self.check)
        ctx.changes.changed.connect(self._on_changed)
        self._follow_teacher()

    def with_teacher(self, action: Callable[[], None]) -> None:
        if self.ctx.teacher is not None and self.check() is None:
            self.touched()
            action()
        else:
            self.sign_in(then=action)

    def touched(self) -> None:
        """The teacher did something: the idle time starts again."""
        if self.session is not None:
            self.session = self.session.touched(self.now())

    @Slot()
    def check(self) -> str | None:
        """Sign the teacher out if the sign-in has ended (profile changed, idle too long); the reason."""
        self._follow_teacher()
        if self.session is None:
            return None
        student = self.ctx.student
        reason = self.session.ended(profile_id=student.id if student else None, now=self.now())
        if reason is not None:
            self.session = None
            self.idle_timer.stop()
            self.ctx.teacher = None
            self.ctx.changes.notify(ChangeKind.USERS)   # teacher windows close, menus change
            if self._on_signed_out is not None:
                self._on_signed_out(reason)
        return reason

    def _follow_teacher(self) -> None:
        """A sign-in starts when ctx.teacher is set (the dialog) and ends when it is cleared (Sign out)."""
        teacher = self.ctx.teacher
        if teacher is None:
            self.session = None
            self.idle_timer.stop()
        elif self.session is None or self.session.teacher.id != teacher.id:
            student = self.ctx.student
            try:
                self.session = auth.TeacherSignIn.start(self.ctx.db, teacher,
                                                        profile_id=student.id if student else None, now=self.now())
            except StorageError:   # the setting unreadable (a busy database): the default idle time
                self.session = auth.TeacherSignIn(teacher=teacher, profile_id=student.id if student else None,
                                                  last_activity=self.now())
            self.idle_timer.start()

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind is ChangeKind.USERS:       # a sign-in, a sign-out, or another profile opened
            self.check()
        elif kind is ChangeKind.REVIEWS and self.ctx.teacher is not None:
            self.touched()                 # a decision in the review queue is teacher activity

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
