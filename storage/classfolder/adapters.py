"""Adapters out: the teacher's desktop publishes the active version, signed; student desktops
verify it with the pinned key, copy it in and make it their active version.

    adapters/v7/<every file of the version folder>      adapter_config.json, adapter_model.safetensors,
                                                        recipe.json, adapter.gguf when there is one, …
    adapters/v7/tutorloop-class-manifest.json           signed: class, version, model, every file's
                                                        size and SHA-256, the gate's verdict and figures
    active/00000003.json                                signed: {"seq": 3, "version": 7 | null}

The highest "active" record whose signature checks is what the class uses (null: the base model);
a rollback or "use the base model" writes a new record. A version whose files do not match its
signed manifest (still syncing, or changed) is refused and the desktop keeps its current adapter.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import adapters as versions
from storage import audit
from storage.adapter_files import (
    OWNER_FILE,
    REQUIRED_FILES,
    compute_manifest,
    data_root_of,
    file_sha256,
)
from storage.classfolder import keys
from storage.classfolder.files import read_json, write_json
from storage.classfolder.membership import Membership, key_path, require_membership
from storage.classfolder.signed import append_signed, newest_signed, record_files
from storage.db import Database, utcnow
from storage.errors import StorageError, ValidationError

ADAPTERS = "adapters"
ACTIVE = "active"
MANIFEST = "tutorloop-class-manifest.json"
_VERSION = re.compile(r"^v(\d+)$")
KEEP_PUBLISHED = 5          # versions kept in the class folder: the newest published ones (a rollback further
                            # back publishes that version again from the teacher's desktop)
_BLOCK = 1 << 20


class AdapterRefused(ValidationError):
    """A published adapter was not taken: unsigned, changed, for another model, or not whole yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishReport:
    version: int | None          # what the class now uses (None: the base model)
    published: bool              # False: the folder already said so
    seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PickUp:
    version: int | None          # the class's version this desktop now uses (None: the base model)
    changed: bool                # True: a new version (or the base model) was taken in; hot-swap
    refused: str | None = None   # why the published state was not taken (the current adapter stays)


# -- active records ----------------------------------------------------------------------------

def published_state(member: Membership) -> tuple[int, dict[str, Any]] | None:
    """(seq, record) of the newest validly signed "active" record of this class, or None."""
    return newest_signed(member, ACTIVE)


# -- teacher: publish --------------------------------------------------------------------------

def _copy_file(source: Path, target: Path) -> None:
    with source.open("rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst, _BLOCK)
        dst.flush()
        os.fsync(dst.fileno())


def _publish_version(member: Membership, key: Any, adapter: versions.AdapterVersion) -> None:
    target = member.folder / ADAPTERS / f"v{adapter.version}"
    if (target / MANIFEST).is_file():
        return
    source = Path(adapter.path)
    if problem := versions.adapter_problem(adapter):
        raise StorageError(f"Adapter v{adapter.version} cannot be published: {problem}.")
    partial = member.folder / ADAPTERS / f".tmp-v{adapter.version}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for entry in sorted(source.iterdir()):
            if entry.name != OWNER_FILE and entry.is_file() and not entry.is_symlink():
                _copy_file(entry, partial / entry.name)
        files = compute_manifest(partial)
        manifest = {"format": 1, "class_id": member.class_id, "version": adapter.version,
                    "model_id": adapter.base_model_id, "files": files, "gate_passed": adapter.gate_passed,
                    "gate_reason": adapter.gate_reason, "gate": adapter.gate, "metrics": adapter.metrics,
                    "promoted_by": adapter.promoted_by_name, "published_at": utcnow()}
        if not write_json(partial / MANIFEST, keys.sign(key, manifest)):
            raise StorageError(f"Could not write the manifest of v{adapter.version}.")
        if target.exists():            # an earlier attempt that died before its manifest: replace it
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def publish(db: Database) -> PublishReport:
    """Make the class folder say what this (the teacher's) desktop uses: the active version's files
    and signed manifest, then a signed "active" record; nothing when it already says so. A promotion,
    a rollback and "use the base model" were each a teacher's action (checked in storage.adapters);
    this mirrors their result with the class key."""
    member = require_membership(db)
    if not member.is_teacher:
        raise ValidationError("Only the teacher's desktop publishes adapters to the class.")
    active = versions.active_adapter(db)
    wanted = active.version if active else None
    current = published_state(member)
    if current is not None and current[1].get("version") == wanted and (
            wanted is None or (member.folder / ADAPTERS / f"v{wanted}" / MANIFEST).is_file()):
        return PublishReport(version=wanted, published=False, seq=current[0])
    key = keys.load_key(key_path(db, member.class_id))
    if active is not None:
        _publish_version(member, key, active)
    seq = append_signed(member, key, ACTIVE, {"version": wanted, "issued_at": utcnow(),
                                              "model_id": active.base_model_id if active else member.model_id})
    audit.record(db, None, "class.publish", target=f"v{wanted}" if wanted else "base", details={"seq": seq})
    _prune(member)
    return PublishReport(version=wanted, published=True, seq=seq)


def _prune(member: Membership, keep: int = KEEP_PUBLISHED) -> list[int]:
    """Delete the class folder's copies of versions older than the newest `keep` that active records
    named (the teacher's desktop is their only writer); the one in use now always stays."""
    named: list[int] = []
    for _, path in record_files(member.folder / ACTIVE):          # newest first
        data = read_json(path)
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int) and version not in named:
            named.append(version)
    kept = set(named[:keep])
    removed = []
    root = member.folder / ADAPTERS
    for folder in list(root.iterdir()) if root.is_dir() else ():
        found = _VERSION.match(folder.name)
        if found and int(found.group(1)) not in kept and not folder.is_symlink() and named:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(int(found.group(1)))
    return sorted(removed)


