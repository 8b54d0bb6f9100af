"""Scheduled adaptation, storage side: the teacher's schedule settings, the round lock with a lease,
and the scheduler's memory of past rounds (failures for the backoff, activity for "idle").

The lock is what makes "never two trainings at once" true across the app, the CLI and OS
schedulers: it is one row, taken inside BEGIN IMMEDIATE (so two processes cannot both see it free),
renewed by a heartbeat, and recovered when stale. On this host a lock is stale only when its
process is gone (a suspended training — paused while a student chats — keeps its lock however long
the pause); a lock from another host is stale when its lease has run out.

The decision "is a round due?" is a pure function in learner.schedule; this module only stores.
"""
from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from storage import audit
from storage.users import User
from storage.db import Database
from storage.errors import StorageError, ValidationError

ScheduleMode = Literal["off", "nightly", "every_n_hours"]
Trigger = Literal["manual", "schedule", "cli"]
RoundResult = Literal["running", "succeeded", "failed", "cancelled"]
MODES: tuple[ScheduleMode, ...] = ("off", "nightly", "every_n_hours")
TRIGGERS: tuple[Trigger, ...] = ("manual", "schedule", "cli")

# A holder renews its lease every LEASE_S / 4; five minutes is long enough that a busy disk or a
# slow step never loses the lock, short enough that a crashed round on another host frees it soon.
DEFAULT_LEASE_S = 300.0
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class RoundLockBusy(StorageError):
    """Another round holds the lock; `lock` says who, where and since when."""

    def __init__(self, message: str, *, lock: RoundLock) -> None:
        super().__init__(message)
        self.lock = lock


class RoundLockLost(StorageError):
    """The holder's lock was taken over (it was judged stale) or released by someone else."""


# -- settings ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSettings:
    mode: ScheduleMode = "off"
    time_of_day: str = "02:00"          # nightly: local time, HH:MM (24 h)
    every_hours: int = 24               # every_n_hours: the interval
    min_new_examples: int = 20          # a round needs at least this many newly approved examples
    idle_minutes: int = 10              # ... and the app idle this long (0 = don't wait)
    auto_promote: bool = False          # a candidate that passed the gate goes live without a teacher
    updated_by_name: str | None = None
    updated_at: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValidationError(f"Schedule mode must be one of {', '.join(MODES)}; got {self.mode!r}.")
        if not isinstance(self.time_of_day, str) or not _TIME_OF_DAY.match(self.time_of_day):
            raise ValidationError(f"The time of day must be HH:MM between 00:00 and 23:59; got {self.time_of_day!r}.")
        _check_int("every_hours", self.every_hours, 1, 168, "Every N hours")
        _check_int("min_new_examples", self.min_new_examples, 0, 100_000, "The minimum of new examples")
        _check_int("idle_minutes", self.idle_minutes, 0, 1440, "The idle time in minutes")
        if not isinstance(self.auto_promote, bool):
            raise ValidationError(f"auto_promote must be true or false; got {self.auto_promote!r}.")

    @property
    def hour_minute(self) -> tuple[int, int]:
        hours, minutes = self.time_of_day.split(":")
        return int(hours), int(minutes)

    def describe(self) -> str:
        """One line for the teacher: "nightly at 02:00, ≥ 20 new examples, after 10 idle minutes"."""
        if self.mode == "off":
            return "off (rounds run only when a teacher starts one)"
        when = f"nightly at {self.time_of_day}" if self.mode == "nightly" else f"every {self.every_hours} h"
        parts = [when, f"≥ {self.min_new_examples} new approved examples"]
        if self.idle_minutes:
            parts.append(f"after {self.idle_minutes} idle minutes")
        parts.append("auto-promote" if self.auto_promote else "a teacher promotes")
        return ", ".join(parts)


