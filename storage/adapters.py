"""Adapter versions, training runs and must-pass prompts: the registry's rows.

Teacher actions (promote, roll back, use the base model, discard, edit must-pass prompts) take the
acting `User` and check the role here, so no caller can skip it. A candidate that failed its gate
cannot be promoted: `promote()` refuses with the gate's reason.

The adapter folders themselves are managed by `learner.adapt.registry` (this layer has no torch);
a row is written only once its folder is complete.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from storage import audit
from storage.users import require_teacher
from storage.users import User
from storage.db import Database, utcnow
from storage.errors import NotFoundError, StorageError, ValidationError

AdapterStatus = Literal["candidate", "active", "retired", "failed", "discarded"]
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]
TRIGGERS = ("manual", "schedule", "cli")
MODES = ("explain", "hint", "practice")


class GateNotPassed(ValidationError):
    """Promotion refused: the candidate failed its gate (the message says which check and by how much)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterVersion:
    version: int
    status: AdapterStatus
    created_at: str
    base_model_id: str
    path: str
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


def _adapter(row: dict[str, Any]) -> AdapterVersion:
    return AdapterVersion(
        version=row["version"], status=row["status"], created_at=row["created_at"],
        base_model_id=row["base_model_id"], path=row["path"], n_examples=row["n_examples"],
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
    return [_adapter(r) for r in db.query("SELECT * FROM adapters ORDER BY version DESC")]


def get_adapter(db: Database, version: int) -> AdapterVersion:
    rows = db.query("SELECT * FROM adapters WHERE version = ?", (int(version),))
    if not rows:
        raise NotFoundError(f"There is no adapter version {version}. `tutorloop adapters list` shows them.")
    return _adapter(rows[0])


def active_adapter(db: Database) -> AdapterVersion | None:
    rows = db.query("SELECT * FROM adapters WHERE status = 'active'")
    return _adapter(rows[0]) if rows else None


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
    """Record a complete adapter folder as a candidate (or as failed, when its gate failed)."""
    status = "candidate" if gate_passed else "failed"
    with db.transaction() as t:
        if t.execute("SELECT 1 FROM adapters WHERE version = ?", [version]).fetchone():
            raise ValidationError(f"Adapter version {version} already exists.")
        t.execute(
            "INSERT INTO adapters (version, status, created_at, base_model_id, path, n_examples, n_heldout, n_replay, "
            "examples_approved_until, recipe, metrics, gate, gate_passed, gate_reason, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [version, status, utcnow(), base_model_id, path, n_examples, n_heldout, n_replay, examples_approved_until,
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
    gate failed, one that was discarded, and one whose folder is gone."""
    teacher = require_teacher(actor, db)
    with db.transaction() as t:
        target = get_adapter(db, version)
        if target.status == "active":
            return target
        if not target.gate_passed:
            raise GateNotPassed(f"Version {version} failed its gate and cannot be promoted: "
                                f"{target.gate_reason or 'no gate verdict recorded'}")
        if target.status == "discarded":
            raise ValidationError(f"Version {version} was discarded; train a new round instead.")
        if not target.folder_exists:
            raise StorageError(f"Version {version}'s adapter folder is gone ({target.path}); it cannot be used.")
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
