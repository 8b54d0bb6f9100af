"""The Adaptation window before the first round, as a new teacher opens it."""
from __future__ import annotations

from app.ui.adaptation.adaptation_view import AdaptationView
from app.ui.context import AppContext
from storage import review


def test_before_the_first_round_the_window_explains_and_counts_the_examples(
        qtbot, data_dir, db, teacher, approved) -> None:
    ctx = AppContext(data_dir=data_dir, db=db, teacher=teacher)
    view = AdaptationView(ctx, None, model_spec=lambda: "default")
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    n = len(review.list_examples(db))
    assert n > 0
    assert view.examples_label.text() == f"Train now would use {n} approved examples."
    assert view.no_versions_label.isVisible() and "No adapter has been trained yet" in view.no_versions_label.text()
    assert f"on the {n} approved examples" in view.no_versions_label.text()
    assert not view.table.isVisible()
    assert not view.progress.isVisible(), "no '0 %' bar before any round"


def test_with_nothing_approved_it_says_where_to_start(qtbot, data_dir, db, teacher) -> None:
    ctx = AppContext(data_dir=data_dir, db=db, teacher=teacher)
    view = AdaptationView(ctx, None, model_spec=lambda: "default")
    qtbot.addWidget(view)
    view.show()
    assert view.examples_label.text() == "Train now would use 0 approved examples."
    assert "Review queue" in view.no_versions_label.text()


def test_esc_closes_the_adaptation_window(qtbot, data_dir, db, teacher) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    ctx = AppContext(data_dir=data_dir, db=db, teacher=teacher)
    view = AdaptationView(ctx, None, model_spec=lambda: "default")
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is view)
    qtbot.keyClick(QApplication.focusWidget() or view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not view.isVisible())
