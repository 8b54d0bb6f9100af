"""Is an adaptation round due? One pure decision, shared by the in-app scheduler and `--if-due`.

`decide(now, settings, inputs)` looks only at its arguments (the clock is a parameter), so the
app, the CLI and the tests all get the same answer from the same facts. `gather_inputs()` reads
those facts from the database.

The rules, in the order they are checked:
- off → never due;
- a round is already running (the lock is held) → not due;
- failures back off: after k failures in a row the next try waits BACKOFF_BASE · 2^(k-1), capped at
  BACKOFF_CAP;
- the slot: nightly at HH:MM (local time) → due when no round has started since the most recent
  HH:MM; every N hours → due when none has started in the last N hours. A machine that was off
  over several slots owes one round, not one per slot: only "since the most recent slot" counts;
- enough newly approved examples since the last successful round (threshold);
- the app idle for M minutes (no student activity), so a round never starts under someone's hands.
A slot that is waiting (for examples or for quiet) stays owed until it runs or the next slot
replaces it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from storage import Database
from storage.schedule import (
    ScheduleSettings, count_new_examples, current_round_lock, get_state, last_activity, lock_is_stale,
)

BACKOFF_BASE = timedelta(minutes=30)
BACKOFF_CAP = timedelta(hours=24)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleInputs:
    """The facts a decision depends on (all times timezone-aware)."""
    slot_filled_at: datetime | None = None          # start of the last round that succeeded or was
                                                    # cancelled, any trigger: a manual round fills a slot too
    new_examples: int = 0                           # approved since the last successful round started
    last_activity_at: datetime | None = None        # the last student activity anywhere
    consecutive_failures: int = 0
    last_failure_at: datetime | None = None
    last_failure_log: str | None = None
    running: str | None = None                      # who holds the round lock, when someone does


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    due: bool
    reason: str
    next_due: datetime | None     # the earliest time the schedule could next be due (None: not scheduled)


def backoff_delay(failures: int) -> timedelta:
    """30 min, 1 h, 2 h, 4 h, ... capped at 24 h; zero without failures."""
    if failures <= 0:
        return timedelta(0)
    return min(BACKOFF_BASE * 2 ** min(failures - 1, 20), BACKOFF_CAP)


def latest_slot(now: datetime, settings: ScheduleSettings, tz: tzinfo | None = None) -> datetime:
    """The most recent nightly HH:MM at or before `now`, in local time (or `tz`)."""
    local = now.astimezone(tz)
    hour, minute = settings.hour_minute
    slot = datetime.combine(local.date(), time(hour, minute))
    if slot > local.replace(tzinfo=None):
        slot -= timedelta(days=1)
    # A naive local time: .astimezone() reads it as the machine's local time (DST included).
    return slot.replace(tzinfo=tz) if tz is not None else slot.astimezone()


def decide(now: datetime, settings: ScheduleSettings, inputs: ScheduleInputs, *,
           tz: tzinfo | None = None) -> Decision:
    if now.tzinfo is None:
        raise ValueError("decide() needs a timezone-aware now")
    if settings.mode == "off":
        return Decision(due=False, reason="The schedule is off: rounds run only when a teacher starts one.",
                        next_due=None)
    if inputs.running:
        return Decision(due=False, reason=f"Not now: {inputs.running}.", next_due=None)

    if settings.mode == "nightly":
        slot = latest_slot(now, settings, tz)
        slot_due = inputs.slot_filled_at is None or inputs.slot_filled_at < slot
        # When due: the one after this round; when not: tomorrow's, the slot that is not yet owed.
        next_slot = slot + timedelta(days=1)
        slot_name = f"the {settings.time_of_day} slot of {slot.astimezone(tz):%a %d %b}"
    else:
        interval = timedelta(hours=settings.every_hours)
        if inputs.slot_filled_at is None:
            slot, slot_due = now, True
        else:
            slot = inputs.slot_filled_at + interval
            slot_due = now >= slot
        next_slot = now + interval if slot_due else slot
        slot_name = f"the {settings.every_hours}-hour interval"

    if inputs.consecutive_failures and inputs.last_failure_at is not None:
        retry_at = inputs.last_failure_at + backoff_delay(inputs.consecutive_failures)
        if now < retry_at:
            log = f" See the log: {inputs.last_failure_log}." if inputs.last_failure_log else ""
            return Decision(due=False, next_due=retry_at if slot_due else max(retry_at, next_slot),
                            reason=(f"Backing off after {inputs.consecutive_failures} failed round"
                                    f"{'s' if inputs.consecutive_failures != 1 else ''}: next try after "
                                    f"{_local(retry_at, tz)}.{log}"))

    if not slot_due:
        return Decision(due=False, next_due=next_slot,
                        reason=f"Not due: the last round started {_local(inputs.slot_filled_at, tz)}; "
                               f"the next is due {_local(next_slot, tz)}.")

    if inputs.new_examples < settings.min_new_examples:
        return Decision(due=False, next_due=None,
                        reason=(f"Waiting for examples: {inputs.new_examples} newly approved since the last "
                                f"round, {settings.min_new_examples} needed ({slot_name} is owed)."))

    if settings.idle_minutes and inputs.last_activity_at is not None:
        quiet_from = inputs.last_activity_at + timedelta(minutes=settings.idle_minutes)
        if now < quiet_from:
            return Decision(due=False, next_due=quiet_from,
                            reason=(f"Waiting for quiet: a student was active at {_local(inputs.last_activity_at, tz)}; "
                                    f"the round waits until {settings.idle_minutes} idle minutes have passed "
                                    f"({_local(quiet_from, tz)})."))

    missed = ""
    if settings.mode == "nightly" and now - slot > timedelta(hours=1):
        missed = " (missed while the machine was off or busy; one round makes up for it)"
    return Decision(due=True, next_due=next_slot,
                    reason=(f"Due: {slot_name}{missed}, {inputs.new_examples} newly approved examples "
                            f"(≥ {settings.min_new_examples})."))


def gather_inputs(db: Database, *, now: datetime, own_lock: str | None = None) -> ScheduleInputs:
    """Read the facts for decide() from the database. `own_lock`: the caller's lock holder token
    (a round deciding under its own lock is not "already running")."""
    state = get_state(db)
    lock = current_round_lock(db)
    running = None
    if lock is not None and lock.holder != own_lock and lock_is_stale(lock, now=now) is None:
        running = lock.describe()
    return ScheduleInputs(
        slot_filled_at=state.slot_filled_at,
        new_examples=count_new_examples(db, state.last_success_started_at),
        last_activity_at=last_activity(db),
        consecutive_failures=state.consecutive_failures,
        last_failure_at=state.last_failure_at,
        last_failure_log=state.last_failure_log,
        running=running,
    )


def _local(moment: datetime | None, tz: tzinfo | None) -> str:
    if moment is None:
        return "never"
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"
