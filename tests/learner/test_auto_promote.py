"""Auto-promotion on a teacher's standing permission, and the candidate waiting for approval."""
from __future__ import annotations

import pytest

from storage import Database, PermissionDenied, audit, auth, users
from storage import schedule
from tests.storage.fake_adapter import write_fake_adapter

FAST = auth.ScryptParams(n=2**8, r=8, p=1)


@pytest.fixture
def teacher(db: Database) -> users.User:
    return auth.create_teacher(db, None, "Ms Lee", "correct horse battery", params=FAST)


def _register(db: Database, version: int, folder, *, passed: bool = True) -> None:
    """A finished adapter row as the adaptation round writes it (folder present, gate verdict)."""
    from storage import adapters

    path = write_fake_adapter(folder / f"v{version}", seed=version)
    adapters.register_adapter(db, version=version, base_model_id="tiny", path=str(path), n_examples=1, n_heldout=0,
                              n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate={},
                              gate_passed=passed, gate_reason="" if passed else "held-out loss rose", run_id=None,
                              train_ids=[], heldout_ids=[])


def test_auto_promote_needs_the_teachers_standing_permission(db: Database, teacher: users.User, tmp_path):
    from storage import adapters

    _register(db, 1, tmp_path)
    assert schedule.candidate_waiting(db) == 1
    with pytest.raises(PermissionDenied, match="Auto-promote is off"):
        schedule.auto_promote_candidate(db, 1)
    schedule.save_settings(db, teacher, schedule.ScheduleSettings(mode="nightly", auto_promote=True))
    promoted = schedule.auto_promote_candidate(db, 1)
    assert promoted.status == "active" and promoted.promoted_by_name == "Ms Lee"
    assert schedule.candidate_waiting(db) is None
    assert audit.list_entries(db, teacher, action_prefix="schedule.auto_promote")[0].details == {"allowed_by": "Ms Lee"}
    _register(db, 2, tmp_path, passed=False)
    with pytest.raises(adapters.GateNotPassed):
        schedule.auto_promote_candidate(db, 2)
    assert schedule.candidate_waiting(db) is None  # a failed candidate does not wait for approval
    assert adapters.active_adapter(db).version == 1
