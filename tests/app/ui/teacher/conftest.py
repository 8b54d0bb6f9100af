"""The review pane as the teacher opens it: real widgets offscreen, a real SQLite file."""
from __future__ import annotations

import pytest

from app.ui.context import AppContext
from app.ui.teacher.review_view import ReviewView
from storage import Database
from tests.support.classroom import Classroom


@pytest.fixture
def view(qtbot, data_dir, db: Database, classroom: Classroom) -> ReviewView:
    ctx = AppContext(data_dir=data_dir, db=db, teacher=classroom.teacher)
    widget = ReviewView(ctx)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    widget.list.setFocus()
    return widget
