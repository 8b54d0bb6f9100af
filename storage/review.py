"""The review queue and teacher decisions: approve, edit+approve, reject, undo, bulk approve.

What is in the queue: every finished tutor reply (with the student message before it) in a session
the student did not mark private, plus imported exchanges waiting for review. An item is named by a
key: "m<message id>" for a chat reply, "i<imported id>" for an imported exchange (a bare number is
a message id).

Approving writes a training example: an immutable snapshot of the prompt (system prompt, earlier
turns, the student message), the approved completion, mode, topic, grade, who approved it and
when, and where it came from. The prompt for a chat reply is rendered by the caller (`prompt_for`)
because prompts are the learner's business and storage cannot import the learner; it is stored
verbatim.

Every function here that does teacher work takes the acting User and checks the role itself.
"""
from __future__ import annotations

import bisect
import itertools
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from storage import audit
from storage.db import Database, end_of, utcnow
from storage.errors import NotFoundError, ValidationError, shown_text, storable_text
from storage.prompt_store import (
    Pair,
    PromptWriter,
    collect_garbage,
    common_prefix,
    content_hash,
    content_hash_of,
    load_prompts,
    pair_of,
)
from storage.users import User, require_teacher

__all__ = ["AlreadyDecided", "Decision", "FilterOptions", "PromptBuilder", "QueueFilter", "ReplyContext",
           "ReviewCounts", "ReviewDetail", "ReviewItem", "TrainingExample", "Turn", "UndoResult", "approve",
           "approve_many", "content_hash", "count_queue", "counts", "edit_and_approve", "editor_prefill",
           "filter_options", "get_detail", "get_example", "get_item", "last_adapter_cutoff", "list_examples",
           "list_queue", "make_key", "parse_key", "record_reply_prompt", "recorded_prompt", "reject", "reply_context", "undo_last",
           "validate_prompt"]

ItemStatus = Literal["pending", "approved", "rejected"]
RatingFilter = Literal["down", "up", "unrated"]
PROMPT_ROLES = ("system", "user", "assistant")
# Replies a teacher can judge: finished ones, and ones the student stopped (the teacher may edit them).
REVIEWABLE_STATUSES = ("complete", "stopped")


class AlreadyDecided(ValidationError):
    """The item already has a standing decision; undo it first to change it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    role: str                 # "user" | "assistant" | "system"
    content: str
    message_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewItem:
    key: str                  # "m12" (chat reply) or "i3" (imported exchange)
    kind: Literal["reply", "imported"]
    message_id: int | None
    imported_id: int | None
    status: ItemStatus
    student_id: int | None
    student_name: str
    grade: str
    session_id: int | None
    session_title: str
    topic: str
    mode: str | None
    student_message: str
    reply: str
    rating: int | None
    suggestion: str | None
    created_at: str
    review_id: int | None = None
    decision: str | None = None          # approved | edited | rejected
    decided_by: str | None = None
    decided_at: str | None = None
    reason: str | None = None
    example_id: int | None = None
    approved_completion: str | None = None
    # The maths engine's record of a chat reply as stored (messages.maths_json, a JSON object that
    # learner.maths_record reads); None: not recorded (imported exchanges, older replies).
    maths_json: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewDetail:
    item: ReviewItem
    context: tuple[Turn, ...]            # the turns before the student message, oldest first


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyContext:
    """What a prompt builder needs to render the prompt a chat reply was answering."""
    message_id: int
    student_message_id: int
    session_id: int
    student_name: str
    grade: str
    topic: str
    mode: str | None
    # The turns before the reply, the last one the student message: all of them, unless the session
    # is longer than any prompt could be (HISTORY_CHARS), then the most recent ones.
    history: tuple[Turn, ...]
    reply: str


PromptBuilder = Callable[[ReplyContext], Sequence[Mapping[str, str]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueFilter:
    status: ItemStatus = "pending"
    student_id: int | None = None
    topic: str | None = None
    mode: str | None = None
    rating: RatingFilter | None = None
    since: str | None = None             # ISO date or time, inclusive
    until: str | None = None             # ISO date (whole day included) or time
    include_imported: bool = True
    limit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    review_id: int
    key: str
    decision: str
    example_id: int | None
    reason: str | None
    teacher_name: str
    batch: str
    created_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UndoResult:
    batch: str
    keys: tuple[str, ...]
    decision: str                        # of the undone batch (bulk approvals share one)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewCounts:
    pending: int
    approved_since_adapter: int
    approved_total: int
    rejected: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingExample:
    id: int
    uid: str
    prompt: tuple[dict[str, str], ...]
    completion: str
    original_completion: str | None
    mode: str | None
    topic: str
    grade: str
    status: str
    student_id: int | None
    approved_by: int | None
    approved_by_name: str
    approved_at: str
    source: str
    source_message_ids: tuple[int, ...]
    source_ref: str
    created_at: str

    def messages(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.prompt] + [{"role": "assistant", "content": self.completion}]


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterOptions:
    students: tuple[tuple[int, str], ...] = field(default_factory=tuple)
    topics: tuple[str, ...] = field(default_factory=tuple)


# -- keys ----------------------------------------------------------------------------------------

def parse_key(key: str | int) -> tuple[Literal["reply", "imported"], int]:
    text = str(key).strip().lower()
    kind: Literal["reply", "imported"] = "reply"
    if text[:1] == "m":
        text = text[1:]
    elif text[:1] == "i":
        kind, text = "imported", text[1:]
    if not text.isdigit():
        raise ValidationError(f"{key!r} is not a review item id: use m12 for a chat reply, i3 for an imported "
                              "exchange (a bare number means a chat reply).")
    return kind, int(text)


def make_key(kind: str, ident: int) -> str:
    return f"{'m' if kind == 'reply' else 'i'}{ident}"


# -- prompt validation and hashing ---------------------------------------------------------------

def validate_prompt(messages: Sequence[Mapping[str, Any]], *, what: str = "The prompt") -> list[dict[str, str]]:
    """Roles and contents checked; the last message must be the student's."""
    if not messages:
        raise ValidationError(f"{what} has no messages.")
    clean = [_checked_message(index, message, what) for index, message in enumerate(messages, start=1)]
    _check_ending(clean[-1], what)
    return clean


