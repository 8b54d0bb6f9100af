"""`tutorloop adapters list` checks every version's files against its manifest: a missing or changed
active adapter is reported (students get the base model), in the table and in --json's "problem"."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from storage import Database, DataDir
from storage import adapters as store
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter
from tests.support.cli import tutorloop


def register(db: Database, folder: Path, version: int) -> None:
    write_fake_adapter(folder, seed=version)
    store.register_adapter(
        db, version=version, base_model_id="tiny", path=str(folder), n_examples=1, n_heldout=0, n_replay=0,
        examples_approved_until=None, recipe={}, metrics={}, gate={}, gate_passed=True,
        gate_reason="All checks passed.", run_id=None, train_ids=[], heldout_ids=[])


def test_changed_and_missing_adapter_files_are_shown(db: Database, data_dir: DataDir, teacher: User) -> None:
    register(db, data_dir.adapters_dir / "v1", 1)
    register(db, data_dir.adapters_dir / "v2", 2)
    store.promote(db, teacher, 2)
    healthy = tutorloop("adapters", "list", "--json", home=data_dir.root)
    assert healthy.returncode == 0, healthy.stderr
    assert [a["problem"] for a in json.loads(healthy.stdout)] == [None, None]
    assert "base model" not in healthy.stderr

    weights = data_dir.adapters_dir / "v2" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF                                             # same size, different weights
    weights.write_bytes(bytes(data))
    shutil.rmtree(data_dir.adapters_dir / "v1")
    listed = tutorloop("adapters", "list", "--json", home=data_dir.root)
    assert listed.returncode == 0, listed.stderr
    problems = {a["version"]: a["problem"] for a in json.loads(listed.stdout)}
    assert problems[1] and problems[2] and "adapter_model.safetensors" in problems[2]
    assert "active adapter v2 cannot be used" in listed.stderr and "base model" in listed.stderr

    table = tutorloop("adapters", "list", home=data_dir.root)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("! files:") == 2 and problems[2] in table.stdout
    assert "active adapter v2 cannot be used" in table.stderr
    assert (data_dir.adapters_dir / "v2").is_dir()              # listing reports; it never deletes
