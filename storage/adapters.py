"""Adapter versions, training runs and must-pass prompts: the registry's rows.

Teacher actions (promote, roll back, use the base model, discard, edit must-pass prompts) take the
acting `User` and check the role here, so no caller can skip it. A candidate that failed its gate
cannot be promoted: `promote()` refuses with the gate's reason.

The adapter folders themselves are managed by `learner.adapt.registry` (this layer has no torch);
a row is written only once its folder is complete. Its path is stored relative to the data folder
and its files' SHA-256 with it (`storage.adapter_files`): a version whose folder is missing or has
changed since it was registered is never promoted, and `check_active` tells the app to answer
with the base model instead (and why).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storage import audit
from storage.adapter_files import (
    Manifest, compute_manifest, data_root_of, folder_problem, owned_folder, resolve, stored_path,
)
from storage.db import Database, utcnow
from storage.errors import NotFoundError, StorageError, ValidationError
from storage.users import User, require_teacher

AdapterStatus = Literal["candidate", "active", "retired", "failed", "discarded"]
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]
TRIGGERS = ("manual", "schedule", "cli")
MODES = ("explain", "hint", "practice")


class GateNotPassed(ValidationError):
    """Promotion refused: the candidate failed its gate (the message says which check and by how much)."""


class AdapterUnusable(StorageError, FileNotFoundError):
    """A version's folder is gone, incomplete or not what was registered. Also a FileNotFoundError:
    callers that fall back to the base model when a folder is missing do the same for a damaged one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterVersion:
    version: int
    status: AdapterStatus
    created_at: str
    base_model_id: str
    path: str                           # absolute: the stored path resolved against the data folder
    stored_path: str                    # as stored: relative to the data folder when it lies inside it
    manifest: Manifest | None           # file -> size and SHA-256 at registration (None: unverifiable)
    n_examples: int
    n_heldout: int
    n_replay: int
    examples_approved_until: str | None
    recipe: dict[str, Any]
    metrics: dict[str, Any]
    gate: dict[str, Any]
    gate_passed: bool | None
    gate_reason: str
    run_id: int | None
    promoted_at: str | None
    promoted_by_name: str | None
    deleted_at: str | None

    @property
    def folder_exists(self) -> bool:
        return self.deleted_at is None and os.path.isdir(self.path)

    def mismatch(self, model_id: str) -> str | None:
        """Why this adapter cannot serve `model_id` (None: it can). A LoRA adapter only fits the model it was
        trained on: on another one it fails to load or, worse, loads and answers nonsense."""
        if self.base_model_id == model_id:
            return None
        return f"Adapter v{self.version} was trained on {self.base_model_id}, not on {model_id}."

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingRun:
    id: int
    trigger: str
    started_at: str
    finished_at: str | None
    status: RunStatus
    version: int | None
    pid: int | None
    host: str
    log_path: str | None
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MustPassPrompt:
    id: int
    prompt: str
    mode: str
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]
    created_by_name: str
    created_at: str
    updated_at: str | None


def data_root(db: Database) -> Path:
    """The data folder this database belongs to (where its relative adapter paths start)."""
    return data_root_of(db.path) if isinstance(db.path, Path) else Path.cwd()


def _adapter(row: dict[str, Any], root: Path) -> AdapterVersion:
    return AdapterVersion(
        version=row["version"], status=row["status"], created_at=row["created_at"],
        base_model_id=row["base_model_id"], path=str(resolve(row["path"], root)), stored_path=row["path"],
        manifest=json.loads(row["manifest"]) if row["manifest"] else None, n_examples=row["n_examples"],
        n_heldout=row["n_heldout"], n_replay=row["n_replay"], examples_approved_until=row["examples_approved_until"],
        recipe=json.loads(row["recipe"]), metrics=json.loads(row["metrics"]), gate=json.loads(row["gate"]),
        gate_passed=None if row["gate_passed"] is None else bool(row["gate_passed"]), gate_reason=row["gate_reason"],
        run_id=row["run_id"], promoted_at=row["promoted_at"], promoted_by_name=row["promoted_by_name"],
        deleted_at=row["deleted_at"],
    )