def _checked_message(index: int, message: Any, what: str) -> dict[str, str]:
    if not isinstance(message, Mapping):
        raise ValidationError(f"{what}: message {index} is not an object with role and content.")
    role, content = message.get("role"), message.get("content")
    if role is None:
        raise ValidationError(f"{what}: message {index} has no role.")
    if not isinstance(role, str) or role not in PROMPT_ROLES:
        raise ValidationError(f"{what}: message {index} has role {shown_text(repr(role))[:80]}; expected one of "
                              f"{', '.join(PROMPT_ROLES)}.")
    if not isinstance(content, str):
        raise ValidationError(f"{what}: message {index} ({role}) has no text content.")
    return {"role": role, "content": storable_text(content, f"{what}: message {index} ({role})")}


def _check_ending(last: Mapping[str, str], what: str) -> None:
    if last["role"] != "user":
        raise ValidationError(f"{what} must end with the student's message (role 'user'), "
                              f"but ends with {last['role']!r}.")
    if not last["content"].strip():
        raise ValidationError(f"{what}: the student's message is empty.")


def _clean_completion(text: str | None, what: str = "The approved reply") -> str:
    if text is None or not text.strip():
        raise ValidationError(f"{what} is empty; write the reply the tutor should have given.")
    return storable_text(text.strip(), what)


# -- the queue -----------------------------------------------------------------------------------

_REPLY_SQL = """
SELECT 'reply' AS kind, m.id AS message_id, NULL AS imported_id, m.content AS reply, m.mode AS mode,
       m.created_at AS created_at, s.id AS session_id, s.title AS session_title, s.topic AS topic,
       u.id AS student_id, u.name AS student_name, u.grade AS grade,
       (SELECT p.content FROM messages p WHERE p.session_id = m.session_id AND p.id < m.id
          AND p.role = 'user' ORDER BY p.id DESC LIMIT 1) AS student_message,
       f.rating AS rating, f.suggestion AS suggestion,
       r.id AS review_id, r.decision AS decision, r.teacher_name AS decided_by, r.created_at AS decided_at,
       r.reason AS reason, r.example_id AS example_id, te.completion AS approved_completion,
       m.maths_json AS maths_json
FROM messages m
JOIN sessions s ON s.id = m.session_id
JOIN users u ON u.id = s.user_id
LEFT JOIN feedback f ON f.message_id = m.id
LEFT JOIN reviews r ON r.message_id = m.id AND r.undone_at IS NULL
LEFT JOIN training_examples te ON te.id = r.example_id
WHERE m.role = 'assistant' AND m.status IN ('complete', 'stopped') AND s.private = 0
  AND NOT EXISTS (SELECT 1 FROM safeguarding_alerts sa  -- safeguarding: never reviewed, never trained on
                  WHERE sa.reply_id = m.id OR (sa.session_id = m.session_id AND sa.message_id < m.id))
"""

