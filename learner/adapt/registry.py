"""Adapter folders on disk, kept consistent with the `adapters` table.

    adapters/.partial-v7-<pid>/   being written (a crash leaves only this; it is swept later)
    adapters/v7/                  complete: adapter_config.json, adapter_model.safetensors, recipe.json

A version's folder appears by one atomic rename, and only then is its row written; so every row
points at a complete folder, and a folder without a row (a crash between the two) is swept too.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from storage import DataDir, Database
from storage import adapters as store

_PARTIAL = re.compile(r"^\.partial-v(\d+)-(\d+)$")
_VERSION = re.compile(r"^v(\d+)$")
REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    partials_removed: tuple[str, ...]
    runs_failed: tuple[int, ...]
    pruned: tuple[int, ...]


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

    def partial_folder(self, version: int) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".partial-v{version}-{os.getpid()}"

    def commit(self, partial: Path, version: int) -> Path:
        """Move a complete adapter into place in one rename (same file system: atomic)."""
        missing = [f for f in REQUIRED_FILES if not (partial / f).is_file()]
        if missing:
            raise FileNotFoundError(f"The adapter in {partial} is incomplete (missing {', '.join(missing)}).")
        final = self.folder(version)
        os.replace(partial, final)
        return final

    def discard_partial(self, partial: Path) -> None:
        shutil.rmtree(partial, ignore_errors=True)

    def sweep(self, *, keep: int | None = None, host: str = "") -> Sweep:
        """Recover from crashes: runs still 'running' whose process died become failed; partial folders
        of dead processes and version folders without a row go; old versions are pruned (`keep`)."""
        failed = store.recover_stale_runs(self.db, host=host)
        removed = []
        known = {a.version for a in store.list_adapters(self.db)}
        # A live round renames its folder a moment before it registers it: leave version folders
        # alone while any round is still running.
        round_running = any(r.status == "running" for r in store.list_runs(self.db, limit=20))
        for path in self.root.glob("*") if self.root.is_dir() else ():
            partial = _PARTIAL.match(path.name)
            if partial and int(partial.group(2)) != os.getpid() and not _alive(int(partial.group(2))):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
            elif (m := _VERSION.match(path.name)) and int(m.group(1)) not in known and not round_running:
                # Renamed into place but never registered (killed between the two steps).
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        pruned = self.prune(keep) if keep is not None else []
        return Sweep(partials_removed=tuple(removed), runs_failed=tuple(r.id for r in failed), pruned=tuple(pruned))

    def prune(self, keep: int) -> list[int]:
        """Delete the folders of all but the newest `keep` versions; the active one is never deleted.
        Rows stay (with deleted_at) so the history still shows every version and its figures."""
        versions = [a for a in store.list_adapters(self.db) if a.deleted_at is None]  # newest first
        pruned = []
        for adapter in versions[keep:]:
            if adapter.status == "active":
                continue
            shutil.rmtree(adapter.path, ignore_errors=True)
            store.mark_folder_deleted(self.db, adapter.version)
            pruned.append(adapter.version)
        return pruned

    def path_of(self, version: int) -> Path:
        adapter = store.get_adapter(self.db, version)
        path = Path(adapter.path)
        if adapter.deleted_at is not None or not all((path / f).is_file() for f in REQUIRED_FILES):
            raise FileNotFoundError(f"Adapter v{version}'s folder is gone ({path}); only the last versions are kept.")
        return path

    def active_path(self) -> tuple[int, Path] | None:
        active = store.active_adapter(self.db)
        if active is None:
            return None
        return active.version, self.path_of(active.version)