# -- student: verify and take in ---------------------------------------------------------------

def verify_version(member: Membership, version: int) -> dict[str, Any]:
    """The signed manifest of `version` in the class folder, every file checked against it; raises
    AdapterRefused saying why not (the caller keeps the current adapter)."""
    folder = member.folder / ADAPTERS / f"v{version}"
    data = read_json(folder / MANIFEST)
    if data is None:
        raise AdapterRefused(f"Adapter v{version} is not in the class folder yet (no manifest); it may still be "
                             "syncing. The current adapter stays.")
    try:
        body = keys.verify(member.teacher_public_key, data, what=f"The manifest of v{version}")
    except keys.BadSignature as exc:
        raise AdapterRefused(f"{exc} The current adapter stays.") from None
    if body.get("class_id") != member.class_id or body.get("version") != version:
        raise AdapterRefused(f"The manifest in {folder} is for another class or version; it was refused.")
    if body.get("model_id") != member.model_id:
        raise AdapterRefused(f"Adapter v{version} was trained on {body.get('model_id')}, but this class uses "
                             f"{member.model_id}; it was refused. The current adapter stays.")
    files = body.get("files")
    if not isinstance(files, dict) or not all(f in files for f in REQUIRED_FILES):
        raise AdapterRefused(f"The manifest of v{version} lists no complete adapter; it was refused.")
    for name, expected in sorted(files.items()):
        path = folder / name
        if "/" in name or "\\" in name or name.startswith(".") or name in (MANIFEST, OWNER_FILE):
            raise AdapterRefused(f"The manifest of v{version} names a file it may not ({name!r}); it was refused.")
        if path.is_symlink() or not path.is_file() or path.stat().st_size < expected.get("size", 0):
            raise AdapterRefused(f"Adapter v{version} is only partly in the class folder ({name} is missing or still "
                                 "being copied); it will be taken once it has synced. The current adapter stays.")
        if path.stat().st_size != expected.get("size") or file_sha256(path) != expected.get("sha256"):
            raise AdapterRefused(f"{name} of adapter v{version} does not match the teacher's signed manifest "
                                 "(changed after it was published); it was refused. The current adapter stays.")
    return body


def _local(db: Database, version: int) -> versions.AdapterVersion | None:
    try:
        return versions.get_adapter(db, version)
    except Exception:  # noqa: BLE001 - NotFoundError: this desktop has no such version
        return None