_IMPORTED_SQL = """
SELECT 'imported' AS kind, NULL AS message_id, x.id AS imported_id, x.completion AS reply, x.mode AS mode,
       x.created_at AS created_at, NULL AS session_id, x.source_ref AS session_title, x.topic AS topic,
       NULL AS student_id, COALESCE(cx.student_name, '') AS student_name, x.grade AS grade,
       (SELECT json_extract(j.value, '$.content') FROM json_each(x.prompt_json) j
          WHERE json_extract(j.value, '$.role') = 'user' ORDER BY j.key DESC LIMIT 1) AS student_message,
       cx.rating AS rating, cx.suggestion AS suggestion,
       r.id AS review_id, r.decision AS decision, r.teacher_name AS decided_by, r.created_at AS decided_at,
       r.reason AS reason, r.example_id AS example_id, te.completion AS approved_completion,
       NULL AS maths_json
FROM imported_exchanges x
LEFT JOIN class_exchanges cx ON cx.imported_id = x.id   -- from a class folder: the student's rating and suggestion
LEFT JOIN reviews r ON r.imported_id = x.id AND r.undone_at IS NULL
LEFT JOIN training_examples te ON te.id = r.example_id
"""


def _status_of(row: Mapping[str, Any]) -> ItemStatus:
    if row["decision"] is None:
        return "pending"
    return "rejected" if row["decision"] == "rejected" else "approved"


def _item(row: Mapping[str, Any]) -> ReviewItem:
    kind = row["kind"]
    return ReviewItem(
        key=make_key(kind, row["message_id"] if kind == "reply" else row["imported_id"]),
        kind=kind, message_id=row["message_id"], imported_id=row["imported_id"], status=_status_of(row),
        student_id=row["student_id"], student_name=row["student_name"] or "", grade=row["grade"] or "",
        session_id=row["session_id"], session_title=row["session_title"] or "", topic=row["topic"] or "",
        mode=row["mode"], student_message=row["student_message"] or "", reply=row["reply"],
        rating=row["rating"], suggestion=row["suggestion"], created_at=row["created_at"],
        review_id=row["review_id"], decision=row["decision"], decided_by=row["decided_by"],
        decided_at=row["decided_at"], reason=row["reason"], example_id=row["example_id"],
        approved_completion=row["approved_completion"], maths_json=row["maths_json"],
    )


# The queue's condition for each status and each rating filter (QueueFilter.status / .rating).
_STATUS_SQL = {"pending": "decision IS NULL", "approved": "decision IN ('approved', 'edited')",
               "rejected": "decision = 'rejected'"}
_RATING_SQL = {"down": "rating = -1", "up": "rating = 1", "unrated": "rating IS NULL"}


def _queue_sql(filt: QueueFilter) -> tuple[str, list[Any]]:
    parts = [_REPLY_SQL]
    if filt.include_imported and filt.student_id is None:   # class exchanges carry ratings too
        parts.append(_IMPORTED_SQL)
    sql = "SELECT * FROM (" + " UNION ALL ".join(parts) + ") AS q WHERE student_message IS NOT NULL"
    params: list[Any] = []
    if filt.status not in _STATUS_SQL:
        raise ValidationError(f"Unknown status {filt.status!r}: expected pending, approved or rejected.")
    sql += " AND " + _STATUS_SQL[filt.status]
    if filt.student_id is not None:
        sql += " AND student_id = ?"
        params.append(filt.student_id)
    if filt.topic:
        sql += " AND topic = ? COLLATE NOCASE"
        params.append(filt.topic)
    if filt.mode:
        sql += " AND mode = ?"
        params.append(filt.mode)
    if filt.rating is not None:
        if filt.rating not in _RATING_SQL:
            raise ValidationError(f"Unknown rating filter {filt.rating!r}: expected down, up or unrated.")
        sql += " AND " + _RATING_SQL[filt.rating]
    if filt.since:
        sql += " AND created_at >= ?"
        params.append(filt.since)
    if filt.until:
        sql += " AND created_at < ?"
        params.append(end_of(filt.until))
    return sql, params


def list_queue(db: Database, actor: User, filt: QueueFilter = QueueFilter()) -> list[ReviewItem]:
    """Items with the given status, 👎-rated first, then oldest first (the order a teacher works in)."""
    require_teacher(actor, db)
    sql, params = _queue_sql(filt)
    sql += " ORDER BY CASE WHEN rating = -1 THEN 0 ELSE 1 END, created_at, kind DESC, message_id, imported_id"
    if filt.limit:
        sql += f" LIMIT {int(filt.limit)}"
    return [_item(r) for r in db.query(sql, tuple(params))]


def count_queue(db: Database, actor: User, filt: QueueFilter = QueueFilter()) -> int:
    require_teacher(actor, db)
    sql, params = _queue_sql(filt)
    return db.query(f"SELECT COUNT(*) AS n FROM ({sql})", tuple(params))[0]["n"]


def _fetch_item(db: Database, kind: str, ident: int) -> ReviewItem | None:
    if kind == "reply":
        sql = "SELECT * FROM (" + _REPLY_SQL + " AND m.id = ?) AS q"
    else:
        sql = "SELECT * FROM (" + _IMPORTED_SQL + " WHERE x.id = ?) AS q"
    rows = db.query(sql, (ident,))
    return _item(rows[0]) if rows else None