def _run(row: dict[str, Any]) -> TrainingRun:
    return TrainingRun(id=row["id"], trigger=row["trigger"], started_at=row["started_at"],
                       finished_at=row["finished_at"], status=row["status"], version=row["version"], pid=row["pid"],
                       host=row["host"], log_path=row["log_path"], error=row["error"])


def _must_pass(row: dict[str, Any]) -> MustPassPrompt:
    return MustPassPrompt(id=row["id"], prompt=row["prompt"], mode=row["mode"],
                          must_match=tuple(json.loads(row["must_match"])),
                          must_not_match=tuple(json.loads(row["must_not_match"])),
                          created_by_name=row["created_by_name"], created_at=row["created_at"],
                          updated_at=row["updated_at"])


# -- reading --------------------------------------------------------------------------------------

def list_adapters(db: Database) -> list[AdapterVersion]:
    """Every version, newest first."""
    root = data_root(db)
    return [_adapter(r, root) for r in db.query("SELECT * FROM adapters ORDER BY version DESC")]


def get_adapter(db: Database, version: int) -> AdapterVersion:
    rows = db.query("SELECT * FROM adapters WHERE version = ?", (int(version),))
    if not rows:
        raise NotFoundError(f"There is no adapter version {version}. `tutorloop adapters list` shows them.")
    return _adapter(rows[0], data_root(db))


def active_adapter(db: Database) -> AdapterVersion | None:
    rows = db.query("SELECT * FROM adapters WHERE status = 'active'")
    return _adapter(rows[0], data_root(db)) if rows else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveCheck:
    """The active version and whether it can be used. `problem` set: answer with the base model and
    show `notice` (the teacher should roll back or train a new round)."""
    adapter: AdapterVersion
    problem: str | None

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def notice(self) -> str | None:
        if self.problem is None:
            return None
        return (f"The active adapter v{self.adapter.version} cannot be used ({self.problem}); the tutor answers "
                "with the base model. A teacher can roll back to an earlier version or train a new round.")


def adapter_problem(adapter: AdapterVersion) -> str | None:
    """Why this version's folder must not be loaded (None: it holds exactly what was registered)."""
    if adapter.deleted_at is not None:
        return f"its folder was pruned on {adapter.deleted_at[:10]} (only the last versions are kept)"
    return folder_problem(Path(adapter.path), adapter.manifest)


def check_active(db: Database) -> ActiveCheck | None:
    """The active version, checked file by file against its manifest; None when there is none (the
    base model answers). Read-only: the app calls it before loading the adapter."""
    active = active_adapter(db)
    if active is None:
        return None
    return ActiveCheck(adapter=active, problem=adapter_problem(active))


def owned_path(db: Database, adapter: AdapterVersion) -> Path | None:
    """The version's folder when this database owns it (stored relative, inside adapters/, no link):
    the only folders anything may delete."""
    return owned_folder(adapter.stored_path, data_root(db))


def database_id(db: Database) -> str:
    """This database's random id (migration 0008), written into the adapter folders it makes."""
    return db.query("SELECT database_id FROM database_info WHERE id = 1")[0]["database_id"]


def latest_version(db: Database) -> int:
    """The highest version number ever registered (0 when none)."""
    return int(db.query("SELECT COALESCE(MAX(version), 0) AS v FROM adapters")[0]["v"])


def example_ids(db: Database, version: int, split: Literal["train", "heldout"]) -> list[int]:
    return [r["example_id"] for r in db.query(
        "SELECT example_id FROM adapter_examples WHERE version = ? AND split = ? ORDER BY example_id",
        (int(version), split))]


# -- training runs --------------------------------------------------------------------------------

def _check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise ValidationError(f"Unknown trigger {trigger!r}: expected one of {', '.join(TRIGGERS)}.")