def _copy_in(db: Database, member: Membership, manifest: dict[str, Any]) -> Path:
    """The version's files copied into this data folder's adapters/vN (through a partial folder that
    the registry's sweep recognises), each checked again after the copy."""
    version = manifest["version"]
    root = data_root_of(Path(db.path)) / ADAPTERS
    final = root / f"v{version}"
    partial = root / f".partial-v{version}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for name, expected in sorted(manifest["files"].items()):
            try:
                _copy_file(member.folder / ADAPTERS / f"v{version}" / name, partial / name)
            except OSError as exc:     # gone meanwhile (a newer publication pruned it), or the share dropped
                raise AdapterRefused(f"{name} of adapter v{version} could not be copied ({exc.strerror or exc}); "
                                     "it will be tried again at the next sync. The current adapter stays.") from None
            if file_sha256(partial / name) != expected["sha256"]:
                raise AdapterRefused(f"{name} of adapter v{version} changed while it was copied; it will be tried "
                                     "again at the next sync. The current adapter stays.")
        owner = {"database_id": versions.database_id(db), "run_id": None, "version": version, "pid": os.getpid(),
                 "created_at": utcnow(), "class_id": member.class_id}
        (partial / OWNER_FILE).write_text(json.dumps(owner, sort_keys=True), encoding="utf-8")
        if final.exists():
            raise AdapterRefused(f"This desktop already has a folder {final} that is not the class's v{version}; "
                                 "move it away and sync again. The current adapter stays.")
        os.replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _activate(db: Database, member: Membership, manifest: dict[str, Any], folder: Path | None) -> None:
    version = manifest["version"]
    with db.transaction():
        if folder is not None:
            db.conn.execute(
                "INSERT INTO adapters (version, status, created_at, base_model_id, path, manifest, n_examples, "
                "n_heldout, n_replay, examples_approved_until, recipe, metrics, gate, gate_passed, gate_reason, "
                "run_id) VALUES (?, 'retired', ?, ?, ?, ?, 0, 0, 0, NULL, '{}', ?, ?, ?, ?, NULL)",
                (version, utcnow(), manifest["model_id"], f"{ADAPTERS}/v{version}",
                 json.dumps(compute_manifest(folder), sort_keys=True),
                 json.dumps(manifest.get("metrics") or {}, sort_keys=True),
                 json.dumps(manifest.get("gate") or {}, sort_keys=True), int(bool(manifest.get("gate_passed"))),
                 str(manifest.get("gate_reason") or "")))
        db.conn.execute("UPDATE adapters SET status = 'retired' WHERE status = 'active'")
        db.conn.execute("UPDATE adapters SET status = 'active', promoted_at = ?, promoted_by_name = ? WHERE version = ?",
                        (utcnow(), f"class {member.name} ({manifest.get('promoted_by') or member.teacher_name})",
                         version))
        audit.record(db, None, "class.adapter", target=f"v{version}",
                     details={"class_id": member.class_id, "fingerprint": member.fingerprint})


def _use_base(db: Database, member: Membership) -> bool:
    if versions.active_adapter(db) is None:
        return False
    with db.transaction():
        db.conn.execute("UPDATE adapters SET status = 'retired' WHERE status = 'active'")
        audit.record(db, None, "class.adapter", target="base", details={"class_id": member.class_id})
    return True


def pick_up(db: Database) -> PickUp:
    """On a student desktop: take in what the class folder says is active, when its signature and
    files check; otherwise keep the current adapter and say why."""
    member = require_membership(db)
    if member.is_teacher:
        raise ValidationError("The teacher's desktop publishes adapters; it does not take them in.")
    state = published_state(member)
    active = versions.active_adapter(db)
    current = active.version if active else None
    if state is None:
        refused = None
        if record_files(member.folder / ACTIVE):
            refused = ("No record in the class folder's active/ carries the teacher's signature; they were refused. "
                       "The current adapter stays.")
        return PickUp(version=current, changed=False, refused=refused)
    wanted = state[1].get("version")
    if wanted is None:
        return PickUp(version=None, changed=_use_base(db, member))
    if not isinstance(wanted, int):
        return PickUp(version=current, changed=False, refused="The class's active record names no version.")
    local = _local(db, wanted)
    if current == wanted and local is not None and versions.adapter_problem(local) is None:
        return PickUp(version=wanted, changed=False)
    try:
        manifest = verify_version(member, wanted)
        if local is not None:
            if local.manifest is None or any(local.manifest.get(n, {}).get("sha256") != f["sha256"]
                                             for n, f in manifest["files"].items()):
                raise AdapterRefused(f"This desktop has its own adapter v{wanted}, not the class's; the class's "
                                     "cannot be taken in. The current adapter stays.")
            if versions.adapter_problem(local) is not None:
                raise AdapterRefused(f"This desktop's copy of v{wanted} is damaged; remove adapters/v{wanted} and "
                                     "sync again. The current adapter stays.")
            folder = None
        else:
            folder = _copy_in(db, member, manifest)
        _activate(db, member, manifest, folder)
    except AdapterRefused as exc:
        return PickUp(version=current, changed=False, refused=str(exc))
    return PickUp(version=wanted, changed=True)

