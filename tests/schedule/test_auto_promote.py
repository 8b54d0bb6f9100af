"""Auto-promotion on a teacher's standing permission, and the candidate waiting for approval."""
from __future__ import annotations

import pytest

from storage import Database, PermissionDenied, audit, auth, users
from storage import schedule as sched

FAST = auth.ScryptParams(n=2**8, r=8, p=1)


@pytest.fixture
def teacher(db: Database) -> users.User:
    return auth.create_teacher(db, None, "Ms Lee", "correct horse battery", params=FAST)


def _register(db: Database, version: int, folder, *, passed: bool = True) -> None:
    """A finished adapter row as the adaptation round writes it (folder present, gate verdict)."""
    path = folder / f"v{version}"
    path.mkdir(parents=True, exist_ok=True)
    with db.transaction() as t:
        t["adapters"].insert({"version": version, "status": "candidate" if passed else "failed",
                              "created_at": "2026-11-28T02:00:00+00:00", "base_model_id": "tiny", "path": str(path),
                              "gate_passed": int(passed), "gate_reason": "" if passed else "held-out loss rose"})


def test_auto_promote_needs_the_teachers_standing_permission(db: Database, teacher: users.User, tmp_path):
    from storage import adapters

    _register(db, 1, tmp_path)
    assert sched.candidate_waiting(db) == 1
    with pytest.raises(PermissionDenied, match="Auto-promote is off"):
        sched.auto_promote_candidate(db, 1)
    sched.save_settings(db, teacher, sched.ScheduleSettings(mode="nightly", auto_promote=True))
    promoted = sched.auto_promote_candidate(db, 1)
    assert promoted.status == "active" and promoted.promoted_by_name == "Ms Lee"
    assert sched.candidate_waiting(db) is None
    assert audit.list_entries(db, teacher, action_prefix="schedule.auto_promote")[0].details == {"allowed_by": "Ms Lee"}
    _register(db, 2, tmp_path, passed=False)
    with pytest.raises(adapters.GateNotPassed):
        sched.auto_promote_candidate(db, 2)
    assert sched.candidate_waiting(db) is None  # a failed candidate does not wait for approval
    assert adapters.active_adapter(db).version == 1