def start_run(db: Database, *, trigger: str, pid: int | None = None, host: str = "",
              log_path: str | None = None) -> TrainingRun:
    _check_trigger(trigger)
    with db.transaction() as t:
        t.execute("INSERT INTO training_runs (trigger, started_at, status, pid, host, log_path) "
                  "VALUES (?, ?, 'running', ?, ?, ?)", [trigger, utcnow(), pid if pid is not None else os.getpid(),
                                                        host, log_path])
        run_id = t.execute("SELECT last_insert_rowid()").fetchone()[0]
    return get_run(db, run_id)


def finish_run(db: Database, run_id: int, *, status: RunStatus, version: int | None = None,
               error: str | None = None) -> TrainingRun:
    if status not in ("succeeded", "failed", "cancelled"):
        raise ValidationError(f"A run finishes as succeeded, failed or cancelled, not {status!r}.")
    with db.transaction() as t:
        t.execute("UPDATE training_runs SET status = ?, finished_at = ?, version = COALESCE(?, version), error = ? "
                  "WHERE id = ?", [status, utcnow(), version, error, run_id])
    return get_run(db, run_id)


def get_run(db: Database, run_id: int) -> TrainingRun:
    rows = db.query("SELECT * FROM training_runs WHERE id = ?", (run_id,))
    if not rows:
        raise NotFoundError(f"There is no training run {run_id}.")
    return _run(rows[0])


def list_runs(db: Database, *, limit: int = 50) -> list[TrainingRun]:
    return [_run(r) for r in db.query("SELECT * FROM training_runs ORDER BY id DESC LIMIT ?", (limit,))]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process reuses the pid: not our run
        return False
    except OSError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def recover_stale_runs(db: Database, *, host: str = "") -> list[TrainingRun]:
    """Runs still marked running whose process is gone (kill -9, power cut) become failed, so the
    teacher sees them with their log. Only runs of this host are judged (a pid means nothing elsewhere)."""
    stale = [r for r in db.query("SELECT * FROM training_runs WHERE status = 'running' AND host = ?", (host,))
             if r["pid"] is None or (r["pid"] != os.getpid() and not _pid_alive(r["pid"]))]
    if not stale:
        return []
    with db.transaction() as t:
        for row in stale:
            t.execute("UPDATE training_runs SET status = 'failed', finished_at = ?, error = ? "
                      "WHERE id = ? AND status = 'running'",
                      [utcnow(), "The training process ended without finishing (killed, crashed, or the machine "
                                 "stopped). Its log may say more.", row["id"]])
    return [get_run(db, r["id"]) for r in stale]


# -- registering a finished adapter ---------------------------------------------------------------

def register_adapter(db: Database, *, version: int, base_model_id: str, path: str, n_examples: int,
                     n_heldout: int, n_replay: int, examples_approved_until: str | None, recipe: dict[str, Any],
                     metrics: dict[str, Any], gate: dict[str, Any], gate_passed: bool, gate_reason: str,
                     run_id: int | None, train_ids: Sequence[int], heldout_ids: Sequence[int]) -> AdapterVersion:
    """Record a complete adapter folder as a candidate (or as failed, when its gate failed), with the
    SHA-256 of every file in it; the path is stored relative to the data folder when it lies inside."""
    status = "candidate" if gate_passed else "failed"
    folder = Path(path)
    if not folder.is_dir():
        raise ValidationError(f"The adapter folder {folder} does not exist; nothing was registered.")
    manifest = compute_manifest(folder)  # slow for big files: before taking the write lock
    with db.transaction() as t:
        if t.execute("SELECT 1 FROM adapters WHERE version = ?", [version]).fetchone():
            raise ValidationError(f"Adapter version {version} already exists.")
        t.execute(
            "INSERT INTO adapters (version, status, created_at, base_model_id, path, manifest, n_examples, n_heldout, "
            "n_replay, examples_approved_until, recipe, metrics, gate, gate_passed, gate_reason, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [version, status, utcnow(), base_model_id, stored_path(folder, data_root(db)),
             json.dumps(manifest, sort_keys=True), n_examples, n_heldout, n_replay, examples_approved_until,
             json.dumps(recipe, sort_keys=True), json.dumps(metrics, sort_keys=True), json.dumps(gate, sort_keys=True),
             int(bool(gate_passed)), gate_reason, run_id])
        db.conn.executemany("INSERT INTO adapter_examples (version, example_id, split) VALUES (?, ?, ?)",
                      [(version, i, "train") for i in train_ids] + [(version, i, "heldout") for i in heldout_ids])
    return get_adapter(db, version)


