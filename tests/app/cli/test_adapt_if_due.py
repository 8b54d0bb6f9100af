"""`python -m learner.adapt --if-due` (what cron, systemd and Task Scheduler run) as a real
subprocess: it says why it did or did not run, respects the lock, and runs one round when due."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from learner.settings import GenerationSettings, save_generation_settings
from learner.sources import prepare_model
from storage import Database, DataDir, auth
from storage import adapters
from storage import schedule

FAST = auth.ScryptParams(n=2**8, r=8, p=1)
ROOT = Path(__file__).resolve().parents[3]
# A round small enough for a test: two optimiser steps on a handful of examples.
TINY_ROUND = ["--set", "epochs=1", "--set", "max_steps=2", "--set", "replay_train_limit=4",
              "--set", "replay_eval_limit=4", "--set", "must_pass_max_new_tokens=8", "--set", "fairness_groups=1",
              "--set", "fairness_max_new_tokens=4", "--no-nice", "--device", "cpu"]


def adapt(data_dir: DataDir, *args: str, timeout: float = 300) -> tuple[int, list[dict], str]:
    env = {**os.environ, "TUTORLOOP_HOME": str(data_dir.root)}
    done = subprocess.run([sys.executable, "-m", "learner.adapt", "--json", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return done.returncode, events, done.stderr


def schedule_events(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e.get("phase") == "schedule" and e.get("event") == name]


def set_schedule(db: Database, **values: object) -> None:
    teacher = auth.create_teacher(db, None, "Ms Lee", "correct horse battery", params=FAST)
    schedule.save_settings(db, teacher, schedule.ScheduleSettings(**values))


def approve_examples(db: Database, count: int) -> None:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with db.transaction() as t:
        for i in range(count):
            prompt = [{"role": "system", "content": "You are a patient tutor."},
                      {"role": "user", "content": f"What is {i} + {i}?"}]
            t["training_examples"].insert({
                "uid": f"ex-{i}", "prompt_json": json.dumps(prompt), "completion": f"{i} + {i} = {2 * i}.",
                "mode": "explain", "approved_by_name": "Ms Lee", "approved_at": now, "source": "import",
                "content_sha256": f"sha-{i}", "created_at": now})


def test_off_says_so_and_runs_nothing(data_dir: DataDir, db: Database):
    code, events, stderr = adapt(data_dir, "--if-due", "--trigger", "schedule")
    assert code == 0, stderr
    decision = schedule_events(events, "decision")[0]
    assert decision["due"] is False and "The schedule is off" in decision["reason"]
    assert not db.query("SELECT * FROM training_runs")


def test_below_the_threshold_says_how_many_are_missing(data_dir: DataDir, db: Database):
    set_schedule(db, mode="every_n_hours", every_hours=6, min_new_examples=20, idle_minutes=0)
    approve_examples(db, 3)
    code, events, stderr = adapt(data_dir, "--if-due", "--trigger", "schedule")
    assert code == 0, stderr
    reason = schedule_events(events, "decision")[0]["reason"]
    assert "3 newly approved" in reason and "20 needed" in reason
    assert schedule.get_state(db).last_decision_reason == reason


def test_while_another_round_holds_the_lock(data_dir: DataDir, db: Database):
    set_schedule(db, mode="every_n_hours", every_hours=6, min_new_examples=0, idle_minutes=0)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        schedule.acquire_round_lock(db, trigger="manual", pid=holder.pid)
        code, events, stderr = adapt(data_dir, "--if-due", "--trigger", "schedule")
        assert code == 0, stderr  # for cron "someone else is training" is not an error
        assert f"process {holder.pid}" in schedule_events(events, "busy")[0]["reason"]
        code, events, stderr = adapt(data_dir)  # a manual/cli run refuses clearly
        assert code == 75
        assert "Not running" in schedule_events(events, "busy")[0]["reason"]
    finally:
        holder.kill()
        holder.wait()
    assert not db.query("SELECT * FROM training_runs")


def test_a_due_round_runs_once_with_the_tiny_model(data_dir: DataDir, db: Database, tiny_model_dir: Path):
    set_schedule(db, mode="nightly", time_of_day="00:00", min_new_examples=5, idle_minutes=0)
    approve_examples(db, 8)
    code, events, stderr = adapt(data_dir, "--if-due", "--trigger", "schedule", "--model", str(tiny_model_dir),
                                 *TINY_ROUND)
    assert code == 0, (events[-4:], stderr[-3000:])
    assert schedule_events(events, "decision")[0]["due"] is True
    finished = schedule_events(events, "finished")[0]
    run = db.query("SELECT * FROM training_runs")[0]
    assert (run["trigger"], run["status"], run["version"]) == ("schedule", "succeeded", finished["version"])
    state = schedule.get_state(db)
    assert (state.last_round_result, state.last_round_version) == ("succeeded", finished["version"])
    assert schedule.current_round_lock(db) is None
    # Asked again at once: tonight's slot is filled; one round, not two.
    code, events, stderr = adapt(data_dir, "--if-due", "--trigger", "schedule", "--model", str(tiny_model_dir))
    assert code == 0, stderr
    assert "Not due" in schedule_events(events, "decision")[0]["reason"]
    assert len(db.query("SELECT * FROM training_runs")) == 1


def test_tutorloop_adapt_if_due_prints_its_reason_in_words(data_dir: DataDir, db: Database):
    """What a cron mail or a Task Scheduler history shows: a sentence, not JSON."""
    set_schedule(db, mode="nightly", time_of_day="02:00", min_new_examples=20, idle_minutes=0)
    approve_examples(db, 2)
    env = {**os.environ, "TUTORLOOP_HOME": str(data_dir.root)}
    done = subprocess.run([sys.executable, "-m", "app", "adapt", "--if-due"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("Waiting for examples: 2 newly approved since the last round, 20 needed")


def test_the_cron_line_records_a_scheduled_round_on_the_chats_model(
        data_dir: DataDir, db: Database, tiny_model_dir: Path):
    """The documented cron line has neither --trigger nor --model: the round is a scheduled one, and it
    trains for the model the Settings dialog chose (an adapter only fits the model it was trained on)."""
    set_schedule(db, mode="every_n_hours", every_hours=24, min_new_examples=1, idle_minutes=0)
    approve_examples(db, 6)
    save_generation_settings(db, GenerationSettings(model_spec=str(tiny_model_dir)))
    code, events, stderr = adapt(data_dir, "--if-due", *TINY_ROUND)
    assert code == 0, (events[-4:], stderr[-3000:])
    assert [r["trigger"] for r in db.query("SELECT trigger FROM training_runs")] == ["schedule"]
    assert schedule.get_state(db).last_round_trigger == "schedule"
    (adapter,) = adapters.list_adapters(db)
    assert adapter.base_model_id == prepare_model(str(tiny_model_dir), data_dir).model_id
