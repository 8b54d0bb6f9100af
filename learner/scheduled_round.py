"""One adaptation round under the database lock: the part shared by `tutorloop adapt`,
`python -m learner.adapt`, cron/systemd/Task Scheduler (`--if-due`) and the app's scheduler.

    lock ─▶ (--if-due: decide; not due → release, say why, exit 0) ─▶ record start ─▶ heartbeat
         ─▶ the round ─▶ record result (failures feed the backoff) ─▶ auto-promote if allowed ─▶ release

The lock is taken before deciding, so two schedulers firing together cannot both find the round
due: the second sees it held (and says so), or, once the first finished, sees the slot filled.
The process that trains is the process that holds the lock, so a kill -9 frees it (the pid is gone).
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from learner.schedule import decide, gather_inputs
from storage import Database, DataDir, StorageError
from storage import schedule
from storage.schedule import Trigger

log = logging.getLogger(__name__)

EXIT_OK = 0           # the round ran, or (--if-due) it was not due: nothing for cron to report
EXIT_FAILED = 1       # the round failed; the log says why
EXIT_BUSY = 75        # EX_TEMPFAIL: another round holds the lock (a manual/cli run refuses)
EXIT_CANCELLED = 130  # cancelled by the teacher (terminate) or by losing the lock

Emit = Callable[[dict[str, Any]], None]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundOutcome:
    """What the round function returned, reduced to what the schedule needs."""
    version: int | None = None        # the candidate version it registered, if any
    gate_passed: bool | None = None   # None: no gate verdict (e.g. nothing to train)
    log_path: str | None = None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def outcome_of(result: object) -> RoundOutcome:
    """Read a round result without depending on its exact class (learner.adapt owns it)."""
    if result is None or isinstance(result, RoundOutcome):
        return result or RoundOutcome()
    version = getattr(result, "version", None)
    passed = getattr(result, "gate_passed", None)
    if passed is None:
        passed = getattr(result, "passed", None)
    gate = getattr(result, "gate", None) or getattr(result, "verdict", None)
    if passed is None and gate is not None:
        passed = getattr(gate, "passed", None)
    log_path = getattr(result, "log_path", None)
    return RoundOutcome(version=version if isinstance(version, int) else None,
                        gate_passed=bool(passed) if passed is not None else None,
                        log_path=str(log_path) if log_path else None)


class _Heartbeat:
    """Renews the lease from its own thread (and its own connection: sqlite connections are
    per-thread) until stopped; losing the lock sets `cancel`, so the round stops."""

    def __init__(self, db_path: Path, holder: str, lease_s: float, cancel: threading.Event) -> None:
        self._db_path, self._holder, self._lease_s, self._cancel = db_path, holder, lease_s, cancel
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="tutorloop-round-heartbeat")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        db = Database(self._db_path, migrate=False)
        try:
            while not self._stop.wait(self._lease_s / 4):
                try:
                    schedule.renew_round_lock(db, self._holder, lease_s=self._lease_s)
                except schedule.RoundLockLost:
                    log.error("the round lock was taken over; cancelling this round")
                    self.lost = True
                    self._cancel.set()
                    return
                except StorageError:  # a busy database: try again at the next beat, the lease has slack
                    log.warning("could not renew the round lock", exc_info=True)
        finally:
            db.close()


def new_log_path(data_dir: DataDir, trigger: str, now: datetime) -> Path:
    return data_dir.logs_dir / f"adapt-{now.astimezone():%Y%m%d-%H%M%S}-{trigger}.log"


def run_with_lock(data_dir: DataDir, *, trigger: Trigger, start_round: Callable[[threading.Event], object],
                  if_due: bool = False, emit: Emit = lambda event: None, clock: Clock = _utcnow,
                  lease_s: float = schedule.DEFAULT_LEASE_S, cancel: threading.Event | None = None,
                  auto_promote: Callable[[int], None] | None = None, handle_sigterm: bool = False) -> int:
    """Run `start_round(cancel)` as one recorded round under the lock; returns an exit status.

    `emit` receives {"phase": "schedule", ...} events: the decision and its reason, a refusal, the
    result. After a round whose candidate passed the gate, and only when a teacher allowed
    auto-promotion in the schedule settings, `auto_promote(version)` runs (default:
    storage.schedule.auto_promote_candidate, which applies the same checks as a teacher's promote).
    """
    cancel = cancel or threading.Event()
    data_dir.ensure()
    db = Database(data_dir.db_path)
    try:
        return _run(db, data_dir, trigger=trigger, start_round=start_round, if_due=if_due, emit=emit, clock=clock,
                    lease_s=lease_s, cancel=cancel, auto_promote=auto_promote, handle_sigterm=handle_sigterm)
    finally:
        db.close()


def _run(db: Database, data_dir: DataDir, *, trigger: Trigger, start_round: Callable[[threading.Event], object],
         if_due: bool, emit: Emit, clock: Clock, lease_s: float, cancel: threading.Event,
         auto_promote: Callable[[int], None] | None, handle_sigterm: bool) -> int:
    started = clock()
    log_path = new_log_path(data_dir, trigger, started)
    try:
        lock = schedule.acquire_round_lock(db, trigger=trigger, lease_s=lease_s, log_path=str(log_path), now=started)
    except schedule.RoundLockBusy as busy:
        reason = f"Not running: {busy.lock.describe()}."
        if if_due:
            schedule.record_decision(db, at=started, reason=reason)
        emit({"phase": "schedule", "event": "busy", "due": False, "reason": reason, "pid": busy.lock.pid,
              "host": busy.lock.host, "log": busy.lock.log_path})
        return EXIT_OK if if_due else EXIT_BUSY
    try:
        _close_interrupted_round(db, now=started)
        settings = schedule.get_settings(db)
        if if_due:
            decision = decide(started, settings, gather_inputs(db, now=started, own_lock=lock.holder))
            schedule.record_decision(db, at=started, reason=decision.reason)
            emit({"phase": "schedule", "event": "decision", "due": decision.due, "reason": decision.reason,
                  "next_due": decision.next_due.isoformat() if decision.next_due else None})
            if not decision.due:
                return EXIT_OK
        schedule.record_round_started(db, trigger=trigger, started_at=started, log_path=str(log_path))
        emit({"phase": "schedule", "event": "started", "trigger": trigger, "log": str(log_path)})
        return _run_round(db, trigger=trigger, start_round=start_round, started=started, log_path=log_path,
                          emit=emit, clock=clock, lease_s=lease_s, cancel=cancel, lock=lock,
                          auto_promote=(auto_promote or (lambda version: schedule.auto_promote_candidate(db, version)))
                          if settings.auto_promote else None,
                          handle_sigterm=handle_sigterm)
    finally:
        schedule.release_round_lock(db, lock.holder)


def _run_round(db: Database, *, trigger: Trigger, start_round: Callable[[threading.Event], object], started: datetime,
               log_path: Path, emit: Emit, clock: Clock, lease_s: float, cancel: threading.Event,
               lock: schedule.RoundLock, auto_promote: Callable[[int], None] | None, handle_sigterm: bool) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    file_log = logging.FileHandler(log_path, encoding="utf-8")
    file_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(file_log)
    previous_level = root.level
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    restore_sigterm = _cancel_on_sigterm(cancel) if handle_sigterm else None
    try:
        log.info("round started: trigger=%s pid=%s", trigger, lock.pid)
        beat = _Heartbeat(Path(db.path), lock.holder, lease_s, cancel)
        try:
            with beat:
                result = start_round(cancel)
        except Exception as exc:  # the round's own errors and bugs alike: record, back off, show the log
            log.exception("round failed")
            if beat.lost:
                emit({"phase": "schedule", "event": "lock_lost", "log": str(log_path)})
                return EXIT_CANCELLED
            if cancel.is_set():
                return _finish_cancelled(db, trigger, started, clock, log_path, emit)
            message = str(exc) or type(exc).__name__
            state = schedule.record_round_finished(db, trigger=trigger, started_at=started, finished_at=clock(),
                                                result="failed", message=message, log_path=str(log_path))
            emit({"phase": "schedule", "event": "failed", "reason": message, "log": str(log_path),
                  "consecutive_failures": state.consecutive_failures})
            return EXIT_FAILED
        if beat.lost:
            # Another round took over (we were judged abandoned): the record is theirs now; say so only.
            emit({"phase": "schedule", "event": "lock_lost", "log": str(log_path)})
            return EXIT_CANCELLED
        if cancel.is_set():
            return _finish_cancelled(db, trigger, started, clock, log_path, emit)
        outcome = outcome_of(result)
        schedule.record_round_finished(db, trigger=trigger, started_at=started, finished_at=clock(), result="succeeded",
                                    version=outcome.version, log_path=outcome.log_path or str(log_path))
        promoted = False
        if auto_promote is not None and outcome.version is not None and outcome.gate_passed:
            try:
                auto_promote(outcome.version)
                promoted = True
            except Exception as exc:  # the candidate stays waiting for a teacher; say why
                log.exception("auto-promotion failed")
                emit({"phase": "schedule", "event": "auto_promote_failed", "version": outcome.version,
                      "reason": str(exc)})
        log.info("round finished: version=%s gate_passed=%s promoted=%s", outcome.version, outcome.gate_passed,
                 promoted)
        emit({"phase": "schedule", "event": "finished", "version": outcome.version,
              "gate_passed": outcome.gate_passed, "promoted": promoted, "log": str(log_path)})
        return EXIT_OK
    finally:
        if restore_sigterm is not None:
            restore_sigterm()
        root.removeHandler(file_log)
        root.setLevel(previous_level)
        file_log.close()


def _finish_cancelled(db: Database, trigger: Trigger, started: datetime, clock: Clock, log_path: Path,
                      emit: Emit) -> int:
    schedule.record_round_finished(db, trigger=trigger, started_at=started, finished_at=clock(), result="cancelled",
                                log_path=str(log_path))
    emit({"phase": "schedule", "event": "cancelled", "log": str(log_path)})
    return EXIT_CANCELLED


def _close_interrupted_round(db: Database, *, now: datetime) -> None:
    """We hold the lock, so a round still marked running has died (kill -9, power cut): record it as
    failed, so the teacher sees it and the backoff counts it."""
    state = schedule.get_state(db)
    if state.last_round_result == "running" and state.last_round_started_at is not None:
        schedule.record_round_finished(
            db, trigger=state.last_round_trigger or "manual", started_at=state.last_round_started_at, finished_at=now,
            result="failed", message="The round was interrupted: its process ended without finishing "
                                     "(killed, crashed, or the machine stopped).",
            log_path=state.last_round_log)


def _cancel_on_sigterm(cancel: threading.Event) -> Callable[[], None] | None:
    """Terminate (the app's Cancel, `kill`, systemd stop) sets `cancel`, so the round ends cleanly and
    is recorded as cancelled. Only possible from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(_signum: int, _frame: object) -> None:
        cancel.set()

    signal.signal(signal.SIGTERM, on_term)
    return lambda: signal.signal(signal.SIGTERM, previous)
