"""Adapter folders: stored relative to the data folder, deleted only by a round under the round lock
and only when this database owns them, verified file by file before promotion and before use."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from learner.adapt.registry import AdapterRegistry
from storage import DataDir, Database
from storage import adapters as store
from storage import schedule as sched
from storage.adapter_files import OWNER_FILE
from storage.db import migrations
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter


def register(db: Database, folder: Path, version: int, *, passed: bool = True) -> store.AdapterVersion:
    write_fake_adapter(folder, seed=version)
    return store.register_adapter(
        db, version=version, base_model_id="tiny", path=str(folder), n_examples=1, n_heldout=0, n_replay=0,
        examples_approved_until=None, recipe={}, metrics={}, gate={}, gate_passed=passed,
        gate_reason="All checks passed.", run_id=None, train_ids=[], heldout_ids=[])


def made_by_a_round(db: Database, data_dir: DataDir, version: int) -> Path:
    """What a round leaves: an owner note naming this database and its run, then the rename."""
    registry = AdapterRegistry(data_dir, db)
    run = store.start_run(db, trigger="cli")
    partial = registry.partial_folder(version, run_id=run.id)
    write_fake_adapter(partial, seed=version)
    final = registry.commit(partial, version, run_id=run.id)
    register(db, final, version)
    store.finish_run(db, run.id, status="succeeded", version=version)
    return final


def test_paths_are_stored_relative_to_the_data_folder(db: Database, data_dir: DataDir, tmp_path: Path) -> None:
    inside = register(db, data_dir.adapters_dir / "v1", 1)
    outside = register(db, tmp_path / "elsewhere" / "v2", 2)
    rows = {r["version"]: r["path"] for r in db.query("SELECT version, path FROM adapters")}
    assert rows == {1: "adapters/v1", 2: str(tmp_path / "elsewhere" / "v2")}
    assert inside.path == str(data_dir.adapters_dir / "v1") and inside.stored_path == "adapters/v1"
    assert store.owned_path(db, inside) == data_dir.adapters_dir / "v1"
    assert store.owned_path(db, outside) is None                       # never ours to delete


def test_listing_after_the_database_was_moved_aside_deletes_nothing(data_dir: DataDir) -> None:
    with Database(data_dir.db_path) as first:
        for version in (1, 2, 3):
            made_by_a_round(first, data_dir, version)
    os.replace(data_dir.db_path, data_dir.root / "tutorloop.db.moved")
    shutil.rmtree(data_dir.backups_dir, ignore_errors=True)   # a fresh start, as the old advice said
    with Database(data_dir.db_path) as fresh:
        listed = AdapterRegistry(data_dir, fresh).sweep()          # what `adapters list` does
        assert not listed.folders_checked and listed.partials_removed == ()
        # Even a round in the fresh database (it holds the lock) leaves another database's folders.
        lock = sched.acquire_round_lock(fresh, trigger="cli")
        in_round = AdapterRegistry(data_dir, fresh).sweep(keep=1)
        sched.release_round_lock(fresh, lock.holder)
    assert in_round.partials_removed == () and sorted(in_round.kept) == ["v1", "v2", "v3"]
    assert sorted(p.name for p in data_dir.adapters_dir.iterdir()) == ["v1", "v2", "v3"]


def test_listing_never_deletes_even_dead_partials_and_orphans(db: Database, data_dir: DataDir) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data_dir.adapters_dir / f".partial-v3-{dead.pid}").mkdir()
    (data_dir.adapters_dir / "v9").mkdir()
    sweep = AdapterRegistry(data_dir, db).sweep()
    assert not sweep.folders_checked and sweep.partials_removed == ()
    assert sorted(p.name for p in data_dir.adapters_dir.iterdir()) == [f".partial-v3-{dead.pid}", "v9"]


def test_a_round_sweeps_only_what_its_own_database_left_behind(db: Database, data_dir: DataDir) -> None:
    registry = AdapterRegistry(data_dir, db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # Killed between the rename and the row: this database's run, now failed, no version registered.
    crashed = store.start_run(db, trigger="cli", pid=dead.pid)
    left = write_fake_adapter(data_dir.adapters_dir / ".staging")
    (left / OWNER_FILE).write_text(json.dumps({"database_id": store.database_id(db), "run_id": crashed.id,
                                               "version": 4}))
    os.replace(left, data_dir.adapters_dir / "v4")
    own_partial = data_dir.adapters_dir / f".partial-v5-{dead.pid}"
    own_partial.mkdir()
    (own_partial / OWNER_FILE).write_text(json.dumps({"database_id": store.database_id(db), "run_id": crashed.id,
                                                      "version": 5}))
    foreign = write_fake_adapter(data_dir.adapters_dir / "v7")          # another database's (a restored backup)
    (foreign / OWNER_FILE).write_text(json.dumps({"database_id": "someone-else", "run_id": 1, "version": 7}))
    unmarked = write_fake_adapter(data_dir.adapters_dir / "v8")         # no note at all
    lock = sched.acquire_round_lock(db, trigger="cli")
    try:
        sweep = registry.sweep()
    finally:
        sched.release_round_lock(db, lock.holder)
    assert crashed.id in sweep.runs_failed
    assert sorted(sweep.partials_removed) == [f".partial-v5-{dead.pid}", "v4"]
    assert sorted(sweep.kept) == ["v7", "v8"] and foreign.is_dir() and unmarked.is_dir()


def test_a_round_in_a_copy_of_the_data_folder_never_prunes_the_original(tmp_path: Path, teacher: User,
                                                                        db: Database, data_dir: DataDir) -> None:
    for version in range(1, 7):
        made_by_a_round(db, data_dir, version)
    db.close()
    copy = DataDir(tmp_path / "copy")
    shutil.copytree(data_dir.root, copy.root)
    with Database(copy.db_path) as copied:
        # The copy's rows as older versions wrote them: absolute paths into the original.
        with copied.transaction() as t:
            for version in range(1, 7):
                t.execute("UPDATE adapters SET path = ? WHERE version = ?",
                          [str(data_dir.adapters_dir / f"v{version}"), version])
        lock = sched.acquire_round_lock(copied, trigger="cli")
        pruned = AdapterRegistry(copy, copied).prune(keep=2)
        sched.release_round_lock(copied, lock.holder)
    assert pruned == []
    assert sorted(p.name for p in data_dir.adapters_dir.iterdir()) == [f"v{v}" for v in range(1, 7)]


def test_prune_outside_a_round_deletes_nothing(db: Database, data_dir: DataDir) -> None:
    for version in range(1, 5):
        register(db, data_dir.adapters_dir / f"v{version}", version)
    assert AdapterRegistry(data_dir, db).prune(keep=1) == []
    lock = sched.acquire_round_lock(db, trigger="cli")
    assert sorted(AdapterRegistry(data_dir, db).prune(keep=1)) == [1, 2, 3]
    sched.release_round_lock(db, lock.holder)
    assert [p.name for p in data_dir.adapters_dir.iterdir()] == ["v4"]


def test_a_symlinked_version_folder_is_never_deleted_through(db: Database, data_dir: DataDir,
                                                             tmp_path: Path) -> None:
    victim = write_fake_adapter(tmp_path / "victim")
    (data_dir.adapters_dir / "v1").symlink_to(victim, target_is_directory=True)
    register(db, data_dir.adapters_dir / "v1", 1)
    register(db, data_dir.adapters_dir / "v2", 2)
    lock = sched.acquire_round_lock(db, trigger="cli")
    assert AdapterRegistry(data_dir, db).prune(keep=1) == []
    sched.release_round_lock(db, lock.holder)
    assert (victim / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("damage", ["safetensors missing", "config invalid", "weights changed", "folder gone"])
def test_promotion_verifies_every_file_against_the_manifest(db: Database, data_dir: DataDir, teacher: User,
                                                            damage: str) -> None:
    folder = register(db, data_dir.adapters_dir / "v1", 1).path
    weights = Path(folder) / "adapter_model.safetensors"
    if damage == "safetensors missing":
        weights.unlink()
    elif damage == "config invalid":
        (Path(folder) / "adapter_config.json").write_text("{not json")
    elif damage == "weights changed":
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF                                         # same size, one bit pattern changed
        weights.write_bytes(bytes(data))
    else:
        shutil.rmtree(folder)
    with pytest.raises(store.AdapterUnusable, match="cannot be|gone"):
        store.promote(db, teacher, 1)
    assert store.active_adapter(db) is None


def test_a_missing_or_damaged_active_adapter_is_reported_for_the_base_model_fallback(
        db: Database, data_dir: DataDir, teacher: User) -> None:
    register(db, data_dir.adapters_dir / "v1", 1)
    store.promote(db, teacher, 1)
    healthy = store.check_active(db)
    assert healthy is not None and healthy.usable and healthy.notice is None
    (data_dir.adapters_dir / "v1" / "adapter_model.safetensors").write_bytes(b"\x00" * 12)
    damaged = store.check_active(db)
    assert damaged is not None and not damaged.usable
    assert "v1" in damaged.notice and "base model" in damaged.notice
    shutil.rmtree(data_dir.adapters_dir / "v1")
    gone = store.check_active(db)
    assert gone is not None and "missing" in gone.problem
    with pytest.raises(FileNotFoundError, match="cannot be used"):    # what ask/AdapterSync already catch
        AdapterRegistry(data_dir, db).active_path()


def test_migration_makes_paths_inside_the_data_folder_relative(data_dir: DataDir, tmp_path: Path) -> None:
    """A database from before 0009 stored absolute paths: those inside its data folder become
    relative and get a manifest; one outside stays absolute (and is never deleted)."""
    raw = sqlite3.connect(data_dir.db_path, isolation_level=None)
    for version, _name, sql in migrations()[:8]:
        raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    inside = write_fake_adapter(data_dir.adapters_dir / "v1")
    outside = write_fake_adapter(tmp_path / "elsewhere" / "v2")
    for version, path in ((1, inside), (2, outside)):
        raw.execute("INSERT INTO adapters (version, created_at, base_model_id, path) VALUES (?, '2026-01-01', 'm', ?)",
                    (version, str(path)))
    raw.close()
    with Database(data_dir.db_path) as db:
        rows = {r["version"]: (r["path"], r["manifest"]) for r in db.query("SELECT * FROM adapters")}
        assert rows[1][0] == "adapters/v1" and rows[2][0] == str(outside)
        assert set(json.loads(rows[1][1])) == {"adapter_config.json", "adapter_model.safetensors", "recipe.json"}
        assert store.adapter_problem(store.get_adapter(db, 1)) is None
