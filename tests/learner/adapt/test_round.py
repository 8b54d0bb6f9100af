"""Whole rounds with the tiny model: a real `python -m learner.adapt` subprocess producing v1, a
kill -9 mid-run leaving the registry consistent, the adapters CLI, and hot-swapping in the Tutor."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from learner.adapt.recipe import Recipe
from learner.adapt.registry import AdapterRegistry
from learner.adapt.train import add_fresh_adapter, save_adapter
from learner.loading import load_model
from learner.settings import GenerationSettings
from learner.sources import prepare_model
from learner.tutor import Tutor
from learner.types import TutorRequest
from storage import Database, DataDir, adapters
from tests.support.classroom import PASSWORD, TEACHER_NAME
from tests.support.tiny_model import perturb_lora_b

ROOT = Path(__file__).resolve().parents[3]
TINY_SETTINGS = ["--set", "rank=4", "--set", "alpha=8", "--set", "dropout=0.0", "--set", "learning_rate=0.005",
                 "--set", "batch_tokens=8192", "--set", "max_batch_examples=8", "--set", "must_pass_max_new_tokens=8",
                 "--set", "replay_eval_limit=null", "--set", "augment=false",
                 "--set", "bleeding_max_new_tokens=8", "--set", "fairness_groups=1",
                 "--set", "fairness_max_new_tokens=4"]


def adapt_cmd(model: Path, replay: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "learner.adapt", "--json", "--model", str(model), "--replay", str(replay),
            "--no-nice", *TINY_SETTINGS, *extra]


@contextmanager
def _round_in_training(model: Path, replay: Path) -> Iterator[subprocess.Popen[str]]:
    """A long round (100 epochs) as a subprocess, handed over once its progress says training started."""
    with subprocess.Popen(adapt_cmd(model, replay, "--set", "epochs=100"), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{") and json.loads(line)["phase"] == "train":
                break
        else:
            pytest.fail("the round ended before training started")
        yield proc


def tutorloop(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("TUTORLOOP_PASSWORD", None)
    if password is not None:
        env["TUTORLOOP_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "app", *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_a_subprocess_round_registers_a_candidate_and_the_cli_lists_and_promotes_it(
        data_dir: DataDir, db: Database, approved: int, teacher, replay_file: Path, tiny_model_dir: Path) -> None:
    # A must-pass prompt no model passes in 8 tokens: the gate's verdict is known before the round.
    adapters.add_must_pass(db, teacher, "Say the secret word.", must_match=["zzqx-never-said"])
    # Paraphrases on here only (the tiny model's long byte-level prompts make them slow on a busy CPU).
    proc = subprocess.run(adapt_cmd(tiny_model_dir, replay_file, "--set", "epochs=1", "--set", "augment=true",
                                    "--set", "augment_max_new_tokens=8"), check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    phases = [e["phase"] for e in events]
    assert "train" in phases and phases.index("train") < phases.index("gate") < phases.index("done")
    train = [e for e in events if e["phase"] == "train"]
    assert {"step", "total", "loss", "eta_s"} <= set(train[0]) and train[-1]["step"] == train[-1]["total"]
    done = next(e for e in events if e["phase"] == "done")
    assert done["version"] == 1 and done["gate_passed"] is False

    folder = data_dir.adapters_dir / "v1"
    assert {"adapter_config.json", "adapter_model.safetensors", "recipe.json"} <= {p.name for p in folder.iterdir()}
    assert [p.name for p in data_dir.adapters_dir.iterdir()] == ["v1"]     # no partial folder left
    assert json.loads((folder / "recipe.json").read_text())["rank"] == 4
    runs = adapters.list_runs(db)
    assert [(r.status, r.version, r.trigger) for r in runs] == [("succeeded", 1, "cli")]
    assert Path(runs[0].log_path).is_file() and "registered v1" in Path(runs[0].log_path).read_text()
    adapter = adapters.get_adapter(db, 1)
    assert adapter.n_examples + adapter.n_heldout == approved
    assert len(adapters.example_ids(db, 1, "train")) == adapter.n_examples

    listed = tutorloop("adapters", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert {"version", "status", "created_at", "n_examples", "gate_passed", "gate"} <= set(row)
    assert row["version"] == 1 and row["n_examples"] == adapter.n_examples
    assert {"heldout", "replay", "forgetting", "must_pass", "bleeding"} <= {c["name"] for c in row["gate"]["checks"]}
    bleeding = next(c for c in row["gate"]["checks"] if c["name"] == "bleeding")
    assert bleeding["skipped"] == (adapter.n_heldout == 0)
    assert bleeding["figures"].get("checked", 0) == adapter.n_heldout   # every held-out example was answered
    augmentation = adapter.metrics["augmentation"]        # the tiny model's rewrites: stored, kept or not
    assert sorted(e["example_id"] for e in augmentation["examples"]) == adapters.example_ids(db, 1, "train")
    assert augmentation["written_on"] == "transformers"   # a Hugging Face folder: the chat would not use llama.cpp
    assert row["gate"]["checks"][1]["figures"]["base"] is not None        # every figure is there

    denied = tutorloop("adapters", "promote", "1", "--teacher", TEACHER_NAME, password="wrong password!")
    assert denied.returncode == 3
    refused = tutorloop("adapters", "promote", "v1", "--teacher", TEACHER_NAME, password=PASSWORD)
    assert refused.returncode == 1 and "cannot be promoted" in refused.stderr
    assert adapter.gate_reason in refused.stderr and "must-pass" in adapter.gate_reason.lower()

    # The same version once its gate passed (as a teacher's fixed must-pass prompt would make it):
    with db.transaction() as t:
        t.execute("UPDATE adapters SET gate_passed = 1, status = 'candidate' WHERE version = 1")
    promoted = tutorloop("adapters", "promote", "v1", "--teacher", TEACHER_NAME, password=PASSWORD)
    assert promoted.returncode == 0, promoted.stderr
    assert adapters.get_adapter(db, 1).status == "active"
    back = tutorloop("adapters", "rollback", "--teacher", TEACHER_NAME, password=PASSWORD)
    assert back.returncode == 0 and "base model" in back.stderr
    assert adapters.active_adapter(db) is None


def test_kill_9_mid_training_leaves_the_registry_consistent(
        data_dir: DataDir, db: Database, approved: int, replay_file: Path, tiny_model_dir: Path) -> None:
    with _round_in_training(tiny_model_dir, replay_file) as proc:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # What the crash left: a 'running' row and (at most) a partial folder, never a vN folder.
    assert not any(p.name.startswith("v") for p in data_dir.adapters_dir.iterdir())
    assert [r.status for r in adapters.list_runs(db)] == ["running"]
    assert adapters.list_adapters(db) == []

    left = sorted(p.name for p in data_dir.adapters_dir.iterdir())
    listed = tutorloop("adapters", "list", "--json")        # a look marks the dead run, deletes nothing
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    run = adapters.list_runs(db)[0]
    assert run.status == "failed" and "ended without finishing" in run.error
    assert "failed" in listed.stderr and run.log_path in listed.stderr
    assert sorted(p.name for p in data_dir.adapters_dir.iterdir()) == left

    # The next round is not blocked by the dead one's lock and produces v1.
    again = subprocess.run(adapt_cmd(tiny_model_dir, replay_file, "--set", "max_steps=1"), check=False, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [a.version for a in adapters.list_adapters(db)] == [1]
    assert [p.name for p in data_dir.adapters_dir.iterdir()] == ["v1"]   # the round swept the partial


def test_sigterm_cancels_cleanly_and_records_the_run_as_cancelled(
        data_dir: DataDir, db: Database, approved: int, replay_file: Path, tiny_model_dir: Path) -> None:
    with _round_in_training(tiny_model_dir, replay_file) as proc:
        proc.terminate()                                   # the app's Cancel
        assert proc.wait(timeout=60) == 130
    assert [r.status for r in adapters.list_runs(db)] == ["cancelled"]
    assert list(data_dir.adapters_dir.iterdir()) == []


@pytest.fixture
def tiny_tutor(tiny_model_dir: Path, data_dir: DataDir) -> Tutor:
    return Tutor(load_model(prepare_model(str(tiny_model_dir), data_dir), device="cpu", dtype="float32"))


def noisy_adapter(tiny_model_dir: Path, data_dir: DataDir, folder: Path, seed: int) -> Path:
    """A LoRA adapter with random (non-zero) B matrices, so its answers visibly differ from the base."""
    loaded = load_model(prepare_model(str(tiny_model_dir), data_dir), device="cpu", dtype="float32")
    model = add_fresh_adapter(loaded.model, Recipe(rank=4, alpha=8, seed=seed))
    perturb_lora_b(model, seed=seed, std=0.5)
    return save_adapter(model, folder, Recipe(rank=4, alpha=8, seed=seed))


def test_promote_rollback_and_hot_swap_in_the_tutor(tiny_tutor: Tutor, tiny_model_dir: Path, data_dir: DataDir,
                                                    db: Database, teacher) -> None:
    for v in (1, 2):
        path = noisy_adapter(tiny_model_dir, data_dir, data_dir.adapters_dir / f"v{v}", seed=v)
        adapters.register_adapter(db, version=v, base_model_id="tiny", path=str(path), n_examples=1, n_heldout=0,
                               n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate={},
                               gate_passed=True, gate_reason="All checks passed.", run_id=None, train_ids=[],
                               heldout_ids=[])
    registry = AdapterRegistry(data_dir, db)
    settings = GenerationSettings(temperature=0, max_new_tokens=12)
    ask = TutorRequest(user_text="What is a fraction?", mode="explain")

    base = tiny_tutor.reply(ask, settings)
    assert base.adapter_version is None

    adapters.promote(db, teacher, 1)
    tiny_tutor.set_adapter(*reversed(registry.active_path()))
    with_v1 = tiny_tutor.reply(ask, settings)
    assert with_v1.adapter_version == 1 and with_v1.text != base.text

    adapters.promote(db, teacher, 2)                       # hot-swap, same loaded model
    tiny_tutor.set_adapter(*reversed(registry.active_path()))
    with_v2 = tiny_tutor.reply(ask, settings)
    assert with_v2.adapter_version == 2 and with_v2.text != with_v1.text

    adapters.rollback(db, teacher)                         # back to v1: the same answer as before
    tiny_tutor.set_adapter(*reversed(registry.active_path()))
    again = tiny_tutor.reply(ask, settings)
    assert again.adapter_version == 1 and again.text == with_v1.text

    adapters.use_base(db, teacher)
    tiny_tutor.set_adapter(None, None)
    assert tiny_tutor.reply(ask, settings).text == base.text


def test_set_adapter_refuses_a_folder_that_is_not_a_complete_adapter(tiny_tutor: Tutor, tmp_path: Path) -> None:
    from learner.errors import GenerationError

    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(GenerationError, match="not a complete LoRA adapter"):
        tiny_tutor.set_adapter(tmp_path, 9)
    assert tiny_tutor.adapter_version is None


def test_ask_uses_the_active_adapter_by_default_and_adapter_chooses_another(
        tiny_model_dir: Path, data_dir: DataDir, db: Database, teacher) -> None:
    tiny_id = prepare_model(str(tiny_model_dir), data_dir).model_id
    for version, base_model in ((1, tiny_id), (2, "another-model")):
        path = noisy_adapter(tiny_model_dir, data_dir, data_dir.adapters_dir / f"v{version}", seed=version)
        adapters.register_adapter(db, version=version, base_model_id=base_model, path=str(path), n_examples=1,
                               n_heldout=0, n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate={},
                               gate_passed=True, gate_reason="All checks passed.", run_id=None, train_ids=[],
                               heldout_ids=[])
    ask = ["ask", "What is a fraction?", "--model", str(tiny_model_dir), "--max-new-tokens", "6",
           "--temperature", "0", "--device", "cpu"]
    base = tutorloop(*ask)
    assert base.returncode == 0, base.stderr
    assert "no adapter" in base.stderr
    adapters.promote(db, teacher, 1)
    active = tutorloop(*ask)
    assert active.returncode == 0 and "adapter v1" in active.stderr
    assert active.stdout != base.stdout
    none = tutorloop(*ask, "--adapter", "none")
    assert "no adapter" in none.stderr and none.stdout == base.stdout
    missing = tutorloop(*ask, "--adapter", "7")
    assert missing.returncode == 2 and "no adapter version 7" in missing.stderr   # a usage error

    # An adapter trained on another model is never applied: skipped when active, refused when chosen.
    adapters.promote(db, teacher, 2)
    other = tutorloop(*ask)
    assert other.returncode == 0 and "no adapter" in other.stderr and "trained on another-model" in other.stderr
    assert other.stdout == base.stdout
    chosen = tutorloop(*ask, "--adapter", "2")
    assert chosen.returncode == 2 and "trained on another-model" in chosen.stderr
    prompts = data_dir.root / "prompts.txt"
    prompts.write_text("What is a fraction?\n", encoding="utf-8")
    compared = tutorloop("adapters", "compare", "2", "--prompts", str(prompts), "--model", str(tiny_model_dir))
    assert compared.returncode == 1 and "trained on another-model" in compared.stderr


def test_the_entry_point_runs_data_parallel_under_torchrun(
        data_dir: DataDir, db: Database, approved: int, replay_file: Path, tiny_model_dir: Path) -> None:
    """Two CPU processes (gloo) stand in for a multi-GPU server: both train, rank 0 registers."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    cmd = [str(torchrun), "--nproc-per-node", "2", *adapt_cmd(tiny_model_dir, replay_file, "--set", "epochs=1",
                                                               "--set", "max_batch_examples=2")[1:]]
    proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"phase": "done"')]
    assert len(done) == 1 and done[0]["version"] == 1           # only rank 0 registers
    assert [a.version for a in adapters.list_adapters(db)] == [1]
    assert [r.status for r in adapters.list_runs(db)] == ["succeeded"]
