"""run_with_lock: the decision under the lock, the record of every round, failures and backoff,
cancel, refusal while another round runs, and auto-promotion only when allowed and passed."""
from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from learner import scheduled_round as sr
from storage import Database, DataDir, auth
from storage import schedule

FAST = auth.ScryptParams(n=2**8, r=8, p=1)
T0 = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.rounds = 0

    def emit(self, event: dict) -> None:
        self.events.append(event)

    def last(self, name: str) -> dict:
        return [e for e in self.events if e.get("event") == name][-1]


def succeed(version: int = 4, passed: bool = True):
    def start_round(cancel: threading.Event) -> sr.RoundOutcome:
        return sr.RoundOutcome(version=version, gate_passed=passed)
    return start_round


def fail(cancel: threading.Event) -> None:
    raise RuntimeError("the model ran out of memory")


@pytest.fixture
def nightly(db: Database) -> schedule.ScheduleSettings:
    teacher = auth.create_teacher(db, None, "Ms Lee", "correct horse battery", params=FAST)
    return schedule.save_settings(db, teacher, schedule.ScheduleSettings(mode="nightly", time_of_day="02:00",
                                                                  min_new_examples=0, idle_minutes=0))


def run(data_dir: DataDir, start_round, *, now: datetime = T0, if_due: bool = True, **kwargs) -> tuple[int, Recorder]:
    rec = Recorder()
    code = sr.run_with_lock(data_dir, trigger="schedule" if if_due else "cli", start_round=start_round,
                            if_due=if_due, emit=rec.emit, clock=lambda: now, **kwargs)
    return code, rec


def test_not_due_says_why_and_runs_nothing(data_dir: DataDir, db: Database):
    code, rec = run(data_dir, succeed())
    assert code == sr.EXIT_OK
    assert rec.last("decision")["due"] is False and "off" in rec.last("decision")["reason"]
    assert not [e for e in rec.events if e["event"] == "started"]
    assert schedule.get_state(db).last_decision_reason == rec.last("decision")["reason"]
    assert schedule.current_round_lock(db) is None


def test_a_due_round_runs_once_and_is_recorded(data_dir: DataDir, db: Database, nightly):
    code, rec = run(data_dir, succeed(version=7))
    assert code == sr.EXIT_OK and rec.last("decision")["due"]
    assert rec.last("finished")["version"] == 7
    state = schedule.get_state(db)
    assert (state.last_round_result, state.last_round_trigger, state.last_round_version) == ("succeeded", "schedule", 7)
    assert Path(state.last_round_log).exists()
    # The same slot again: not due any more (missed slots run once).
    code, rec = run(data_dir, succeed(), now=T0 + timedelta(hours=1))
    assert rec.last("decision")["due"] is False and "Not due" in rec.last("decision")["reason"]
    assert schedule.current_round_lock(db) is None


def test_a_failure_is_recorded_with_its_log_and_backs_off(data_dir: DataDir, db: Database, nightly):
    code, rec = run(data_dir, fail)
    assert code == sr.EXIT_FAILED
    failed = rec.last("failed")
    assert "out of memory" in failed["reason"] and failed["consecutive_failures"] == 1
    assert "out of memory" in Path(failed["log"]).read_text(encoding="utf-8")
    code, rec = run(data_dir, succeed(), now=T0 + timedelta(minutes=10))
    assert "Backing off" in rec.last("decision")["reason"] and failed["log"] in rec.last("decision")["reason"]
    code, rec = run(data_dir, succeed(), now=T0 + timedelta(minutes=31))
    assert rec.last("decision")["due"] and rec.last("finished")
    assert schedule.get_state(db).consecutive_failures == 0


def test_a_manual_run_refuses_clearly_while_another_round_holds_the_lock(data_dir: DataDir, db: Database, nightly):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        schedule.acquire_round_lock(db, trigger="schedule", pid=sleeper.pid)
        code, rec = run(data_dir, succeed(), if_due=False)
        assert code == sr.EXIT_BUSY
        assert f"process {sleeper.pid}" in rec.last("busy")["reason"]
        code, rec = run(data_dir, succeed(), if_due=True)  # cron: not an error, just not now
        assert code == sr.EXIT_OK and "Not running" in rec.last("busy")["reason"]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert schedule.get_state(db).last_round_result is None  # nothing ran


def test_cancel_is_recorded_and_fills_the_slot(data_dir: DataDir, db: Database, nightly):
    cancel = threading.Event()

    def cancelled_midway(event: threading.Event) -> None:
        event.set()  # what SIGTERM (the app's Cancel) does
        return None

    code, rec = run(data_dir, cancelled_midway, cancel=cancel)
    assert code == sr.EXIT_CANCELLED and rec.last("cancelled")
    state = schedule.get_state(db)
    assert state.last_round_result == "cancelled" and state.consecutive_failures == 0
    code, rec = run(data_dir, succeed(), now=T0 + timedelta(minutes=5))
    assert rec.last("decision")["due"] is False


def test_a_round_that_died_is_closed_as_failed_by_the_next_one(data_dir: DataDir, db: Database, nightly):
    schedule.record_round_started(db, trigger="schedule", started_at=T0 - timedelta(hours=1), log_path="/logs/dead.log")
    code, rec = run(data_dir, succeed())
    assert "Backing off" in rec.last("decision")["reason"]
    state = schedule.get_state(db)
    assert state.consecutive_failures == 1 and "interrupted" in state.last_failure_message
    assert state.last_failure_log == "/logs/dead.log"


@pytest.mark.parametrize(("allowed", "passed", "promoted"), [(False, True, False), (True, False, False),
                                                            (True, True, True)])
def test_auto_promote_only_when_allowed_and_the_gate_passed(data_dir: DataDir, db: Database, nightly,
                                                            allowed, passed, promoted):
    teacher = auth.authenticate(db, "Ms Lee", "correct horse battery")
    schedule.save_settings(db, teacher, replace(nightly, auto_promote=allowed))
    calls: list[int] = []
    code, rec = run(data_dir, succeed(version=5, passed=passed), auto_promote=calls.append)
    assert code == sr.EXIT_OK
    assert calls == ([5] if promoted else [])
    assert rec.last("finished")["promoted"] is promoted


def test_the_heartbeat_renews_the_lease_while_the_round_runs(data_dir: DataDir, db: Database, nightly):
    seen: list[schedule.RoundLock] = []

    def slow_round(cancel: threading.Event) -> sr.RoundOutcome:
        watcher = Database(data_dir.db_path)
        try:
            first = schedule.current_round_lock(watcher)
            # Wait (on an Event, not a sleep loop) until a heartbeat moved the lease.
            for _ in range(100):
                cancel.wait(0.05)
                now_lock = schedule.current_round_lock(watcher)
                if now_lock.heartbeat_at > first.heartbeat_at:
                    seen.extend([first, now_lock])
                    break
        finally:
            watcher.close()
        return sr.RoundOutcome(version=1, gate_passed=True)

    code, _ = run(data_dir, slow_round, lease_s=0.4, now=datetime.now(timezone.utc))
    assert code == sr.EXIT_OK
    assert seen and seen[1].lease_until > seen[0].lease_until
