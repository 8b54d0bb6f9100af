"""Schedule settings (teacher-only, validated, audited), the scheduler's memory, and the round lock
in one process. Races between real processes are in test_lock_processes.py."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from storage import Database, PermissionDenied, ValidationError, audit, auth, chat, users
from storage import schedule

FAST = auth.ScryptParams(n=2**8, r=8, p=1)


@pytest.fixture
def teacher(db: Database) -> users.User:
    return auth.create_teacher(db, None, "Ms Lee", "correct horse battery", params=FAST)


def test_defaults_are_off_with_threshold_20_and_no_auto_promote(db: Database):
    settings = schedule.get_settings(db)
    assert (settings.mode, settings.min_new_examples, settings.auto_promote) == ("off", 20, False)


def test_a_teacher_saves_settings_and_it_is_audited(db: Database, teacher: users.User):
    wanted = schedule.ScheduleSettings(mode="nightly", time_of_day="03:30", min_new_examples=5, idle_minutes=20)
    saved = schedule.save_settings(db, teacher, wanted)
    assert saved.updated_by_name == "Ms Lee"
    again = schedule.get_settings(db)
    assert (again.mode, again.time_of_day, again.min_new_examples, again.idle_minutes) == ("nightly", "03:30", 5, 20)
    entry = audit.list_entries(db, teacher, action_prefix="schedule.")[0]
    assert entry.details == {"mode": "nightly", "time_of_day": "03:30", "min_new_examples": 5, "idle_minutes": 20}


def test_a_student_cannot_change_the_schedule_even_with_a_forged_role(db: Database):
    student = users.create_user(db, "Ana", grade="7")
    forged = replace(student, role="teacher")  # a hand-made User object claiming to be a teacher
    for actor in (None, student, forged):
        with pytest.raises(PermissionDenied):
            schedule.save_settings(db, actor, schedule.ScheduleSettings(mode="nightly"))
    assert schedule.get_settings(db).mode == "off"


@pytest.mark.parametrize(("field", "value", "words"), [
    ("mode", "weekly", "Schedule mode"), ("time_of_day", "24:00", "HH:MM"), ("time_of_day", "7:30", "HH:MM"),
    ("every_hours", 0, "every_hours"), ("every_hours", 169, "every_hours"),
    ("min_new_examples", -1, "min_new_examples"), ("idle_minutes", 1441, "idle_minutes"),
    ("idle_minutes", True, "idle_minutes"), ("auto_promote", "yes", "auto_promote"),
])
def test_invalid_settings_are_refused_with_a_message_naming_the_field(field, value, words):
    with pytest.raises(ValidationError, match=words):
        schedule.ScheduleSettings(**{field: value})


def test_round_results_drive_failures_and_the_new_examples_cutoff(db: Database):
    t0 = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
    schedule.record_round_started(db, trigger="schedule", started_at=t0)
    assert schedule.get_state(db).last_round_result == "running"
    state = schedule.record_round_finished(db, trigger="schedule", started_at=t0, finished_at=t0 + timedelta(minutes=5),
                                        result="failed", message="out of memory", log_path="/tmp/r.log")
    assert (state.consecutive_failures, state.last_failure_log, state.slot_filled_at) == (1, "/tmp/r.log", None)
    state = schedule.record_round_finished(db, trigger="cli", started_at=t0, finished_at=t0, result="failed")
    assert state.consecutive_failures == 2
    state = schedule.record_round_finished(db, trigger="manual", started_at=t0 + timedelta(hours=1),
                                        finished_at=t0 + timedelta(hours=2), result="succeeded", version=3)
    assert state.consecutive_failures == 0
    assert state.last_success_started_at == state.slot_filled_at == t0 + timedelta(hours=1)
    assert state.last_round_version == 3
    t1 = t0 + timedelta(days=1)
    state = schedule.record_round_finished(db, trigger="schedule", started_at=t1, finished_at=t1, result="cancelled")
    assert state.slot_filled_at == t1 and state.last_success_started_at == t0 + timedelta(hours=1)


def test_new_examples_are_counted_after_the_cutoff(db: Database):
    def add(uid: str, approved_at: str, status: str = "approved") -> None:
        with db.transaction() as t:
            t["training_examples"].insert({
                "uid": uid, "prompt_json": "[]", "completion": "c", "approved_by_name": "T", "approved_at": approved_at,
                "source": "import", "content_sha256": uid, "created_at": approved_at, "status": status})
    add("a", "2026-11-27T10:00:00+00:00")
    add("b", "2026-11-28T10:00:00+00:00")
    add("c", "2026-11-28T11:00:00+00:00", status="retracted")
    assert schedule.count_new_examples(db, None) == 2
    assert schedule.count_new_examples(db, datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc)) == 1


def test_last_activity_is_the_latest_of_messages_and_the_apps_mark(db: Database):
    assert schedule.last_activity(db) is None
    student = users.create_user(db, "Ana")
    session = chat.create_session(db, student.id)
    chat.add_message(db, session.id, "user", "hello")
    message_time = schedule.last_activity(db)
    assert message_time is not None
    later = message_time + timedelta(minutes=3)
    schedule.record_activity(db, at=later)
    assert schedule.last_activity(db) == later


# -- the lock, one process -----------------------------------------------------------------------

def test_acquire_renew_release(db: Database):
    lock = schedule.acquire_round_lock(db, trigger="cli", lease_s=60, log_path="/tmp/x.log")
    assert schedule.current_round_lock(db) == lock
    with pytest.raises(schedule.RoundLockBusy, match="Another adaptation round is running") as busy:
        schedule.acquire_round_lock(db, trigger="schedule")
    assert busy.value.lock.pid == os.getpid()
    later = lock.heartbeat_at + timedelta(seconds=30)
    renewed = schedule.renew_round_lock(db, lock.holder, lease_s=60, now=later)
    assert renewed.lease_until == later + timedelta(seconds=60)
    assert schedule.release_round_lock(db, lock.holder)
    assert schedule.current_round_lock(db) is None
    assert not schedule.release_round_lock(db, lock.holder)
    with pytest.raises(schedule.RoundLockLost):
        schedule.renew_round_lock(db, lock.holder)


def test_a_live_holder_on_this_host_keeps_its_lock_past_the_lease(db: Database):
    """A round suspended while a student chats stops heartbeating; it must not lose its lock."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = schedule.acquire_round_lock(db, trigger="schedule", pid=sleeper.pid, lease_s=1)
        much_later = lock.lease_until + timedelta(hours=2)
        with pytest.raises(schedule.RoundLockBusy):
            schedule.acquire_round_lock(db, trigger="cli", now=much_later)
    finally:
        sleeper.kill()
        sleeper.wait()
    # Now the holder is gone: the lock is stale at once, lease or not.
    taken = schedule.acquire_round_lock(db, trigger="cli")
    assert taken.pid == os.getpid()
    assert audit.list_entries(db, auth.create_teacher(db, None, "T", "correct horse battery", params=FAST),
                              action_prefix="adapt.lock_recovered")


def test_a_lock_from_another_host_is_recovered_only_after_its_lease(db: Database):
    now = datetime.now(timezone.utc)
    with db.transaction() as t:
        t["round_lock"].insert({"id": 1, "holder": "other", "trigger": "schedule", "pid": 1, "pid_started": None,
                                "host": "another-machine", "acquired_at": now.isoformat(),
                                "lease_until": (now + timedelta(minutes=5)).isoformat(),
                                "heartbeat_at": now.isoformat()})
    with pytest.raises(schedule.RoundLockBusy, match="another-machine"):
        schedule.acquire_round_lock(db, trigger="cli", now=now + timedelta(minutes=4))
    lock = schedule.acquire_round_lock(db, trigger="cli", now=now + timedelta(minutes=5, seconds=1))
    assert lock.host == schedule.this_host()


def test_a_reused_pid_does_not_keep_a_dead_holders_lock(db: Database):
    # Our own pid, but with a start time that is not ours: the holder was another process.
    lock = schedule.acquire_round_lock(db, trigger="cli")
    with db.transaction() as t:
        t.execute("UPDATE round_lock SET pid_started = pid_started - 1000")
    fresh = schedule.acquire_round_lock(db, trigger="schedule")
    assert fresh.holder != lock.holder
