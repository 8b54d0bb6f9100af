"""Writing into a shared folder that a sync tool (Syncthing, OneDrive, a network drive) carries:
every file appears whole, by one rename of a fsynced temporary file, and an existing file is never
replaced unless its one writer says so (`replace=True`: a desktop's own status file)."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from storage.errors import StorageError
from storage.safe_write import sync_folder

TEMP_PREFIX = ".tmp-"


def write_new(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write `data` to `path` as one whole file. Without `replace`, False (and nothing written) when
    `path` already exists: the caller picks the next name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}-{path.name}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)        # fails when the name is taken: two writers never clash
            except FileExistsError:
                return False
            except OSError:               # a file system without hard links (FAT, some shares)
                if path.exists():
                    return False
                os.rename(temp, path)
        sync_folder(path.parent)
        return True
    except OSError as exc:
        raise StorageError(f"Cannot write {path} ({exc.strerror or exc}). Check that the class folder is "
                           "reachable and writable.") from None
    finally:
        try:
            temp.unlink()
        except OSError:
            pass


def write_json(path: Path, obj: dict[str, Any], *, replace: bool = False) -> bool:
    return write_new(path, (json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode("utf-8"),
                     replace=replace)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is missing or not (yet) whole JSON."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