def get_item(db: Database, actor: User, key: str | int) -> ReviewItem:
    require_teacher(actor, db)
    kind, ident = parse_key(key)
    item = _fetch_item(db, kind, ident)
    if item is None:
        raise _missing(db, kind, ident)
    return item


def _missing(db: Database, kind: str, ident: int) -> Exception:
    """Why an item is not reviewable, in words a teacher can act on."""
    key = make_key(kind, ident)
    if kind == "imported":
        return NotFoundError(f"Imported exchange {key} no longer exists.")
    rows = db.query("SELECT m.role, m.status, s.private FROM messages m JOIN sessions s ON s.id = m.session_id "
                    "WHERE m.id = ?", (ident,))
    if not rows:
        return NotFoundError(f"Reply {key} no longer exists: the student deleted that chat (or the profile). "
                             "Nothing was changed.")
    row = rows[0]
    if _flagged_reply(db, ident):
        return ValidationError(f"Reply {key} answers or follows a message flagged by the safeguarding screen; "
                               "it is never used for learning. See Teacher ▸ Safeguarding alerts.")
    if row["private"]:
        return ValidationError(f"Reply {key} is in a session the student marked private; it cannot be used "
                               "for learning.")
    if row["role"] != "assistant":
        return ValidationError(f"{key} is a student message, not a tutor reply; only replies are reviewed.")
    return ValidationError(f"Reply {key} is not finished ({row['status']}); only complete or stopped replies "
                           "are reviewed.")


def _flagged_reply(db: Database, message_id: int) -> bool:
    return bool(db.query(
        "SELECT 1 FROM safeguarding_alerts sa JOIN messages m ON m.id = ? WHERE sa.reply_id = m.id "
        "OR (sa.session_id = m.session_id AND sa.message_id < m.id) LIMIT 1", (message_id,)))


# A reply answered at most 4,096 tokens of context (learner.loading caps the window), about 16,000
# characters at ~4 a token. A snapshot rendered without a recorded prompt keeps twice that of the
# most recent turns: everything the model could have seen, while a session of thousands of turns
# does not hand its whole history to every one of its snapshots. The training job trims
# token-exactly. The oldest turns go in blocks of HISTORY_BLOCK, so consecutive snapshots of one
# session start at the same turn and share their stored prefix (storage.prompt_store).
HISTORY_CHARS = 32_000
HISTORY_BLOCK = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class _SessionTurns:
    ids: list[int]
    turns: tuple[Turn, ...]
    chars: list[int]                     # chars[i]: characters in turns[:i]


def _session_turns(db: Database, session_id: int, before: int | None = None) -> _SessionTurns:
    sql = "SELECT id, role, content FROM messages WHERE session_id = ? AND status IN ('complete', 'stopped')"
    params: tuple[int, ...] = (session_id,)
    if before is not None:
        sql, params = sql + " AND id < ?", (session_id, before)
    rows = db.query(sql + " ORDER BY id", params)
    turns = tuple(Turn(role=r["role"], content=r["content"], message_id=r["id"]) for r in rows)
    return _SessionTurns(ids=[r["id"] for r in rows], turns=turns,
                         chars=[0, *itertools.accumulate(len(t.content) for t in turns)])


def _turns_before(db: Database, session_id: int, message_id: int,
                  sessions: dict[int, _SessionTurns] | None = None) -> tuple[Turn, ...]:
    """The finished turns of the session before `message_id`, all of them."""
    return _history(db, session_id, message_id, sessions)[0]


def _history(db: Database, session_id: int, message_id: int,
             sessions: dict[int, _SessionTurns] | None) -> tuple[tuple[Turn, ...], list[int]]:
    """The turns before `message_id` and their running character counts. With `sessions` (a bulk
    approval) each session is read once and sliced, instead of once per reply."""
    if sessions is None:
        found = _session_turns(db, session_id, before=message_id)
        return found.turns, found.chars
    if session_id not in sessions:
        sessions[session_id] = _session_turns(db, session_id)
    found = sessions[session_id]
    end = bisect.bisect_left(found.ids, message_id)
    return found.turns[:end], found.chars[:end + 1]


def _recent_start(history: tuple[Turn, ...], chars: list[int], cut: int) -> int:
    """Where the turns a prompt can hold start (see HISTORY_CHARS): at a block boundary, then at the
    student's next message."""
    if chars[cut] <= HISTORY_CHARS:
        return 0
    start = bisect.bisect_left(chars, chars[cut] - HISTORY_CHARS) // HISTORY_BLOCK * HISTORY_BLOCK
    while start < cut - 1 and history[start].role != "user":
        start += 1
    return start


