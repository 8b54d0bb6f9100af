"""The scheduling decision with a fake clock: a table of situations and what decide() must say."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from learner.schedule import BACKOFF_CAP, ScheduleInputs, backoff_delay, decide, latest_slot
from storage.schedule import ScheduleSettings

UTC = timezone.utc
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)          # a Saturday, noon
NIGHTLY = ScheduleSettings(mode="nightly", time_of_day="02:00", min_new_examples=20, idle_minutes=15)
EVERY_6H = ScheduleSettings(mode="every_n_hours", every_hours=6, min_new_examples=20, idle_minutes=0)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


CASES = [
    # (name, settings, inputs, now, due, words in the reason, next_due)
    ("off", ScheduleSettings(mode="off"), ScheduleInputs(new_examples=500), NOW, False, "off", None),
    ("nightly: never ran, enough examples, quiet",
     NIGHTLY, ScheduleInputs(new_examples=25, last_activity_at=at(28, 11)), NOW, True, "Due", at(29, 2)),
    ("nightly: tonight's slot already filled",
     NIGHTLY, ScheduleInputs(slot_filled_at=at(28, 2, 1), new_examples=25), NOW, False, "Not due", at(29, 2)),
    ("nightly: before the slot, yesterday's filled",
     NIGHTLY, ScheduleInputs(slot_filled_at=at(27, 2), new_examples=25), at(28, 1, 59), False, "Not due", at(28, 2)),
    ("nightly: exactly at the slot",
     NIGHTLY, ScheduleInputs(slot_filled_at=at(27, 2), new_examples=25), at(28, 2), True, "Due", at(29, 2)),
    ("nightly: missed three nights -> one round, then filled",
     NIGHTLY, ScheduleInputs(slot_filled_at=at(24, 2), new_examples=25), NOW, True, "missed", at(29, 2)),
    ("below threshold",
     NIGHTLY, ScheduleInputs(new_examples=19), NOW, False, "19 newly approved", None),
    ("threshold met exactly",
     NIGHTLY, ScheduleInputs(new_examples=20), NOW, True, "Due", at(29, 2)),
    ("not idle long enough",
     NIGHTLY, ScheduleInputs(new_examples=25, last_activity_at=at(28, 11, 50)), NOW, False, "Waiting for quiet",
     at(28, 12, 5)),
    ("idle exactly long enough",
     NIGHTLY, ScheduleInputs(new_examples=25, last_activity_at=at(28, 11, 45)), NOW, True, "Due", at(29, 2)),
    ("already running",
     NIGHTLY, ScheduleInputs(new_examples=25, running="a cli round (process 7 on box)"), NOW, False,
     "cli round", None),
    ("backoff after one failure: 30 min",
     NIGHTLY, ScheduleInputs(new_examples=25, consecutive_failures=1, last_failure_at=at(28, 11, 45),
                             last_failure_log="/logs/round.log"), NOW, False, "/logs/round.log", at(28, 12, 15)),
    ("backoff over: retry",
     NIGHTLY, ScheduleInputs(new_examples=25, consecutive_failures=1, last_failure_at=at(28, 11, 29)), NOW, True,
     "Due", at(29, 2)),
    ("backoff grows: 3 failures wait 2 h",
     NIGHTLY, ScheduleInputs(new_examples=25, consecutive_failures=3, last_failure_at=at(28, 10, 30)), NOW, False,
     "3 failed rounds", at(28, 12, 30)),
    ("every 6 h: never ran",
     EVERY_6H, ScheduleInputs(new_examples=20), NOW, True, "Due", NOW + timedelta(hours=6)),
    ("every 6 h: ran 5 h ago",
     EVERY_6H, ScheduleInputs(slot_filled_at=at(28, 7), new_examples=40), NOW, False, "Not due", at(28, 13)),
    ("every 6 h: machine off for two days -> one round now, next in 6 h",
     EVERY_6H, ScheduleInputs(slot_filled_at=at(26, 7), new_examples=40), NOW, True, "Due",
     NOW + timedelta(hours=6)),
    ("every 6 h: idle 0 ignores activity",
     EVERY_6H, ScheduleInputs(new_examples=40, last_activity_at=NOW), NOW, True, "Due", NOW + timedelta(hours=6)),
]


@pytest.mark.parametrize(("settings", "inputs", "now", "due", "words", "next_due"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(settings, inputs, now, due, words, next_due):
    decision = decide(now, settings, inputs, tz=UTC)
    assert decision.due is due, decision.reason
    assert words in decision.reason
    assert decision.next_due == next_due


def test_missed_slots_run_once_then_wait_for_tomorrow():
    """Off for three nights: the first check is due; after that round fills the slot, nothing more
    is owed until the next 02:00, however many slots were missed."""
    inputs = ScheduleInputs(slot_filled_at=at(24, 2), new_examples=30)
    first = decide(at(28, 9), NIGHTLY, inputs, tz=UTC)
    assert first.due
    after_round = ScheduleInputs(slot_filled_at=at(28, 9), new_examples=30)
    checks = {at(28, 9) + timedelta(minutes=10 * i): decide(at(28, 9) + timedelta(minutes=10 * i), NIGHTLY,
                                                          after_round, tz=UTC)
              for i in range(1, 6 * 24)}
    due_times = sorted(t for t, d in checks.items() if d.due)
    assert due_times[0] == at(29, 2)  # nothing owed until the next 02:00, however many were missed
    assert all(not d.due and d.next_due == at(29, 2) for t, d in checks.items() if t < at(29, 2))


def test_a_failed_round_leaves_the_slot_owed_and_backoff_paces_retries():
    failed_at = at(28, 2, 30)
    times = []
    failures = 1
    now = failed_at
    while now < at(29, 2) and failures < 10:
        decision = decide(now, NIGHTLY, ScheduleInputs(slot_filled_at=at(27, 2), new_examples=30,
                                                        consecutive_failures=failures, last_failure_at=failed_at),
                          tz=UTC)
        if decision.due:
            times.append(now - failed_at)
            failures += 1
            failed_at = now  # this retry fails as well
        now += timedelta(minutes=5)
    gaps = times
    assert gaps[:4] == [timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]


@pytest.mark.parametrize(("failures", "delay"), [(0, timedelta(0)), (1, timedelta(minutes=30)),
                                                   (2, timedelta(hours=1)), (6, timedelta(hours=16)),
                                                   (7, BACKOFF_CAP), (60, BACKOFF_CAP)])
def test_backoff_grows_and_is_capped(failures, delay):
    assert backoff_delay(failures) == delay


def test_latest_slot_in_local_time_of_another_zone():
    plus5 = timezone(timedelta(hours=5))
    # 20:30 UTC is 01:30 next day at +05:00, so the latest 02:00 slot there is the day before.
    slot = latest_slot(datetime(2026, 11, 28, 20, 30, tzinfo=UTC), NIGHTLY, plus5)
    assert slot == datetime(2026, 11, 28, 2, 0, tzinfo=plus5)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(datetime(2026, 11, 28, 12, 0), NIGHTLY, ScheduleInputs())