def mark_folder_deleted(db: Database, version: int) -> None:
    with db.transaction() as t:
        t.execute("UPDATE adapters SET deleted_at = ? WHERE version = ? AND status != 'active'", [utcnow(), version])


# -- teacher actions ------------------------------------------------------------------------------

def promote(db: Database, actor: User, version: int) -> AdapterVersion:
    """Make `version` the active adapter (the previous active one retires). Refuses a version whose
    gate failed, one that was discarded, and one whose folder is gone or whose files differ from
    what was registered (every file's SHA-256 is compared: read before the write lock)."""
    teacher = require_teacher(actor, db)
    checked = get_adapter(db, version)
    problem = adapter_problem(checked) if checked.status != "active" else None
    with db.transaction() as t:
        target = get_adapter(db, version)
        if target.status == "active":
            return target
        if not target.gate_passed:
            raise GateNotPassed(f"Version {version} failed its gate and cannot be promoted: "
                                f"{target.gate_reason or 'no gate verdict recorded'}")
        if target.status == "discarded":
            raise ValidationError(f"Version {version} was discarded; train a new round instead.")
        if target.deleted_at is not None or not target.folder_exists:
            raise AdapterUnusable(f"Version {version}'s adapter folder is gone ({target.path}); it cannot be used.")
        if problem is not None or target.manifest != checked.manifest:
            raise AdapterUnusable(f"Version {version} cannot be promoted: {problem or 'it changed meanwhile'}. "
                                  "Train a new round, or promote a version whose files are intact.")
        previous = active_adapter(db)
        t.execute("UPDATE adapters SET status = 'retired' WHERE status = 'active'")
        t.execute("UPDATE adapters SET status = 'active', promoted_at = ?, promoted_by = ?, promoted_by_name = ? "
                  "WHERE version = ?", [utcnow(), teacher.id, teacher.name, version])
        audit.record(db, teacher, "adapters.promote", target=f"v{version}",
                     details={"previous": previous.version if previous else None})
    return get_adapter(db, version)


def rollback(db: Database, actor: User, version: int | None = None) -> AdapterVersion | None:
    """Go back to an earlier version: `version`, or (None) the one active before the current one.
    Returns the now-active version, or None when there is none to go back to (the base model is used)."""
    teacher = require_teacher(actor, db)
    current = active_adapter(db)
    if version is None:
        rows = db.query("SELECT version FROM adapters WHERE promoted_at IS NOT NULL AND status = 'retired' "
                        "AND deleted_at IS NULL AND version != ? ORDER BY promoted_at DESC, version DESC LIMIT 1",
                        (current.version if current else 0,))
        if not rows:
            use_base(db, teacher)
            return None
        version = rows[0]["version"]
    elif current is not None and version > current.version:
        raise ValidationError(f"Version {version} is newer than the active v{current.version}; use promote for it.")
    promoted = promote(db, teacher, version)
    audit.record(db, teacher, "adapters.rollback", target=f"v{version}",
                 details={"from": current.version if current else None})
    return promoted


def use_base(db: Database, actor: User) -> None:
    """No adapter: students get the base model. The active version retires (it can be promoted again)."""
    teacher = require_teacher(actor, db)
    with db.transaction() as t:
        current = active_adapter(db)
        t.execute("UPDATE adapters SET status = 'retired' WHERE status = 'active'")
        audit.record(db, teacher, "adapters.use_base", details={"previous": current.version if current else None})