def get_detail(db: Database, actor: User, key: str | int) -> ReviewDetail:
    item = get_item(db, actor, key)
    if item.kind == "reply":
        assert item.session_id is not None and item.message_id is not None
        history = _turns_before(db, item.session_id, item.message_id)
        # Everything before the student message this reply answered.
        last_user = max((i for i, t in enumerate(history) if t.role == "user"), default=len(history))
        context = history[:last_user]
    else:
        prompt = json.loads(db.query("SELECT prompt_json FROM imported_exchanges WHERE id = ?",
                                     (item.imported_id,))[0]["prompt_json"])
        context = tuple(Turn(role=m["role"], content=m["content"]) for m in prompt[:-1])
    return ReviewDetail(item=item, context=context)


def reply_context(db: Database, actor: User, message_id: int) -> ReplyContext:
    """The inputs a prompt builder needs for one chat reply."""
    require_teacher(actor, db)
    return _reply_context(db, message_id)


def _reply_context(db: Database, message_id: int, item: ReviewItem | None = None,
                   sessions: dict[int, _SessionTurns] | None = None) -> ReplyContext:
    item = item or _fetch_item(db, "reply", message_id)
    if item is None:
        raise _missing(db, "reply", message_id)
    assert item.session_id is not None
    history, chars = _history(db, item.session_id, message_id, sessions)
    last_user = next((i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), None)
    if last_user is None:
        raise ValidationError(f"Reply {item.key} has no student message before it; there is nothing to learn from.")
    # Turns after the student message (e.g. a failed retry) are not part of what the reply answered.
    cut = last_user + 1
    return ReplyContext(
        message_id=message_id, student_message_id=history[last_user].message_id or 0, session_id=item.session_id,
        student_name=item.student_name, grade=item.grade, topic=item.topic, mode=item.mode,
        history=history[_recent_start(history, chars, cut):cut], reply=item.reply,
    )


def record_reply_prompt(db: Database, message_id: int, messages: Sequence[Mapping[str, str]]) -> None:
    """Remember the exact prompt (system, earlier turns, the student's turn as sent to the model)
    a tutor reply was generated from. Called by the chat when a reply is produced; not a teacher
    action. An approval later snapshots this instead of rendering the prompt again."""
    prompt = validate_prompt(messages, what="The reply's prompt")
    rows = db.query("SELECT role FROM messages WHERE id = ?", (message_id,))
    if not rows:
        raise NotFoundError(f"No message with id {message_id}; it may have been deleted.")
    if rows[0]["role"] != "assistant":
        raise ValidationError("Only a tutor reply has a prompt.")
    with db.transaction() as t:
        node, _digest = PromptWriter(db.conn).store(list(map(pair_of, prompt)))
        t["reply_prompts"].upsert({"message_id": message_id, "prompt_json": "", "prompt_node": node,
                                   "created_at": utcnow()}, pk="message_id")
        collect_garbage(db.conn)   # the prompt it replaced, when a reply was recorded twice


def filter_options(db: Database, actor: User) -> FilterOptions:
    """Students and topics that have reviewable replies, for the filter pickers."""
    require_teacher(actor, db)
    students = db.query(
        "SELECT DISTINCT u.id, u.name FROM users u JOIN sessions s ON s.user_id = u.id "
        "JOIN messages m ON m.session_id = s.id WHERE m.role = 'assistant' AND s.private = 0 "
        "ORDER BY u.name COLLATE NOCASE")
    topics = db.query(
        "SELECT DISTINCT topic FROM (SELECT s.topic FROM sessions s WHERE s.private = 0 "
        "UNION SELECT topic FROM imported_exchanges) WHERE topic != '' ORDER BY topic COLLATE NOCASE")
    return FilterOptions(students=tuple((r["id"], r["name"]) for r in students),
                         topics=tuple(r["topic"] for r in topics))


# -- decisions -----------------------------------------------------------------------------------

def _new_batch() -> str:
    return uuid.uuid4().hex


def _already_decided(item: ReviewItem) -> AlreadyDecided:
    verb = {"approved": "approved", "edited": "edited and approved", "rejected": "rejected"}[item.decision or ""]
    return AlreadyDecided(f"{'Reply' if item.kind == 'reply' else 'Imported exchange'} {item.key} was already "
                          f"{verb} by {item.decided_by} at {item.decided_at}. Undo that decision first to change it.")


def _pending_item(db: Database, kind: str, ident: int) -> ReviewItem:
    """The item, still waiting for a decision; raises why not (`_missing`, `_already_decided`) otherwise."""
    item = _fetch_item(db, kind, ident)
    if item is None:
        raise _missing(db, kind, ident)
    if item.status != "pending":
        raise _already_decided(item)
    return item


@dataclass(frozen=True, slots=True, kw_only=True)
class _Prepared:
    item: ReviewItem
    prompt: list[Pair]           # (role, content), checked
    source_message_ids: list[int]
    student_id: int | None
    original: str
    source_ref: str
    uid: str | None = None       # an imported exchange's exported split id, kept when still free


