"""Adapter folders on disk, kept consistent with the `adapters` table.

    adapters/.partial-v7-<pid>/   being written (a crash leaves only this; a later round sweeps it)
    adapters/v7/                  complete: adapter_config.json, adapter_model.safetensors, recipe.json,
                                  tutorloop-owner.json (which database and run made it)

A version's folder appears by one atomic rename, and only then is its row written (with every file's
SHA-256); so every row points at a complete folder.

Deleting is the dangerous part, so it has three rules:
- only a round deletes, and only while this process holds the round lock (`sweep`, `prune`); looking
  at the registry (`adapters list`, the Adaptation window) never deletes anything;
- only folders this database owns: a stored path inside this data folder's adapters/ (never one
  outside it, as a copy of a data folder has, and never through a symbolic link);
- a version folder without a row goes only when its owner note names this database and one of its
  own runs that failed before registering it (killed between the rename and the row). A folder
  made for another database, or registered in a database that was since replaced by a backup, stays.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from storage import DataDir, Database
from storage import adapters as store
from storage import schedule as sched
from storage.adapter_files import OWNER_FILE, REQUIRED_FILES, read_owner
from storage.db import utcnow

_PARTIAL = re.compile(r"^\.partial-v(\d+)-(\d+)$")
_VERSION = re.compile(r"^v(\d+)$")

__all__ = ["REQUIRED_FILES", "AdapterRegistry", "Sweep"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    partials_removed: tuple[str, ...]
    runs_failed: tuple[int, ...]
    pruned: tuple[int, ...]
    # False when this process does not hold the round lock: runs were checked, no folder was touched.
    folders_checked: bool = True
    kept: tuple[str, ...] = ()          # folders without a row that are not provably ours: left alone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class AdapterRegistry:
    def __init__(self, data_dir: DataDir, db: Database) -> None:
        self.data_dir = data_dir
        self.db = db
        self.root = data_dir.adapters_dir

    def folder(self, version: int) -> Path:
        return self.root / f"v{version}"

    def next_version(self) -> int:
        """Above every registered version and every folder (even an orphan), so nothing is overwritten."""
        on_disk = [int(m.group(1)) for p in self.root.glob("*") if (m := _VERSION.match(p.name) or
                                                                      _PARTIAL.match(p.name))]
        return max([store.latest_version(self.db), *on_disk]) + 1

    def partial_folder(self, version: int, *, run_id: int | None = None) -> Path:
        """The folder a round saves version `version` into, created with its owner note (the run is
        this process's running one unless `run_id` names it)."""
        if run_id is None:
            rows = self.db.query("SELECT id FROM training_runs WHERE status = 'running' AND pid = ? "
                                 "ORDER BY id DESC LIMIT 1", (os.getpid(),))
            run_id = rows[0]["id"] if rows else None
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".partial-v{version}-{os.getpid()}"
        partial.mkdir(exist_ok=True)
        self._write_owner(partial, version, run_id)
        return partial

    def _write_owner(self, folder: Path, version: int, run_id: int | None) -> None:
        note = {"database_id": store.database_id(self.db), "run_id": run_id, "version": version,
                "pid": os.getpid(), "created_at": utcnow()}
        with open(folder / OWNER_FILE, "w", encoding="utf-8") as handle:
            json.dump(note, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self, partial: Path, version: int, *, run_id: int | None = None) -> Path:
        """Move a complete adapter into place in one rename (same file system: atomic)."""
        missing = [f for f in REQUIRED_FILES if not (partial / f).is_file()]
        if missing:
            raise FileNotFoundError(f"The adapter in {partial} is incomplete (missing {', '.join(missing)}).")
        owner = read_owner(partial)
        if owner is None or owner.get("version") != version or (run_id is not None and owner.get("run_id") != run_id):
            self._write_owner(partial, version, run_id if run_id is not None else (owner or {}).get("run_id"))
        final = self.folder(version)
        os.replace(partial, final)
        return final

    def discard_partial(self, partial: Path) -> None:
        shutil.rmtree(partial, ignore_errors=True)

    def holds_round_lock(self) -> bool:
        """True when this process holds the round lock: the only time folders may be deleted."""
        lock = sched.current_round_lock(self.db)
        return lock is not None and lock.pid == os.getpid() and lock.host == sched.this_host()

    def sweep(self, *, keep: int | None = None, host: str = "") -> Sweep:
        """Recover from crashes: runs still 'running' whose process died become failed. Inside a round
        (this process holds the round lock) also: partial folders of dead processes and version
        folders of this database's own failed runs go, and old versions are pruned (`keep`)."""
        failed = store.recover_stale_runs(self.db, host=host)
        if not self.holds_round_lock():
            return Sweep(partials_removed=(), runs_failed=tuple(r.id for r in failed), pruned=(),
                         folders_checked=False)
        removed: list[str] = []
        kept: list[str] = []
        known = {a.version for a in store.list_adapters(self.db)}
        ours = store.database_id(self.db)
        for path in sorted(self.root.iterdir()) if self.root.is_dir() and not self.root.is_symlink() else ():
            if path.is_symlink() or not path.is_dir():
                continue
            owner = read_owner(path)
            if partial := _PARTIAL.match(path.name):
                pid = int(partial.group(2))
                if pid == os.getpid() or _alive(pid):
                    continue
                if owner is not None and owner.get("database_id") == ours:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
                else:
                    kept.append(path.name)
            elif (m := _VERSION.match(path.name)) and int(m.group(1)) not in known:
                if self._left_by_own_failed_run(owner, int(m.group(1)), ours):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
                else:
                    kept.append(path.name)
        pruned = self.prune(keep) if keep is not None else []
        return Sweep(partials_removed=tuple(removed), runs_failed=tuple(r.id for r in failed), pruned=tuple(pruned),
                     kept=tuple(kept))

    def _left_by_own_failed_run(self, owner: dict | None, version: int, ours: str) -> bool:
        """A folder renamed into place by one of this database's runs that then died before
        registering it: the run is recorded here and ended without a version."""
        if owner is None or owner.get("database_id") != ours or owner.get("version") != version:
            return False
        run_id = owner.get("run_id")
        if not isinstance(run_id, int):
            return False
        rows = self.db.query("SELECT status, version FROM training_runs WHERE id = ?", (run_id,))
        return bool(rows) and rows[0]["status"] in ("failed", "cancelled") and rows[0]["version"] is None

    def prune(self, keep: int) -> list[int]:
        """Inside a round: delete the folders of all but the newest `keep` versions this database owns;
        the active one is never deleted. Rows stay (with deleted_at) so the history still shows every
        version and its figures. Outside a round (no lock held) nothing is deleted."""
        if not self.holds_round_lock():
            return []
        versions = [a for a in store.list_adapters(self.db) if a.deleted_at is None]  # newest first
        pruned = []
        for adapter in versions[keep:]:
            folder = store.owned_path(self.db, adapter)
            if adapter.status == "active" or folder is None:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            store.mark_folder_deleted(self.db, adapter.version)
            pruned.append(adapter.version)
        return pruned

    def path_of(self, version: int) -> Path:
        """The folder of `version`, checked against its manifest; AdapterUnusable (a FileNotFoundError
        too) when it is gone, incomplete or changed since it was registered."""
        adapter = store.get_adapter(self.db, version)
        if adapter.deleted_at is not None:
            raise store.AdapterUnusable(f"Adapter v{version}'s folder is gone ({adapter.path}); only the last "
                                        "versions are kept.")
        if problem := store.adapter_problem(adapter):
            raise store.AdapterUnusable(f"Adapter v{version} cannot be used: {problem}.")
        return Path(adapter.path)

    def active_path(self) -> tuple[int, Path] | None:
        active = store.active_adapter(self.db)
        if active is None:
            return None
        return active.version, self.path_of(active.version)