def discard(db: Database, actor: User, version: int) -> AdapterVersion:
    teacher = require_teacher(actor, db)
    with db.transaction() as t:
        target = get_adapter(db, version)
        if target.status == "active":
            raise ValidationError(f"Version {version} is active; roll back or use the base model first.")
        t.execute("UPDATE adapters SET status = 'discarded' WHERE version = ?", [version])
        audit.record(db, teacher, "adapters.discard", target=f"v{version}")
    return get_adapter(db, version)


# -- must-pass prompts ----------------------------------------------------------------------------

def _clean_patterns(patterns: Sequence[str], what: str) -> list[str]:
    import re

    cleaned = []
    for pattern in patterns:
        pattern = (pattern or "").strip()
        if not pattern:
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(f"{what}: {pattern!r} is not a valid regular expression ({exc}).") from None
        cleaned.append(pattern)
    return cleaned


def _validated_must_pass(prompt: str, must_match: Sequence[str], must_not_match: Sequence[str],
                         mode: str) -> tuple[str, list[str], list[str]]:
    """(prompt, must, must_not) cleaned, or a ValidationError naming what is wrong."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise ValidationError("The must-pass prompt is empty.")
    if mode not in MODES:
        raise ValidationError(f"Unknown mode {mode!r}: expected one of {', '.join(MODES)}.")
    must = _clean_patterns(must_match, "Must match")
    must_not = _clean_patterns(must_not_match, "Must not match")
    if not must and not must_not:
        raise ValidationError("Give at least one pattern the answer must (or must not) match.")
    return prompt, must, must_not


def list_must_pass(db: Database) -> list[MustPassPrompt]:
    """Not a teacher action: the gate reads these."""
    return [_must_pass(r) for r in db.query("SELECT * FROM must_pass_prompts ORDER BY id")]


def add_must_pass(db: Database, actor: User, prompt: str, *, must_match: Sequence[str] = (),
                  must_not_match: Sequence[str] = (), mode: str = "explain") -> MustPassPrompt:
    teacher = require_teacher(actor, db)
    prompt, must, must_not = _validated_must_pass(prompt, must_match, must_not_match, mode)
    with db.transaction() as t:
        t.execute("INSERT INTO must_pass_prompts (prompt, mode, must_match, must_not_match, created_by, "
                  "created_by_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  [prompt, mode, json.dumps(must), json.dumps(must_not), teacher.id, teacher.name, utcnow()])
        new_id = t.execute("SELECT last_insert_rowid()").fetchone()[0]
        audit.record(db, teacher, "adapters.must_pass.add", target=str(new_id), details={"prompt": prompt[:200]})
    return get_must_pass(db, new_id)


def get_must_pass(db: Database, prompt_id: int) -> MustPassPrompt:
    rows = db.query("SELECT * FROM must_pass_prompts WHERE id = ?", (prompt_id,))
    if not rows:
        raise NotFoundError(f"There is no must-pass prompt {prompt_id}.")
    return _must_pass(rows[0])


def update_must_pass(db: Database, actor: User, prompt_id: int, *, prompt: str, must_match: Sequence[str] = (),
                     must_not_match: Sequence[str] = (), mode: str = "explain") -> MustPassPrompt:
    teacher = require_teacher(actor, db)
    get_must_pass(db, prompt_id)
    prompt, must, must_not = _validated_must_pass(prompt, must_match, must_not_match, mode)
    with db.transaction() as t:
        t.execute("UPDATE must_pass_prompts SET prompt = ?, mode = ?, must_match = ?, must_not_match = ?, "
                  "updated_at = ? WHERE id = ?",
                  [prompt, mode, json.dumps(must), json.dumps(must_not), utcnow(), prompt_id])
        audit.record(db, teacher, "adapters.must_pass.edit", target=str(prompt_id))
    return get_must_pass(db, prompt_id)


def delete_must_pass(db: Database, actor: User, prompt_id: int) -> None:
    teacher = require_teacher(actor, db)
    get_must_pass(db, prompt_id)
    with db.transaction() as t:
        t.execute("DELETE FROM must_pass_prompts WHERE id = ?", [prompt_id])
        audit.record(db, teacher, "adapters.must_pass.delete", target=str(prompt_id))