class _Snapshots:
    """What one approval action shares between its snapshots: each session's turns read once, the
    last checked prompt (a long session's next prompt is checked from where they differ), and the
    prompt writer (its stored prefixes are shared). Without it a bulk approval of 3,000 replies of
    one session re-read, re-checked and re-hashed the whole history 3,000 times."""

    def __init__(self, db: Database) -> None:
        self.writer = PromptWriter(db.conn)
        self.sessions: dict[int, _SessionTurns] = {}
        self._checked: list[Pair] = []

    def check(self, messages: Sequence[Mapping[str, Any]], what: str) -> list[Pair]:
        """The prompt's (role, content) pairs, validated as validate_prompt does; only the messages
        after the prefix it shares with the previous prompt are looked at one by one."""
        if not messages:
            raise ValidationError(f"{what} has no messages.")
        try:
            pairs = list(map(pair_of, messages))
        except (KeyError, TypeError, AttributeError):
            validate_prompt(messages, what=what)      # says what is wrong
            raise
        shared = common_prefix(self._checked, pairs)
        for index in range(shared, len(pairs)):
            _checked_message(index + 1, messages[index], what)
        _check_ending({"role": pairs[-1][0], "content": pairs[-1][1]}, what)
        self._checked = pairs
        return pairs


def recorded_prompt(db: Database, message_id: int) -> list[dict[str, str]] | None:
    """The prompt recorded for a reply (record_reply_prompt), or None when there is none."""
    rows = db.query("SELECT prompt_json, prompt_node FROM reply_prompts WHERE message_id = ?", (message_id,))
    if not rows:
        return None
    if rows[0]["prompt_node"] is not None:
        node = rows[0]["prompt_node"]
        return [dict(m) for m in load_prompts(db.conn, [node])[node]]
    return json.loads(rows[0]["prompt_json"])


def _prepare(db: Database, key: str | int, prompt_for: PromptBuilder | None,
             shared: _Snapshots | None = None) -> _Prepared:
    """Everything an approval needs that can be read before taking the write lock."""
    shared = shared or _Snapshots(db)
    kind, ident = parse_key(key)
    item = _pending_item(db, kind, ident)
    if kind == "reply":
        ctx = _reply_context(db, ident, item, shared.sessions)
        recorded = recorded_prompt(db, ident)
        if recorded:   # the prompt the reply was really generated from: the exact context
            prompt = shared.check(recorded, f"The recorded prompt of reply {item.key}")
        elif prompt_for is None:
            raise ValidationError(f"Reply {item.key} has no recorded prompt and no prompt_for was given to "
                                  "render one.")
        else:
            prompt = shared.check(list(prompt_for(ctx)), f"The prompt rendered for reply {item.key}")
        return _Prepared(item=item, prompt=prompt, source_message_ids=[ctx.student_message_id, ident],
                         student_id=item.student_id, original=item.reply, source_ref="")
    row = db.query("SELECT prompt_json, completion, source_ref, uid FROM imported_exchanges WHERE id = ?",
                   (ident,))[0]
    return _Prepared(item=item, prompt=list(map(pair_of, json.loads(row["prompt_json"]))), source_message_ids=[],
                     student_id=None, original=row["completion"], source_ref=row["source_ref"], uid=row["uid"])


def _write_decision(db: Database, teacher: User, prep: _Prepared, *, decision: str, batch: str, now: str,
                    completion: str | None = None, reason: str | None = None,
                    shared: _Snapshots | None = None) -> Decision:
    """Inside the caller's transaction: re-check the item, write the snapshot and the review row."""
    item = prep.item
    kind, ident = parse_key(item.key)
    current = _pending_item(db, kind, ident)
    example_id = None
    if decision in ("approved", "edited"):
        assert completion is not None
        shared = shared or _Snapshots(db)
        uid = prep.uid
        if uid is None or db.query("SELECT 1 FROM training_examples WHERE uid = ?", (uid,)):
            uid = uuid.uuid4().hex   # no exported id, or it is taken (an undone approval keeps its row)
        node, digest = shared.writer.store(prep.prompt)
        example_id = db.conn.execute(
            "INSERT INTO training_examples (uid, prompt_json, prompt_node, completion, original_completion, mode, "
            "topic, grade, status, student_id, approved_by, approved_by_name, approved_at, source, "
            "source_message_ids, source_ref, content_sha256, created_at) "
            "VALUES (?, '', ?, ?, ?, ?, ?, ?, 'approved', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, node, completion, prep.original if decision == "edited" else None, current.mode, current.topic,
             current.grade, prep.student_id, teacher.id, teacher.name, now, "review" if kind == "reply" else "import",
             json.dumps(prep.source_message_ids), prep.source_ref, content_hash_of(digest, completion),
             now)).lastrowid
    try:
        review_id = db.conn.execute(
            "INSERT INTO reviews (message_id, imported_id, example_id, decision, reason, teacher_id, teacher_name, "
            "batch, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ident if kind == "reply" else None, ident if kind == "imported" else None, example_id, decision, reason,
             teacher.id, teacher.name, batch, now)).lastrowid
    except sqlite3.IntegrityError as exc:  # a decision by another window landed in between
        raise AlreadyDecided(f"{item.key} was decided by someone else a moment ago; refresh the queue.") from exc
    return Decision(review_id=review_id, key=item.key, decision=decision, example_id=example_id, reason=reason,
                    teacher_name=teacher.name, batch=batch, created_at=now)


