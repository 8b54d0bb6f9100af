"""The schedule dialog shows the recorded rounds (training_runs) with their results and logs."""
from __future__ import annotations

from app.ui.adaptation.schedule_dialog import open_schedule_dialog
from storage import auth

FAST = auth.ScryptParams(n=2**8, r=8, p=1)


def test_the_schedule_dialog_lists_recorded_rounds(qtbot, open_window, ctx):
    from storage import adapters

    run = adapters.start_run(ctx.db, trigger="schedule", log_path="/logs/adapt-1.log")
    adapters.finish_run(ctx.db, run.id, status="failed", error="out of memory")
    adapters.start_run(ctx.db, trigger="cli")
    ctx.teacher = auth.create_teacher(ctx.db, None, "Ms Lee", "correct horse battery", params=FAST)
    dialog = open_schedule_dialog(ctx, open_window())
    rows = [[dialog.history.item(r, c).text() for c in range(1, 5)] for r in range(dialog.history.rowCount())]
    assert rows == [["cli", "running", "", ""], ["schedule", "failed", "", "out of memory"]]
    assert dialog.history.item(1, 0).toolTip() == "/logs/adapt-1.log"