def _check_int(field: str, value: object, low: int, high: int, label: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{label} ({field}) must be a whole number from {low} to {high}; got {value!r}.")


def get_settings(db: Database) -> ScheduleSettings:
    row = db.query("SELECT * FROM schedule_settings WHERE id = 1")[0]
    return ScheduleSettings(
        mode=row["mode"], time_of_day=row["time_of_day"], every_hours=row["every_hours"],
        min_new_examples=row["min_new_examples"], idle_minutes=row["idle_minutes"],
        auto_promote=bool(row["auto_promote"]), updated_by_name=row["updated_by_name"], updated_at=row["updated_at"],
    )


def save_settings(db: Database, actor: User | None, settings: ScheduleSettings) -> ScheduleSettings:
    """Store a new schedule: a teacher action (checked here, against the database), audited."""
    from storage.auth import require_teacher  # auth imports chat; keep this module light to import

    teacher = require_teacher(actor, db)
    now = _iso(_utcnow())
    before = get_settings(db)
    with db.transaction() as t:
        t["schedule_settings"].update(1, {
            "mode": settings.mode, "time_of_day": settings.time_of_day, "every_hours": settings.every_hours,
            "min_new_examples": settings.min_new_examples, "idle_minutes": settings.idle_minutes,
            "auto_promote": int(settings.auto_promote), "updated_by": teacher.id, "updated_by_name": teacher.name,
            "updated_at": now,
        })
        changed = {name: getattr(settings, name) for name in _SETTING_FIELDS
                   if getattr(settings, name) != getattr(before, name)}
        audit.record(db, teacher, "schedule.update", target="schedule", details=changed)
    return replace(settings, updated_by_name=teacher.name, updated_at=now)


_SETTING_FIELDS = ("mode", "time_of_day", "every_hours", "min_new_examples", "idle_minutes", "auto_promote")


def auto_promote_candidate(db: Database, version: int):  # -> storage.adapters.AdapterVersion
    """Promote `version` without a teacher at the screen, on the standing permission of the teacher
    who turned auto-promote on (their account must still be a teacher's). The same checks as a
    teacher's promote apply: a candidate that failed its gate is refused."""
    from storage import adapters
    from storage.users import require_teacher
    from storage.users import get_user
    from storage.errors import NotFoundError, PermissionDenied

    settings = get_settings(db)
    if not settings.auto_promote:
        raise PermissionDenied("Auto-promote is off: a teacher must promote this candidate.")
    row = db.query("SELECT updated_by FROM schedule_settings WHERE id = 1")[0]
    try:
        teacher = require_teacher(get_user(db, row["updated_by"]) if row["updated_by"] else None, db)
    except NotFoundError as exc:
        raise PermissionDenied("The teacher who allowed auto-promote no longer exists; a teacher must "
                               "promote this candidate (and can allow auto-promote again).") from exc
    with db.transaction():
        promoted = adapters.promote(db, teacher, version)
        audit.record(db, None, "schedule.auto_promote", target=f"v{version}",
                     details={"allowed_by": teacher.name})
    return promoted


def candidate_waiting(db: Database) -> int | None:
    """The newest candidate that passed its gate and is newer than the active version: what the
    "waiting for approval" badge shows. None when there is none."""
    rows = db.query("SELECT version FROM adapters WHERE status = 'candidate' AND gate_passed = 1 "
                    "AND deleted_at IS NULL AND version > COALESCE((SELECT version FROM adapters "
                    "WHERE status = 'active'), 0) ORDER BY version DESC LIMIT 1")
    return rows[0]["version"] if rows else None


# -- the scheduler's memory ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleState:
    consecutive_failures: int
    last_failure_at: datetime | None
    last_failure_message: str | None
    last_failure_log: str | None
    last_round_trigger: Trigger | None
    last_round_started_at: datetime | None
    last_round_finished_at: datetime | None
    last_round_result: RoundResult | None
    last_round_version: int | None
    last_round_log: str | None
    last_success_started_at: datetime | None
    slot_filled_at: datetime | None
    app_activity_at: datetime | None
    last_decision_at: datetime | None
    last_decision_reason: str | None


def get_state(db: Database) -> ScheduleState:
    row = db.query("SELECT * FROM schedule_state WHERE id = 1")[0]
    return ScheduleState(
        consecutive_failures=row["consecutive_failures"], last_failure_at=_parse(row["last_failure_at"]),
        last_failure_message=row["last_failure_message"], last_failure_log=row["last_failure_log"],
        last_round_trigger=row["last_round_trigger"], last_round_started_at=_parse(row["last_round_started_at"]),
        last_round_finished_at=_parse(row["last_round_finished_at"]), last_round_result=row["last_round_result"],
        last_round_version=row["last_round_version"], last_round_log=row["last_round_log"],
        last_success_started_at=_parse(row["last_success_started_at"]),
        slot_filled_at=_parse(row["slot_filled_at"]),
        app_activity_at=_parse(row["app_activity_at"]), last_decision_at=_parse(row["last_decision_at"]),
        last_decision_reason=row["last_decision_reason"],
    )


def record_round_started(db: Database, *, trigger: Trigger, started_at: datetime, log_path: str | None = None) -> None:
    _check_trigger(trigger)
    with db.transaction() as t:
        t["schedule_state"].update(1, {"last_round_trigger": trigger, "last_round_started_at": _iso(started_at),
                                       "last_round_finished_at": None, "last_round_result": "running",
                                       "last_round_version": None, "last_round_log": log_path})


def record_round_finished(db: Database, *, trigger: Trigger, started_at: datetime, finished_at: datetime,
                          result: Literal["succeeded", "failed", "cancelled"], version: int | None = None,
                          message: str | None = None, log_path: str | None = None) -> ScheduleState:
    """A success resets the failure count and moves the "new examples" cut-off to this round's start
    (examples approved while it ran were not in it); a failure counts towards the backoff and leaves
    the schedule's slot owed (the backoff paces the retries); a cancel (a teacher's choice) fills the
    slot, so the scheduler does not start the cancelled round again at once."""
    _check_trigger(trigger)
    if result not in ("succeeded", "failed", "cancelled"):
        raise ValidationError(f"Unknown round result {result!r}.")
    values: dict[str, object] = {"last_round_trigger": trigger, "last_round_started_at": _iso(started_at),
                                 "last_round_finished_at": _iso(finished_at), "last_round_result": result,
                                 "last_round_version": version, "last_round_log": log_path}
    with db.transaction() as t:
        if result == "succeeded":
            values.update(consecutive_failures=0, last_success_started_at=_iso(started_at),
                          slot_filled_at=_iso(started_at))
        elif result == "cancelled":
            values.update(slot_filled_at=_iso(started_at))
        elif result == "failed":
            failures = t.execute("SELECT consecutive_failures FROM schedule_state WHERE id = 1").fetchone()[0]
            values.update(consecutive_failures=failures + 1, last_failure_at=_iso(finished_at),
                          last_failure_message=(message or "The round failed.")[:2000], last_failure_log=log_path)
        t["schedule_state"].update(1, values)
        audit.record(db, None, f"adapt.round_{result}", target=f"trigger:{trigger}",
                     details={"version": version, "log": log_path, "message": message})
    return get_state(db)


def record_decision(db: Database, *, at: datetime, reason: str) -> None:
    """What the scheduler last decided and why, so the teacher can see it (and --if-due's log)."""
    with db.transaction() as t:
        t["schedule_state"].update(1, {"last_decision_at": _iso(at), "last_decision_reason": reason[:500]})


def record_activity(db: Database, *, at: datetime | None = None) -> None:
    """The app calls this when a student does something (throttle the calls: a minute's precision is plenty)."""
    with db.transaction() as t:
        t["schedule_state"].update(1, {"app_activity_at": _iso(at or _utcnow())})


def last_activity(db: Database) -> datetime | None:
    """The latest of the app's activity mark and the newest chat message: what "idle" is measured from."""
    row = db.query("SELECT (SELECT app_activity_at FROM schedule_state WHERE id = 1) AS app, "
                   "(SELECT MAX(created_at) FROM messages) AS message")[0]
    times = [t for t in (_parse(row["app"]), _parse(row["message"])) if t is not None]
    return max(times) if times else None


def count_new_examples(db: Database, since: datetime | None) -> int:
    """Approved (not retracted) training examples approved after `since` (all of them when None)."""
    if since is None:
        return db.query("SELECT COUNT(*) AS n FROM training_examples WHERE status = 'approved'")[0]["n"]
    return db.query("SELECT COUNT(*) AS n FROM training_examples WHERE status = 'approved' AND approved_at > ?",
                    (_iso(since),))[0]["n"]


# -- the round lock ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RoundLock:
    holder: str
    trigger: Trigger
    pid: int
    pid_started: float | None
    host: str
    acquired_at: datetime
    lease_until: datetime
    heartbeat_at: datetime
    log_path: str | None = None

    def describe(self) -> str:
        return (f"a {self.trigger} round (process {self.pid} on {self.host}) has been running since "
                f"{self.acquired_at.astimezone():%Y-%m-%d %H:%M}")


ProcessCheck = Callable[[int, float | None], bool]


def process_alive(pid: int, started: float | None) -> bool:
    """True when process `pid` exists on this host and (if known) started at `started`, so a pid the
    OS has reused for something else does not keep a dead holder's lock."""
    import psutil  # not at import time: only lock recovery needs it

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        # AccessDenied means it exists but is someone else's: a holder is always our own user, so a
        # foreign process with that pid cannot be the holder.
        return False


def process_started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def this_host() -> str:
    return socket.gethostname()


def process_suspended(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


# A round is suspended only while a student's reply is generated (a minute or two). Suspended far
# past its lease, it was left behind by an app that closed or crashed mid-reply.
ABANDONED_AFTER = timedelta(minutes=30)


def lock_is_stale(lock: RoundLock, *, now: datetime, host: str | None = None,
                  is_alive: ProcessCheck = process_alive,
                  is_suspended: Callable[[int], bool] = process_suspended) -> str | None:
    """Why `lock` may be taken over, or None when its holder still counts as running."""
    if lock.host == (host or this_host()):
        if not is_alive(lock.pid, lock.pid_started):
            return f"its process {lock.pid} is no longer running"
        if now >= lock.lease_until + ABANDONED_AFTER and is_suspended(lock.pid):
            return f"its process {lock.pid} has been suspended since {lock.heartbeat_at.astimezone():%H:%M}"
        return None  # alive here: perhaps suspended while a student chats; never rob it
    if now >= lock.lease_until:
        return f"its lease from {lock.host} ran out at {lock.lease_until.astimezone():%H:%M:%S}"
    return None


def current_round_lock(db: Database) -> RoundLock | None:
    rows = db.query("SELECT * FROM round_lock WHERE id = 1")
    return _lock(rows[0]) if rows else None


def acquire_round_lock(db: Database, *, trigger: Trigger, pid: int | None = None, lease_s: float = DEFAULT_LEASE_S,
                       log_path: str | None = None, now: datetime | None = None,
                       is_alive: ProcessCheck = process_alive) -> RoundLock:
    """Take the lock for a round run by process `pid` (default: this one), or raise RoundLockBusy.

    Check and take happen in one BEGIN IMMEDIATE transaction: of two processes racing, the second
    waits for the first's commit and then sees the lock held. A stale lock is replaced (and audited).
    """
    _check_trigger(trigger)
    pid = os.getpid() if pid is None else pid
    host = this_host()
    with db.transaction() as t:
        now = now or _utcnow()
        rows = list(t.query("SELECT * FROM round_lock WHERE id = 1"))
        if rows:
            held = _lock(rows[0])
            why_stale = lock_is_stale(held, now=now, host=host, is_alive=is_alive)
            if why_stale is None:
                raise RoundLockBusy(f"Another adaptation round is running: {held.describe()}. "
                                    "Only one round runs at a time; wait for it to finish or cancel it "
                                    "in Teacher ▸ Adaptation.", lock=held)
            t.execute("DELETE FROM round_lock WHERE id = 1")
            if held.host == host and is_alive(held.pid, held.pid_started):
                _wake_to_stop(held.pid)
            audit.record(db, None, "adapt.lock_recovered", target=f"pid:{held.pid}@{held.host}",
                         details={"reason": why_stale, "trigger": held.trigger, "acquired_at": _iso(held.acquired_at)})
        lock = RoundLock(holder=uuid.uuid4().hex, trigger=trigger, pid=pid, pid_started=process_started(pid),
                         host=host, acquired_at=now, lease_until=now + timedelta(seconds=lease_s), heartbeat_at=now,
                         log_path=log_path)
        t["round_lock"].insert({"id": 1, "holder": lock.holder, "trigger": lock.trigger, "pid": lock.pid,
                                "pid_started": lock.pid_started, "host": lock.host,
                                "acquired_at": _iso(lock.acquired_at), "lease_until": _iso(lock.lease_until),
                                "heartbeat_at": _iso(lock.heartbeat_at), "log_path": log_path})
    return lock


def renew_round_lock(db: Database, holder: str, *, lease_s: float = DEFAULT_LEASE_S,
                     now: datetime | None = None) -> RoundLock:
    """Push the lease forward (the heartbeat); RoundLockLost if the lock is no longer `holder`'s."""
    with db.transaction() as t:
        now = now or _utcnow()
        cursor = t.execute("UPDATE round_lock SET lease_until = ?, heartbeat_at = ? WHERE id = 1 AND holder = ?",
                           [_iso(now + timedelta(seconds=lease_s)), _iso(now), holder])
        if cursor.rowcount != 1:
            raise RoundLockLost("This round's lock was taken over by another round (it was judged stale); "
                                "stopping so that two rounds never run at once.")
    lock = current_round_lock(db)
    assert lock is not None
    return lock


def release_round_lock(db: Database, holder: str) -> bool:
    """Free the lock if `holder` still has it; False when it had already been taken over."""
    with db.transaction() as t:
        return t.execute("DELETE FROM round_lock WHERE id = 1 AND holder = ?", [holder]).rowcount == 1


def _wake_to_stop(pid: int) -> None:
    """An abandoned, suspended round: let it run again and ask it to stop. It finds its lock taken at
    its next heartbeat anyway; SIGTERM makes that immediate (it cancels cleanly)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.resume()
        proc.terminate()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def write_lock_free(db: Database, *, timeout_s: float = 0.2) -> bool:
    """True when a write transaction could start within `timeout_s`. The app checks this after
    suspending a training process, so it never freezes one that holds the database's write lock
    (which would block the chat's own writes)."""
    import sqlite3

    if not isinstance(db.path, Path):
        return True
    probe = sqlite3.connect(str(db.path), timeout=timeout_s, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


# -- helpers -------------------------------------------------------------------------------------

def _check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise ValidationError(f"Unknown trigger {trigger!r}: expected one of {', '.join(TRIGGERS)}.")


def _lock(row: dict) -> RoundLock:
    return RoundLock(holder=row["holder"], trigger=row["trigger"], pid=row["pid"], pid_started=row["pid_started"],
                     host=row["host"], acquired_at=_parse(row["acquired_at"]), lease_until=_parse(row["lease_until"]),
                     heartbeat_at=_parse(row["heartbeat_at"]), log_path=row["log_path"])


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    """Stored as UTC ISO text (sorts as time); microseconds kept so leases and heartbeats compare finely."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware times")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