def approve(db: Database, actor: User, key: str | int, *, prompt_for: PromptBuilder | None = None,
            completion: str | None = None) -> Decision:
    """Approve one item as it is, or (with `completion`) with the teacher's rewrite of the reply.

    Audit entries name students by id only, so deleting a student (data rights) leaves no name
    behind in the routine log; the deletion entry itself records who was deleted.
    """
    teacher = require_teacher(actor, db)
    prep = _prepare(db, key, prompt_for)
    if completion is None:
        text, decision = _clean_completion(prep.original, f"Reply {prep.item.key}"), "approved"
    else:
        text = _clean_completion(completion, "The edited reply")
        decision = "approved" if text == prep.original.strip() else "edited"
    batch, now = _new_batch(), utcnow()
    with db.transaction():
        result = _write_decision(db, teacher, prep, decision=decision, batch=batch, now=now, completion=text)
        audit.record(db, teacher, "review.edit_approve" if decision == "edited" else "review.approve",
                     target=prep.item.key, details={"example_id": result.example_id,
                                                    "student_id": prep.item.student_id})
    return result


def edit_and_approve(db: Database, actor: User, key: str | int, completion: str, *,
                     prompt_for: PromptBuilder | None = None) -> Decision:
    return approve(db, actor, key, prompt_for=prompt_for, completion=completion)


def editor_prefill(db: Database, actor: User, key: str | int) -> str:
    """What the edit box starts with: the student's suggested better answer if there is one,
    otherwise the reply itself."""
    item = get_item(db, actor, key)
    return item.suggestion if item.suggestion else item.reply


def reject(db: Database, actor: User, key: str | int, reason: str) -> Decision:
    teacher = require_teacher(actor, db)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A rejection needs a reason (what was wrong with the reply).")
    kind, ident = parse_key(key)
    item = _pending_item(db, kind, ident)
    prep = _Prepared(item=item, prompt=[], source_message_ids=[], student_id=item.student_id, original=item.reply,
                     source_ref="")
    batch, now = _new_batch(), utcnow()
    with db.transaction():
        result = _write_decision(db, teacher, prep, decision="rejected", batch=batch, now=now, reason=reason)
        audit.record(db, teacher, "review.reject", target=item.key,
                     details={"reason": reason, "student_id": item.student_id})
    return result


def approve_many(db: Database, actor: User, keys: Iterable[str | int], *,
                 prompt_for: PromptBuilder | None = None, _batch: str | None = None,
                 _action: str = "review.bulk_approve") -> list[Decision]:
    """Approve several items as one action (one undo). All or nothing: if any item cannot be
    approved, none is, and the error names it."""
    teacher = require_teacher(actor, db)
    unique_keys: list[str] = []
    for key in keys:
        kind, ident = parse_key(key)
        normal = make_key(kind, ident)
        if normal not in unique_keys:
            unique_keys.append(normal)
    if not unique_keys:
        raise ValidationError("Nothing is selected to approve.")
    shared = _Snapshots(db)
    prepared = [_prepare(db, key, prompt_for, shared) for key in unique_keys]
    for prep in prepared:
        _clean_completion(prep.original, f"Reply {prep.item.key}")
    batch, now = _batch or _new_batch(), utcnow()
    with db.transaction():
        results = [_write_decision(db, teacher, prep, decision="approved", batch=batch, now=now,
                                   completion=prep.original.strip(), shared=shared) for prep in prepared]
        audit.record(db, teacher, _action, target=",".join(unique_keys[:50]) + (" …" if len(unique_keys) > 50 else ""),
                     details={"count": len(results), "batch": batch,
                              "example_ids": [r.example_id for r in results]})
    return results


def undo_last(db: Database, actor: User) -> UndoResult:
    """Undo this teacher's most recent standing decision (a whole bulk approval at once).

    Approvals are undone by retracting their training example (kept for provenance, never trained
    on again); the item returns to the pending queue.
    """
    teacher = require_teacher(actor, db)
    with db.transaction() as t:
        last = db.query("SELECT batch FROM reviews WHERE teacher_id = ? AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
                        (teacher.id,))
        if not last:
            raise ValidationError("There is no decision of yours to undo.")
        batch = last[0]["batch"]
        rows = db.query("SELECT * FROM reviews WHERE batch = ? AND undone_at IS NULL ORDER BY id", (batch,))
        now = utcnow()
        for row in rows:
            t.execute("UPDATE reviews SET undone_at = ? WHERE id = ?", [now, row["id"]])
            if row["example_id"] is not None:
                t.execute("UPDATE training_examples SET status = 'retracted', retracted_at = ? "
                          "WHERE id = ? AND status = 'approved'", [now, row["example_id"]])
        keys = tuple(make_key("reply", r["message_id"]) if r["message_id"] is not None
                     else make_key("imported", r["imported_id"]) for r in rows)
        decision = rows[0]["decision"] if len(rows) == 1 else "approved"
        audit.record(db, teacher, "review.undo", target=",".join(keys[:50]),
                     details={"batch": batch, "decision": decision, "count": len(keys)})
    return UndoResult(batch=batch, keys=keys, decision=decision)


