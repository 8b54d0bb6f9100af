"""Training elsewhere: the teacher publishes the approved examples to the class folder, signed; a
machine with a GPU that joined the class (pinning the key) takes them in, trains a round, and writes
its candidate back; the teacher's desktop imports the candidate, which only a teacher can promote
(and only the teacher's key then signs it for the class).

    examples/00000002.jsonl        every approved example, in the export's "messages" format
    examples/00000002.json         signed: {"class_id", "seq", "sha256", "count", "model_id", "issued_at"}
    candidates/<device id>-v3/     a candidate's files + candidate.json (unsigned: its files' SHA-256,
                                   model, gate verdict and figures, which examples it was trained on)
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import adapters as versions
from storage import audit, chat
from storage.adapter_files import (
    OWNER_FILE,
    REQUIRED_FILES,
    compute_manifest,
    data_root_of,
    file_sha256,
)
from storage.classfolder import keys
from storage.classfolder.adapters import AdapterRefused, _copy_file
from storage.classfolder.files import read_json, write_json, write_new
from storage.classfolder.membership import (
    Membership,
    is_device_id,
    key_path,
    require_membership,
)
from storage.db import Database, utcnow
from storage.errors import StorageError, ValidationError
from storage.exchange import example_record
from storage.prompt_store import PromptWriter, collect_garbage, content_hash_of, pair_of
from storage.review import list_examples, validate_prompt
from storage.users import User, require_teacher

EXAMPLES = "examples"
CANDIDATES = "candidates"
CANDIDATE_FILE = "candidate.json"
SOURCE_PREFIX = "class-examples:"           # training_examples.source_ref of examples taken from the class
_IMPORTED_SETTING = "class.candidates_imported"
_RECORD = re.compile(r"^(\d{8})\.json$")
_CANDIDATE = re.compile(r"^([0-9a-f]{32})-v(\d+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExamplesTaken:
    seq: int
    count: int
    added: int
    removed: int


# -- the teacher publishes examples ----------------------------------------------------------------

def publish_examples(db: Database, actor: User) -> int:
    """Every approved example into the class folder with a signed manifest (teacher-only: the
    students' approved exchanges leave this desktop). Returns the record's number."""
    teacher = require_teacher(actor, db)
    member = require_membership(db)
    if not member.is_teacher:
        raise ValidationError("Only the teacher's desktop publishes the class's examples.")
    examples = list_examples(db)
    body = "".join(json.dumps(example_record(e, "messages"), ensure_ascii=False, sort_keys=True) + "\n"
                   for e in examples).encode("utf-8")
    key = keys.load_key(key_path(db, member.class_id))
    root = member.folder / EXAMPLES
    seq = max([0, *(int(m.group(1)) for p in _listing(root) if (m := _RECORD.match(p.name)))]) + 1
    while not write_new(root / f"{seq:08d}.jsonl", body):
        seq += 1
    record = {"class_id": member.class_id, "seq": seq, "sha256": hashlib.sha256(body).hexdigest(),
              "count": len(examples), "model_id": member.model_id, "issued_at": utcnow()}
    if not write_json(root / f"{seq:08d}.json", keys.sign(key, record)):
        raise StorageError(f"{root / f'{seq:08d}.json'} appeared meanwhile; publish again.")
    audit.record(db, teacher, "class.publish_examples", target=member.class_id, details={"seq": seq,
                                                                                       "count": len(examples)})
    return seq


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


# -- the training machine takes them in ------------------------------------------------------------

def _newest_examples(member: Membership) -> tuple[dict[str, Any], bytes]:
    root = member.folder / EXAMPLES
    for path in sorted((p for p in _listing(root) if _RECORD.match(p.name)), reverse=True):
        try:
            body = keys.verify(member.teacher_public_key, read_json(path), what=str(path))
        except keys.BadSignature:
            continue
        if body.get("class_id") != member.class_id:
            continue
        try:
            data = (root / f"{body['seq']:08d}.jsonl").read_bytes()
        except (OSError, KeyError, TypeError, ValueError):
            raise ValidationError(f"The examples of {path.name} are not in the class folder yet; wait for the sync "
                                  "tool, then try again.") from None
        if hashlib.sha256(data).hexdigest() != body.get("sha256"):
            raise ValidationError(f"The examples of {path.name} do not match the teacher's signed manifest (still "
                                  "syncing, or changed); nothing was trained.")
        return body, data
    raise ValidationError("The teacher has not published examples to the class folder yet (Class ▸ Publish examples "
                          "for training, or `tutorloop class publish-examples`).")


def take_examples(db: Database) -> ExamplesTaken:
    """Make this machine's class examples exactly the newest set the teacher signed: new ones are
    stored as approved (by the teacher, as recorded), ones no longer in the set are deleted. Keeps
    each example's uid, so the held-out split is the teacher's."""
    member = require_membership(db)
    if member.is_teacher:
        raise ValidationError("The teacher's desktop already has its examples; train there with `tutorloop adapt`.")
    manifest, data = _newest_examples(member)
    wanted: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        record = json.loads(line)
        messages = record["messages"]
        meta = record.get("metadata") or {}
        uid = str(meta.get("uid") or hashlib.sha256(line.encode()).hexdigest()[:32])
        wanted[uid] = {"prompt": validate_prompt(messages[:-1], what=f"example {number}"),
                       "completion": messages[-1]["content"], "meta": meta}
    ref = f"{SOURCE_PREFIX}{member.class_id}"
    now = utcnow()
    with db.transaction():
        have = {r["uid"]: r["id"] for r in db.query("SELECT id, uid FROM training_examples WHERE source_ref = ?",
                                                     (ref,))}
        stale = [have[uid] for uid in have if uid not in wanted]
        db.conn.executemany("DELETE FROM training_examples WHERE id = ?", [(i,) for i in stale])
        writer = PromptWriter(db.conn)
        added = 0
        for uid, example in wanted.items():
            if uid in have:
                continue
            node, digest = writer.store(list(map(pair_of, example["prompt"])))
            meta = example["meta"]
            mode = meta.get("mode") if meta.get("mode") in chat.MODES else None
            db.conn.execute(
                "INSERT INTO training_examples (uid, prompt_json, prompt_node, completion, mode, topic, grade, status, "
                "student_id, approved_by, approved_by_name, approved_at, source, source_message_ids, source_ref, "
                "content_sha256, created_at) VALUES (?, '', ?, ?, ?, ?, ?, 'approved', NULL, NULL, ?, ?, 'import', "
                "'[]', ?, ?, ?)",
                (uid, node, example["completion"], mode, str(meta.get("topic") or ""), str(meta.get("grade") or ""),
                 str(meta.get("approved_by") or member.teacher_name), str(meta.get("approved_at") or now), ref,
                 content_hash_of(digest, example["completion"]), now))
            added += 1
        collect_garbage(db.conn)
        audit.record(db, None, "class.take_examples", target=member.class_id,
                     details={"seq": manifest["seq"], "added": added, "removed": len(stale)})
    return ExamplesTaken(seq=manifest["seq"], count=len(wanted), added=added, removed=len(stale))


def write_candidate(db: Database, version: int, *, examples_seq: int | None = None) -> Path:
    """Copy this machine's candidate `version` to candidates/<device id>-v<N>/ for the teacher."""
    member = require_membership(db)
    adapter = versions.get_adapter(db, version)
    if adapter.base_model_id != member.model_id:
        raise ValidationError(f"v{version} was trained on {adapter.base_model_id}, but class {member.name} uses "
                              f"{member.model_id}; it was not sent. Train with --model for the class's model.")
    if problem := versions.adapter_problem(adapter):
        raise StorageError(f"v{version} cannot be sent: {problem}.")
    root = member.folder / CANDIDATES
    target = root / f"{member.device_id}-v{version}"
    if (target / CANDIDATE_FILE).is_file():
        return target
    partial = root / f".tmp-{member.device_id}-v{version}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for entry in sorted(Path(adapter.path).iterdir()):
            if entry.name != OWNER_FILE and entry.is_file() and not entry.is_symlink():
                _copy_file(entry, partial / entry.name)
        note = {"class_id": member.class_id, "device_id": member.device_id, "device_name": member.device_name,
                "version": version, "model_id": adapter.base_model_id, "files": compute_manifest(partial),
                "gate": adapter.gate, "gate_passed": adapter.gate_passed, "gate_reason": adapter.gate_reason,
                "metrics": adapter.metrics, "recipe": adapter.recipe, "n_examples": adapter.n_examples,
                "n_heldout": adapter.n_heldout, "n_replay": adapter.n_replay, "examples_seq": examples_seq,
                "trained_at": adapter.created_at}
        write_json(partial / CANDIDATE_FILE, note)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


# -- the teacher's desktop takes candidates in -----------------------------------------------------

def _imported(db: Database) -> list[str]:
    rows = db.query("SELECT value FROM settings WHERE key = ?", (_IMPORTED_SETTING,))
    return list(json.loads(rows[0]["value"])) if rows else []


def import_candidates(db: Database) -> tuple[list[int], list[str]]:
    """Register every whole candidate in candidates/ as a local candidate version (or failed, when its
    gate failed there); returns (versions registered, notes on what waits or was refused). Promoting
    one stays a teacher's action, and publishing it signs it with the class key."""
    member = require_membership(db)
    done = _imported(db)
    registered: list[int] = []
    notes: list[str] = []
    root = data_root_of(Path(db.path)) / "adapters"
    for folder in sorted(_listing(member.folder / CANDIDATES)):
        found = _CANDIDATE.match(folder.name)
        if not found or folder.name in done or not is_device_id(found.group(1)):
            continue
        note = read_json(folder / CANDIDATE_FILE)
        if not isinstance(note, dict):
            continue
        try:
            files = note.get("files")
            if note.get("class_id") != member.class_id or not isinstance(files, dict) or \
                    not all(f in files for f in REQUIRED_FILES):
                raise AdapterRefused(f"{folder.name} is not a candidate of this class; it was skipped.")
            if note.get("model_id") != member.model_id:
                raise AdapterRefused(f"{folder.name} was trained on {note.get('model_id')}, not the class's "
                                     f"{member.model_id}; it was skipped.")
            for name, expected in files.items():
                path = folder / name
                if "/" in name or name.startswith(".") or not path.is_file() or \
                        path.stat().st_size != expected.get("size") or file_sha256(path) != expected.get("sha256"):
                    raise AdapterRefused(f"{folder.name} is not whole yet ({name}); it will be taken once synced.")
        except AdapterRefused as exc:
            notes.append(str(exc))
            continue
        version = max([versions.latest_version(db), *(int(p.name[1:]) for p in _listing(root)
                                                     if re.fullmatch(r"v\d+", p.name))]) + 1
        target = root / f"v{version}"
        partial = root / f".partial-v{version}-{os.getpid()}"
        partial.mkdir(parents=True)
        try:
            for name in files:
                _copy_file(folder / name, partial / name)
            (partial / OWNER_FILE).write_text(json.dumps({"database_id": versions.database_id(db), "run_id": None,
                                                          "version": version, "pid": os.getpid(),
                                                          "created_at": utcnow(), "candidate": folder.name}))
            os.replace(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        where = note.get("device_name") or folder.name
        versions.register_adapter(
            db, version=version, base_model_id=note["model_id"], path=str(target),
            n_examples=int(note.get("n_examples") or 0), n_heldout=int(note.get("n_heldout") or 0),
            n_replay=int(note.get("n_replay") or 0), examples_approved_until=None,
            recipe=note.get("recipe") or {}, metrics={**(note.get("metrics") or {}), "trained_on": where},
            gate=note.get("gate") or {}, gate_passed=bool(note.get("gate_passed")),
            gate_reason=f"Trained on {where}: {note.get('gate_reason') or ''}".strip(), run_id=None,
            train_ids=[], heldout_ids=[])
        done.append(folder.name)
        with db.transaction():
            db.conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                            "value = excluded.value", (_IMPORTED_SETTING, json.dumps(done)))
            audit.record(db, None, "class.candidate", target=f"v{version}", details={"from": folder.name})
        registered.append(version)
    return registered, notes
