"""Adapter folders on disk, as far as storage needs them: where a stored path points, which folders
this database owns, every file's SHA-256, and whether a folder still holds what was registered.

Paths are stored relative to the data folder ("adapters/v3"), so a data folder that is copied or
moved keeps working and a copy's rounds never reach into the original. A folder is *owned* by the
database only when its stored path is relative, stays inside `adapters/` and is no symbolic link;
nothing else is ever deleted.

The manifest (file name → size and SHA-256) is computed when a version is registered and stored
with its row; `folder_problem` compares the folder against it before a promotion and before the
tutor loads the active version. A folder edited, truncated or swapped after registration is
refused instead of being loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

ADAPTERS_FOLDER = "adapters"
REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Written into each folder by learner.adapt.registry: which database and run made it (it is not
# part of the manifest: it is written after the files are hashed).
OWNER_FILE = "tutorloop-owner.json"
_HASH_BLOCK = 1 << 20
# A safetensors header is a JSON table of tensor names, shapes and offsets: megabytes at most.
_MAX_SAFETENSORS_HEADER = 100 * 2**20

Manifest = dict[str, dict[str, Any]]


def data_root_of(db_path: Path) -> Path:
    """The data folder of the database at `db_path` (the folder that holds tutorloop.db)."""
    return Path(os.path.abspath(db_path)).parent


def stored_path(folder: Path, data_root: Path) -> str:
    """How a version's folder is stored: relative to the data folder when it lies inside it."""
    absolute = Path(os.path.abspath(folder))
    try:
        return absolute.relative_to(Path(os.path.abspath(data_root))).as_posix()
    except ValueError:
        return str(absolute)


def resolve(stored: str, data_root: Path) -> Path:
    """The folder a stored path names, absolute."""
    path = Path(stored)
    return path if path.is_absolute() else Path(os.path.abspath(data_root)) / path


def owned_folder(stored: str, data_root: Path) -> Path | None:
    """The folder, when this database owns it (a relative path inside adapters/, not a link out);
    None for anything else, which must never be deleted."""
    path = Path(stored)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != ADAPTERS_FOLDER:
        return None
    folder = resolve(stored, data_root)
    adapters = Path(os.path.abspath(data_root)) / ADAPTERS_FOLDER
    if folder.is_symlink() or adapters.is_symlink():
        return None
    try:
        folder.resolve().relative_to(adapters.resolve())
    except (ValueError, OSError):
        return None
    return folder


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def compute_manifest(folder: Path) -> Manifest:
    """Every regular file directly in `folder` (the PEFT layout is flat), with its size and SHA-256.
    The owner note is left out: it says who made the folder, not what the adapter is."""
    manifest: Manifest = {}
    for entry in sorted(folder.iterdir()):
        if entry.name == OWNER_FILE or entry.is_symlink() or not entry.is_file():
            continue
        manifest[entry.name] = {"size": entry.stat().st_size, "sha256": file_sha256(entry)}
    return manifest


def structure_problem(folder: Path) -> str | None:
    """Why `folder` is not a loadable LoRA adapter (None: it looks like one): the required files, a
    config that is a JSON object naming its PEFT type, a safetensors file whose header parses."""
    if folder.is_symlink() or not folder.is_dir():
        return f"its folder {folder} is missing"
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing from {folder}"
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return f"adapter_config.json in {folder} is not valid JSON"
    if not isinstance(config, dict) or not isinstance(config.get("peft_type"), str):
        return f"adapter_config.json in {folder} is not a PEFT adapter configuration (no peft_type)"
    weights = folder / "adapter_model.safetensors"
    try:
        size = weights.stat().st_size
        with weights.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"adapter_model.safetensors in {folder} is truncated"
            (header_len,) = struct.unpack("<Q", head)
            if header_len > min(_MAX_SAFETENSORS_HEADER, size - 8):
                return f"adapter_model.safetensors in {folder} is truncated or not a safetensors file"
            header = json.loads(handle.read(header_len))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return f"adapter_model.safetensors in {folder} is not a safetensors file"
    if not isinstance(header, dict):
        return f"adapter_model.safetensors in {folder} is not a safetensors file"
    return None


def folder_problem(folder: Path, manifest: Manifest | None) -> str | None:
    """Why the adapter in `folder` must not be used (None: it is what was registered). Without a
    manifest (a row from before manifests that the migration could not hash) nothing can be verified,
    and that is a problem too."""
    if problem := structure_problem(folder):
        return problem
    if not manifest:
        return f"no file manifest was recorded for {folder}, so its files cannot be verified"
    for name, expected in sorted(manifest.items()):
        path = folder / name
        if path.is_symlink() or not path.is_file():
            return f"{name} is missing from {folder}"
        if path.stat().st_size != expected.get("size"):
            return f"{name} in {folder} has changed size since the version was registered"
        if file_sha256(path) != expected.get("sha256"):
            return f"{name} in {folder} has changed since the version was registered (SHA-256 differs)"
    return None


def read_owner(folder: Path) -> dict[str, Any] | None:
    """The owner note of a folder (database id, run id, version), or None when absent or unreadable."""
    try:
        data = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