# -- counts and examples -------------------------------------------------------------------------

def last_adapter_cutoff(db: Database) -> str | None:
    """The newest approval the active adapter was trained on (its `examples_approved_until`), or
    None when no adapter is active."""
    rows = db.query("SELECT examples_approved_until AS cutoff FROM adapters WHERE status = 'active' LIMIT 1")
    return rows[0]["cutoff"] if rows else None


def counts(db: Database, actor: User) -> ReviewCounts:
    require_teacher(actor, db)
    pending = count_queue(db, actor, QueueFilter(status="pending"))
    cutoff = last_adapter_cutoff(db)
    approved_total = db.query(f"SELECT COUNT(*) AS n FROM training_examples te WHERE {_TRAINABLE}")[0]["n"]
    if cutoff:
        since = db.query(f"SELECT COUNT(*) AS n FROM training_examples te WHERE {_TRAINABLE} AND te.approved_at > ?",
                         (cutoff,))[0]["n"]
    else:
        since = approved_total
    rejected = db.query("SELECT COUNT(*) AS n FROM reviews WHERE decision = 'rejected' AND undone_at IS NULL")[0]["n"]
    return ReviewCounts(pending=pending, approved_since_adapter=since, approved_total=approved_total,
                        rejected=rejected)


# Approved, not from a session now marked private, and not from (or after) a message the
# safeguarding screen flagged in that session (storage.safeguarding).
_TRAINABLE = """te.status = 'approved' AND NOT EXISTS (
    SELECT 1 FROM json_each(te.source_message_ids) j
    JOIN messages m ON m.id = j.value JOIN sessions s ON s.id = m.session_id
    WHERE s.private = 1) AND NOT EXISTS (
    SELECT 1 FROM json_each(te.source_message_ids) j
    JOIN safeguarding_alerts sa ON sa.message_id = j.value OR sa.reply_id = j.value
        OR sa.session_id = (SELECT m.session_id FROM messages m WHERE m.id = j.value) AND sa.message_id <= j.value)"""


def _examples(db: Database, rows: Sequence[Mapping[str, Any]]) -> list[TrainingExample]:
    """Rows as examples; prompts stored as chains are read in one pass (their shared prefixes once)."""
    prompts = load_prompts(db.conn, [r["prompt_node"] for r in rows if r["prompt_node"] is not None])
    return [_example(r, prompts[r["prompt_node"]] if r["prompt_node"] is not None
                     else tuple(json.loads(r["prompt_json"]))) for r in rows]


def _example(row: Mapping[str, Any], prompt: tuple[dict[str, str], ...]) -> TrainingExample:
    return TrainingExample(
        id=row["id"], uid=row["uid"], prompt=prompt, completion=row["completion"],
        original_completion=row["original_completion"], mode=row["mode"], topic=row["topic"], grade=row["grade"],
        status=row["status"], student_id=row["student_id"], approved_by=row["approved_by"],
        approved_by_name=row["approved_by_name"], approved_at=row["approved_at"], source=row["source"],
        source_message_ids=tuple(json.loads(row["source_message_ids"])), source_ref=row["source_ref"],
        created_at=row["created_at"],
    )


def list_examples(db: Database, *, status: Literal["approved", "retracted"] = "approved") -> list[TrainingExample]:
    """Training examples in approval order. Not a teacher action (the training job reads these).

    "approved" means trainable: approved, and not from a chat the student has since marked private
    ("don't use this session for learning" applies to what was approved before the toggle too).
    The row itself stays unchanged; unmarking the session brings it back.
    """
    if status == "approved":
        sql = f"SELECT te.* FROM training_examples te WHERE {_TRAINABLE} ORDER BY te.approved_at, te.id"
        return _examples(db, db.query(sql))
    return _examples(db, db.query("SELECT * FROM training_examples WHERE status = ? ORDER BY approved_at, id",
                                  (status,)))


def get_example(db: Database, example_id: int) -> TrainingExample:
    rows = db.query("SELECT * FROM training_examples WHERE id = ?", (example_id,))
    if not rows:
        raise NotFoundError(f"No training example with id {example_id}.")
    return _examples(db, rows)[0]
