"""Export approved examples as JSONL; import JSONL and MathDial transcripts for review.

Export formats (one JSON object per line, UTF-8):
- "messages": {"messages": [system?, user, assistant, ..., {"role": "assistant", "content": completion}],
  "metadata": {...}} — the chat format most fine-tuning tools read.
- "prompt-completion": {"prompt": [messages...], "completion": [{"role": "assistant", ...}], "metadata": {...}}
  — the conversational prompt/completion form (loss on the completion only).

Import formats:
- "messages": lines in either export format; a string prompt/completion pair is accepted too.
- "mathdial": teacher–student transcripts, one dialogue per line with a `conversation` field whose
  turns are `Teacher: (move)text|EOM|Student: text`. Every teacher turn that answers a student turn
  becomes one exchange; the problem and the student's first solution open the conversation.

Every bad line is reported with its number. An import is all or nothing per file: one bad line
and nothing is written, unless `partial=True`, which imports the good lines and reports the rest.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from storage import audit
from storage.users import require_teacher
from storage.chat import MODES
from storage.users import User
from storage.db import Database, utcnow
from storage.errors import ValidationError, shown_text, storable_text
from storage.review import Decision, approve_many, content_hash, list_examples, make_key, validate_prompt
from storage.safe_write import write_text_file

ExportFormat = Literal["messages", "prompt-completion"]
ImportFormat = Literal["messages", "prompt-completion", "mathdial"]
EXPORT_FORMATS: tuple[str, ...] = ("messages", "prompt-completion")
IMPORT_FORMATS: tuple[str, ...] = ("messages", "prompt-completion", "mathdial")
MAX_IMPORT_BYTES = 50_000_000   # 50 MB: far above any classroom's data; above it, split the file
MAX_REPORTED_PROBLEMS = 20      # in the error message; the full list is on the exception
MATHDIAL_TOPIC = "Math word problems"
# MathDial's teacher moves: "telling" reveals, the others (focus, probing, generic) guide.
MATHDIAL_MODE_BY_MOVE = {"telling": "explain", "focus": "hint", "probing": "hint", "generic": "hint"}

SystemPromptFor = Callable[[str, str, str], str]   # (mode, grade, topic) -> system prompt text


class ImportTooLarge(ValidationError):
    """The import file is over MAX_IMPORT_BYTES."""


class ImportRejected(ValidationError):
    """Some lines were malformed and the import was all-or-nothing: nothing was written."""

    def __init__(self, message: str, *, problems: tuple[LineProblem, ...]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class LineProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    line: int
    prompt: list[dict[str, str]]
    completion: str
    mode: str | None
    topic: str
    grade: str
    source_ref: str
    uid: str | None = None       # the split id an exported example carried (metadata.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    path: str
    status: Literal["pending", "approved"]
    imported: int
    duplicates: int                      # already in the database (or earlier in the file): skipped
    problems: tuple[LineProblem, ...]    # skipped lines (only non-empty with partial=True)
    keys: tuple[str, ...]                # review keys of what was imported ("i12", ...)
    batch: str


# -- export --------------------------------------------------------------------------------------

def example_record(example: Any, fmt: ExportFormat) -> dict[str, Any]:
    metadata = {"uid": example.uid, "mode": example.mode, "topic": example.topic, "grade": example.grade,
                "approved_at": example.approved_at, "approved_by": example.approved_by_name,
                "source": example.source}
    prompt = [dict(m) for m in example.prompt]
    if fmt == "messages":
        return {"messages": prompt + [{"role": "assistant", "content": example.completion}], "metadata": metadata}
    if fmt == "prompt-completion":
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": example.completion}],
                "metadata": metadata}
    raise ValidationError(f"Unknown export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}.")


def export_examples(db: Database, actor: User, path: Path | str, *, fmt: ExportFormat = "messages") -> int:
    """Write every approved example to `path` as JSONL; returns how many. Written whole or not at all
    (storage.safe_write): a half file never looks complete, and links, devices and folders are refused."""
    teacher = require_teacher(actor, db)
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"Unknown export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}.")
    examples = list_examples(db)

    def write(out: TextIO) -> None:
        for example in examples:
            out.write(json.dumps(example_record(example, fmt), ensure_ascii=False) + "\n")

    target = write_text_file(path, write, what="The examples export", protect=_database_files(db))
    audit.record(db, teacher, "examples.export", target=str(target), details={"format": fmt, "count": len(examples)})
    return len(examples)


def _database_files(db: Database) -> tuple[Path, ...]:
    return (db.path,) if isinstance(db.path, Path) else ()


# -- parsing -------------------------------------------------------------------------------------

def _metadata(obj: Mapping[str, Any]) -> tuple[str | None, str, str]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return None, "", ""
    mode = meta.get("mode") if meta.get("mode") in MODES else None
    topic = meta.get("topic") if isinstance(meta.get("topic"), str) else ""
    grade = meta.get("grade") if isinstance(meta.get("grade"), str) else ""
    return mode, topic.strip(), grade.strip()


_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _metadata_uid(obj: Mapping[str, Any]) -> str | None:
    """metadata.uid (what an export writes), kept so the example keeps its held-out split."""
    meta = obj.get("metadata")
    uid = meta.get("uid") if isinstance(meta, Mapping) else None
    if uid is None:
        return None
    if not isinstance(uid, str) or not _UID.match(uid):
        raise ValidationError("metadata.uid must be 1-128 letters, digits or . _ : - (it was written by an export; "
                              "remove it to draw a new one).")
    return uid


def _messages_list(value: Any, what: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ValidationError(f"{what} is not a list of messages.")
    out = []
    for index, message in enumerate(value, start=1):
        if not isinstance(message, Mapping):
            raise ValidationError(f"{what}: message {index} is not an object with role and content.")
        if "role" not in message:
            raise ValidationError(f"{what}: message {index} has no role.")
        if not isinstance(message.get("content"), str):
            raise ValidationError(f"{what}: message {index} ({message['role']}) has no text content.")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def parse_chat_record(obj: Any, line: int, source_name: str) -> Candidate:
    if not isinstance(obj, Mapping):
        raise ValidationError("expected a JSON object per line.")
    if "messages" in obj:
        messages = _messages_list(obj["messages"], '"messages"')
        if len(messages) < 2:
            raise ValidationError('"messages" needs at least a student message and the tutor\'s reply.')
        *prompt, last = messages
        if last["role"] != "assistant":
            raise ValidationError(f'the last message must be the tutor\'s reply (role "assistant"), '
                                  f'not {last["role"]!r}.')
        completion = last["content"]
    elif "prompt" in obj and "completion" in obj:
        raw_prompt, raw_completion = obj["prompt"], obj["completion"]
        prompt = ([{"role": "user", "content": raw_prompt}] if isinstance(raw_prompt, str)
                  else _messages_list(raw_prompt, '"prompt"'))
        if isinstance(raw_completion, str):
            completion = raw_completion
        else:
            parts = _messages_list(raw_completion, '"completion"')
            if len(parts) != 1 or parts[0]["role"] != "assistant":
                raise ValidationError('"completion" must be one message with role "assistant".')
            completion = parts[0]["content"]
    else:
        raise ValidationError('expected a "messages" list, or "prompt" and "completion" fields.')
    prompt = validate_prompt(prompt, what="The prompt")
    if not completion.strip():
        raise ValidationError("the tutor's reply is empty.")
    storable_text(completion, "The tutor's reply")
    mode, topic, grade = _metadata(obj)
    storable_text(topic, "metadata.topic")
    storable_text(grade, "metadata.grade")
    return Candidate(line=line, prompt=prompt, completion=completion.strip(), mode=mode, topic=topic, grade=grade,
                     source_ref=f"{source_name}:{line}", uid=_metadata_uid(obj))


_TURN = re.compile(r"^\s*(Teacher|Student)\s*:\s*(.*)$", re.DOTALL | re.IGNORECASE)
_MOVE = re.compile(r"^\(([a-z]+)\)\s*", re.IGNORECASE)
_GRADE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\s+grade\b", re.IGNORECASE)


def parse_mathdial_record(obj: Any, line: int, system_for: SystemPromptFor | None) -> list[Candidate]:
    if not isinstance(obj, Mapping):
        raise ValidationError("expected a JSON object per line.")
    conversation = obj.get("conversation")
    if not isinstance(conversation, str) or not conversation.strip():
        raise ValidationError('no "conversation" text (MathDial turns separated by |EOM|).')
    grade_match = _GRADE.search(str(obj.get("student_profile") or ""))
    grade = grade_match.group(1) if grade_match else ""
    turns: list[tuple[str, str, str | None]] = []     # (role, text, move)
    question = str(obj.get("question") or "").strip()
    solution = str(obj.get("student_incorrect_solution") or "").replace("\\n", "\n").strip()
    if question:
        opening = f"Problem: {question}" + (f"\n\nMy solution:\n{solution}" if solution else "")
        turns.append(("user", opening, None))
    for index, raw in enumerate(conversation.split("|EOM|"), start=1):
        if not raw.strip():
            continue
        match = _TURN.match(raw)
        if not match:
            raise ValidationError(f"turn {index} does not start with 'Teacher:' or 'Student:' (missing role).")
        speaker, text = match.group(1).capitalize(), match.group(2)
        move = None
        if speaker == "Teacher" and (m := _MOVE.match(text)):
            move, text = m.group(1).lower(), text[m.end():]
        text = text.strip()
        if not text:
            raise ValidationError(f"turn {index} ({speaker}) is empty.")
        turns.append(("assistant" if speaker == "Teacher" else "user", text, move))
    qid = shown_text(str(obj.get("qid") or f"line{line}"))[:200]
    candidates = []
    for index, (role, text, move) in enumerate(turns):
        if role != "assistant" or index == 0 or turns[index - 1][0] != "user":
            continue
        mode = MATHDIAL_MODE_BY_MOVE.get(move or "", "hint")
        prompt = [{"role": r, "content": t} for r, t, _ in turns[:index]]
        if system_for is not None:
            prompt.insert(0, {"role": "system", "content": system_for(mode, grade, MATHDIAL_TOPIC)})
        storable_text(text, f"Turn {index}")
        candidates.append(Candidate(line=line, prompt=validate_prompt(prompt), completion=text, mode=mode,
                                    topic=MATHDIAL_TOPIC, grade=grade, source_ref=f"mathdial:{qid}#{index}"))
    if not candidates:
        raise ValidationError("no teacher turn answers a student turn; there is nothing to learn from.")
    return candidates


_TOO_DEEP = "the JSON is nested too deeply (hundreds of levels); an exchange is a flat list of messages."


def parse_jsonl(data: bytes, fmt: ImportFormat, *, source_name: str,
                system_for: SystemPromptFor | None = None) -> tuple[list[Candidate], list[LineProblem]]:
    """Candidates from the good lines and a problem for each bad one; blank lines are ignored."""
    if fmt not in IMPORT_FORMATS:
        raise ValidationError(f"Unknown import format {fmt!r}: expected one of {', '.join(IMPORT_FORMATS)}.")
    candidates: list[Candidate] = []
    problems: list[LineProblem] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte-order mark, as some editors write
        raw = raw.rstrip(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(LineProblem(line=number, message=f"not valid UTF-8 (at byte {exc.start + 1} of the line); "
                                                             "save the file as UTF-8."))
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(line=number, message=f"not valid JSON ({exc.msg} at column {exc.colno})."))
            continue
        except RecursionError:
            problems.append(LineProblem(line=number, message=_TOO_DEEP))
            continue
        except ValueError:   # Python refuses to convert integers of more than 4,300 digits
            problems.append(LineProblem(line=number, message="a number on this line is too long (thousands of "
                                                             "digits); no exchange needs one."))
            continue
        try:
            if fmt == "mathdial":
                candidates.extend(parse_mathdial_record(obj, number, system_for))
            else:
                candidates.append(parse_chat_record(obj, number, source_name))
        except ValidationError as exc:
            message = str(exc)
            problems.append(LineProblem(line=number, message=message[0].lower() + message[1:]))
        except RecursionError:
            problems.append(LineProblem(line=number, message=_TOO_DEEP))
    return candidates, problems


# -- import --------------------------------------------------------------------------------------

def _existing_hashes(db: Database) -> set[str]:
    rows = db.query("SELECT content_sha256 AS h FROM training_examples WHERE status = 'approved' "
                    "UNION SELECT content_sha256 FROM imported_exchanges")
    return {r["h"] for r in rows}


def read_import_file(path: Path | str, *, max_bytes: int = MAX_IMPORT_BYTES) -> bytes:
    path = Path(path)
    shown = shown_text(str(path))
    try:
        if not path.is_file():
            raise ValidationError(f"{shown} does not exist or is not a file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImportTooLarge(f"{shown_text(path.name)} is {size / 1e6:.1f} MB; imports are limited to "
                                 f"{max_bytes / 1e6:.0f} MB. Split it into smaller files (for example "
                                 "`split -l 20000 file.jsonl part-`) and import them one by one. Nothing was imported.")
        with path.open("rb") as handle:
            return handle.read(max_bytes + 1)[:max_bytes]
    except OSError as exc:
        raise ValidationError(f"{shown} cannot be read ({exc.strerror or exc}). Nothing was imported.") from None


def import_file(db: Database, actor: User, path: Path | str, *, fmt: ImportFormat = "messages",
                as_status: Literal["pending", "approved"] = "pending", partial: bool = False,
                system_for: SystemPromptFor | None = None, max_bytes: int = MAX_IMPORT_BYTES) -> ImportReport:
    """Import exchanges for review ("pending") or straight into the approved set ("approved": the
    importing teacher is recorded as the approver, and one undo takes the whole import back to pending)."""
    teacher = require_teacher(actor, db)
    if as_status not in ("pending", "approved"):
        raise ValidationError(f"Import as {as_status!r}? Expected pending or approved.")
    path = Path(path)
    data = read_import_file(path, max_bytes=max_bytes)
    candidates, problems = parse_jsonl(data, fmt, source_name=shown_text(path.name), system_for=system_for)
    if problems and not partial:
        shown = "\n".join(f"  {p}" for p in problems[:MAX_REPORTED_PROBLEMS])
        more = f"\n  … and {len(problems) - MAX_REPORTED_PROBLEMS} more" if len(problems) > MAX_REPORTED_PROBLEMS else ""
        raise ImportRejected(f"{shown_text(path.name)}: {len(problems)} bad line{'s' if len(problems) != 1 else ''}; nothing was "
                             f"imported. Fix {'them' if len(problems) != 1 else 'it'}, or import the good lines "
                             f"only with --partial.\n{shown}{more}", problems=tuple(problems))
    if not candidates and not problems:
        raise ValidationError(f"{shown_text(path.name)} has no exchanges to import (it is empty).")
    batch, now = uuid.uuid4().hex, utcnow()
    duplicates = 0
    keys: list[str] = []
    with db.transaction() as t:
        seen = _existing_hashes(db)
        for cand in candidates:
            digest = content_hash(cand.prompt, cand.completion)
            if digest in seen:
                duplicates += 1
                continue
            seen.add(digest)
            new_id = t["imported_exchanges"].insert({
                "prompt_json": json.dumps(cand.prompt, ensure_ascii=False), "completion": cand.completion,
                "mode": cand.mode, "topic": cand.topic, "grade": cand.grade, "source_ref": cand.source_ref,
                "content_sha256": digest, "imported_by": teacher.id, "batch": batch, "created_at": now,
                "uid": cand.uid,
            }).last_pk
            keys.append(make_key("imported", new_id))
        decisions: list[Decision] = []
        if as_status == "approved" and keys:
            decisions = approve_many(db, teacher, keys, _batch=batch, _action="review.import_approve")
        audit.record(db, teacher, "examples.import", target=shown_text(str(path)), details={
            "format": fmt, "as": as_status, "imported": len(keys), "duplicates": duplicates,
            "skipped_lines": [p.line for p in problems], "batch": batch, "approved": len(decisions)})
    return ImportReport(path=shown_text(str(path)), status=as_status, imported=len(keys), duplicates=duplicates,
                        problems=tuple(problems), keys=tuple(keys), batch=batch)
