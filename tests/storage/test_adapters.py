"""storage.adapters: the teacher-only actions, the gate refusal, rollback, crash recovery of runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storage import Database, PermissionDenied, ValidationError, users
from storage import adapters, schedule
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter


def _register(db: Database, folder: Path, version: int, *, passed: bool = True) -> adapters.AdapterVersion:
    path = write_fake_adapter(folder / f"v{version}", seed=version)
    return adapters.register_adapter(
        db, version=version, base_model_id="tiny", path=str(path), n_examples=3, n_heldout=1, n_replay=2,
        examples_approved_until=None, recipe={"rank": 4}, metrics={"heldout_loss": {"candidate": 1.0}},
        gate={"passed": passed}, gate_passed=passed, gate_reason="All checks passed." if passed else
        "Replay loss rose +6.0% against the base (limit +5%).", run_id=None, train_ids=[], heldout_ids=[])


def test_a_failing_candidate_cannot_be_promoted_and_the_teacher_sees_why(db, teacher: User, tmp_path) -> None:
    _register(db, tmp_path, 1, passed=False)
    assert adapters.get_adapter(db, 1).status == "failed"
    with pytest.raises(adapters.GateNotPassed, match=r"Replay loss rose \+6.0%"):
        adapters.promote(db, teacher, 1)
    assert adapters.active_adapter(db) is None


def test_students_cannot_promote_roll_back_or_edit_must_pass_prompts(db, teacher: User, tmp_path) -> None:
    _register(db, tmp_path, 1)
    student = users.create_user(db, "Sam")
    with pytest.raises(PermissionDenied):
        adapters.promote(db, student, 1)
    # a hand-made User claiming to be a teacher is re-read from the database
    with pytest.raises(PermissionDenied):
        adapters.promote(db, User(student.id, student.name, "teacher", "", student.created_at), 1)
    with pytest.raises(PermissionDenied):
        adapters.rollback(db, student)
    with pytest.raises(PermissionDenied):
        adapters.use_base(db, student)
    with pytest.raises(PermissionDenied):
        adapters.add_must_pass(db, student, "Who?", must_match=["x"])
    assert adapters.active_adapter(db) is None


def test_promote_retires_the_previous_one_and_rollback_goes_back(db, teacher: User, tmp_path) -> None:
    for v in (1, 2, 3):
        _register(db, tmp_path, v)
    adapters.promote(db, teacher, 1)
    adapters.promote(db, teacher, 2)
    assert [(a.version, a.status) for a in adapters.list_adapters(db)] == [(3, "candidate"), (2, "active"), (1, "retired")]
    back = adapters.rollback(db, teacher)               # to the one active before
    assert back is not None and back.version == 1
    assert adapters.get_adapter(db, 2).status == "retired"
    adapters.promote(db, teacher, 3)
    assert adapters.rollback(db, teacher, 2).version == 2   # any earlier version
    with pytest.raises(ValidationError, match="newer"):
        adapters.rollback(db, teacher, 3)
    adapters.use_base(db, teacher)
    assert adapters.active_adapter(db) is None
    actions = [r["action"] for r in db.query("SELECT action FROM audit_log WHERE action LIKE 'adapters.%'")]
    assert actions.count("adapters.promote") >= 4 and "adapters.use_base" in actions


def test_rollback_with_nothing_earlier_falls_back_to_the_base_model(db, teacher: User, tmp_path) -> None:
    _register(db, tmp_path, 1)
    adapters.promote(db, teacher, 1)
    assert adapters.rollback(db, teacher) is None
    assert adapters.active_adapter(db) is None


def test_the_database_refuses_two_active_adapters(db, teacher: User, tmp_path) -> None:
    _register(db, tmp_path, 1)
    _register(db, tmp_path, 2)
    adapters.promote(db, teacher, 1)
    with pytest.raises(Exception, match="UNIQUE"):
        with db.transaction() as t:
            t.execute("UPDATE adapters SET status = 'active' WHERE version = 2")


def test_a_version_whose_folder_is_gone_cannot_be_promoted(db, teacher: User, tmp_path) -> None:
    _register(db, tmp_path, 1)
    adapters.mark_folder_deleted(db, 1)
    with pytest.raises(Exception, match="folder is gone"):
        adapters.promote(db, teacher, 1)


def test_a_run_whose_process_died_is_recovered_as_failed(db) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = adapters.start_run(db, trigger="manual", pid=dead.pid, log_path="/tmp/x.log")
    mine = adapters.start_run(db, trigger="cli")  # this process: alive
    recovered = adapters.recover_stale_runs(db)
    assert [r.id for r in recovered] == [run.id]
    again = adapters.get_run(db, run.id)
    assert again.status == "failed" and "ended without finishing" in (again.error or "")
    assert adapters.get_run(db, mine.id).status == "running"


def test_must_pass_prompts_validate_their_patterns(db, teacher: User) -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        adapters.add_must_pass(db, teacher, "Who?", must_match=["(unclosed"])
    with pytest.raises(ValidationError, match="at least one pattern"):
        adapters.add_must_pass(db, teacher, "Who?")
    item = adapters.add_must_pass(db, teacher, "Who is the head?", must_match=["Quarrington"], must_not_match=["I don't"])
    edited = adapters.update_must_pass(db, teacher, item.id, prompt="Who leads the school?", must_match=["Quarrington"])
    assert edited.prompt == "Who leads the school?" and edited.must_not_match == ()
    adapters.delete_must_pass(db, teacher, item.id)
    assert adapters.list_must_pass(db) == []


def test_prune_keeps_the_newest_versions_and_never_the_active_one(db, teacher: User, data_dir) -> None:
    from learner.adapt.registry import AdapterRegistry

    for v in range(1, 8):
        _register(db, data_dir.adapters_dir, v)
    adapters.promote(db, teacher, 1)                        # the oldest is the one students use
    lock = schedule.acquire_round_lock(db, trigger="cli")    # only a round prunes
    pruned = AdapterRegistry(data_dir, db).prune(keep=3)
    schedule.release_round_lock(db, lock.holder)
    assert sorted(pruned) == [2, 3, 4]
    assert sorted(p.name for p in data_dir.adapters_dir.iterdir()) == ["v1", "v5", "v6", "v7"]
    assert adapters.get_adapter(db, 2).deleted_at is not None and adapters.get_adapter(db, 2).metrics  # history stays
    with pytest.raises(FileNotFoundError, match="only the last versions are kept"):
        AdapterRegistry(data_dir, db).path_of(2)


def test_sweep_removes_dead_partials_and_unregistered_folders_but_not_live_ones(db, data_dir) -> None:
    import json
    import os

    from learner.adapt.registry import AdapterRegistry
    from storage.adapter_files import OWNER_FILE

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crashed = adapters.start_run(db, trigger="cli", pid=dead.pid)
    ours = {"database_id": adapters.database_id(db), "run_id": crashed.id}
    for name, version in ((f".partial-v3-{dead.pid}", 3), (f".partial-v4-{os.getpid()}", 4), ("v9", 9)):
        (data_dir.adapters_dir / name).mkdir()       # v4: ours, still being written; v9: renamed, never registered
        (data_dir.adapters_dir / name / OWNER_FILE).write_text(json.dumps({**ours, "version": version}))
    registry = AdapterRegistry(data_dir, db)
    assert registry.next_version() == 10                               # never reuses a folder's number
    lock = schedule.acquire_round_lock(db, trigger="cli")              # only a round sweeps folders
    sweep = registry.sweep()
    schedule.release_round_lock(db, lock.holder)
    assert sorted(sweep.partials_removed) == sorted([f".partial-v3-{dead.pid}", "v9"])
    assert [p.name for p in data_dir.adapters_dir.iterdir()] == [f".partial-v4-{os.getpid()}"]
