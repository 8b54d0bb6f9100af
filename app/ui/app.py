"""Opening the window: data folder, database, profile, then the main window with the model loading
in the background. A database that cannot be opened is explained in a message box, not a traceback."""
from __future__ import annotations

import sys

import shiboken6
from PySide6.QtWidgets import QApplication, QMessageBox

import app.ui.qt_compat  # noqa: F401  - before any Qt use; see the module
from app.ui.qt_compat import collect_garbage_on_the_gui_thread
from app.ui.context import AppContext
from app.ui.errors import install_excepthook, setup_logging
from app.ui.features import FeatureFactory
from app.ui.system_libs import check_xcb
from storage import Database, StorageError, chat
from storage.paths import resolve_data_dir

APP_NAME = "tutorloop"


def window_features() -> tuple[FeatureFactory, ...]:
    """The features the main window is built with, in menu order."""
    from app.ui.adaptation.adaptation_view import AdaptationActions
    from app.ui.adaptation.scheduler import AdaptationSchedule
    from app.ui.classroom.class_actions import ClassroomActions
    from app.ui.practice.practice_view import PracticeController
    from app.ui.teacher.teacher_actions import TeacherActions

    return (TeacherActions, AdaptationActions, AdaptationSchedule, PracticeController, ClassroomActions)


def open_context(data_dir: str | None) -> AppContext | None:
    """The data folder and its database, with interrupted replies recovered; None (after telling
    the user why) when the database cannot be used."""
    folder = resolve_data_dir(data_dir)
    try:
        folder.ensure()
    except StorageError as exc:   # storage.paths says what is in the way and what to do
        QMessageBox.critical(None, "tutorloop cannot start",
                             f"The data folder {folder.root} cannot be created.\n\n{exc}")
        return None
    try:
        db = Database(folder.db_path)
    except StorageError as exc:
        QMessageBox.critical(None, "tutorloop cannot open its database", str(exc))
        return None
    try:
        chat.recover_interrupted(db)
    except StorageError as exc:
        db.close()
        QMessageBox.critical(None, "tutorloop cannot open its database", str(exc))
        return None
    return AppContext(data_dir=folder, db=db)


def run_gui(data_dir: str | None = None) -> int:
    problem = check_xcb() if QApplication.instance() is None else None
    if problem:   # Qt would abort with "could not load the Qt platform plugin xcb" and no more
        print(problem, file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    gc_on_gui_thread = collect_garbage_on_the_gui_thread()  # noqa: F841 - lives as long as run_gui
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    ctx = open_context(data_dir)
    if ctx is None:
        return 1
    setup_logging(ctx.data_dir.logs_dir)
    install_excepthook()
    # Imported after the database opened: the window pulls in the learner (torch), which takes
    # seconds, and a broken database should be reported without that wait.
    from app.ui.main_window import MainWindow
    from app.ui.chat.profile_dialog import choose_profile

    window: MainWindow | None = None
    try:
        student = choose_profile(ctx.db)
        if student is None:
            return 0
        ctx.student = student
        window = MainWindow(ctx, features=window_features())
        window.show()
        window.start_model()
        status = app.exec()
        window.shutdown()  # quitting without closing the window (e.g. a signal) still stops the thread
        return status
    finally:
        if window is not None:
            # Delete the window and everything it installed (timers, application event filters)
            # now, while the database they use is still open, not whenever Python collects it.
            shiboken6.delete(window)
        ctx.db.close()
