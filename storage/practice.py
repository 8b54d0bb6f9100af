"""Practice items, attempts, disputes, mastery, spaced-review cards and guard events.

Typed functions over the 0004_practice tables (with 0013's checked keys). The arithmetic (Bayesian Knowledge Tracing, FSRS)
lives in learner.mastery; this module only stores what it computed, each logical step in one
transaction, so a crash never leaves an attempt without its mastery update or card.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from storage.users import User, get_user
from storage.db import Database, utcnow
from storage.errors import NotFoundError, ValidationError, required_text

Verdict = Literal["correct", "partly", "incorrect"]
VERDICTS: tuple[Verdict, ...] = ("correct", "partly", "incorrect")
Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
DisputeStatus = Literal["open", "upheld", "overturned"]
GuardOutcome = Literal["passed", "regenerated", "withheld"]
# Where an item's key came from: computed by a generator; written by the model and unchecked; written
# by the model and confirmed by the engine's recomputation; or replaced by the recomputed value.
KeySource = Literal["generator", "model", "model_verified", "model_corrected"]
KEY_SOURCES: tuple[KeySource, ...] = ("generator", "model", "model_verified", "model_corrected")

# An answer is a worked attempt, not an essay: 4,000 characters (about a page) is far more than any
# practice question needs, and keeps the checking prompt well inside a small model's context.
MAX_ANSWER_CHARS = 4000
MAX_QUESTION_CHARS = 4000
MAX_KEY_CHARS = 2000
MAX_TOPIC_CHARS = 120
MAX_DISPUTE_REASON_CHARS = 2000
MAX_WRONG_ANSWERS = 20
MAX_WORKED_STEPS = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownWrongAnswer:
    """A wrong answer a known misconception gives for one item (the engine's WrongAnswer, stored)."""
    answer: str                 # as a student would write it: "3/9"
    values: tuple[str, ...]     # its exact value(s) as fractions: ("1/3",)
    code: str                   # the misconception: "fraction_added_across"
    name: str                   # "added the numerators and added the denominators"
    hint: str                   # what to look at again, without the answer


@dataclass(frozen=True, slots=True, kw_only=True)
class PracticeItem:
    id: int
    user_id: int
    session_id: int | None
    source_message_id: int | None
    topic: str
    question: str
    answer_key: str
    difficulty: Difficulty
    grade: str
    model_id: str | None
    adapter_version: int | None
    revealed_at: str | None
    created_at: str
    # How far the key can be trusted, and what judging an answer by equivalence needs. Rows from
    # before 0013 read as an unchecked model key.
    checked: bool = False
    key_source: KeySource = "model"
    key_note: str = ""
    model_answer_key: str | None = None     # the model's own key, when the engine's replaced or confirmed it
    require_simplest: bool = False
    tolerance: str = "0"                    # an exact fraction: "0", "1/100"
    wrong_answers: tuple[KnownWrongAnswer, ...] = ()
    worked_steps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    id: int
    item_id: int
    user_id: int
    answer: str
    verdict: Verdict
    feedback: str
    model_id: str | None
    adapter_version: int | None
    disputed: bool
    p_known_before: float | None
    p_known_after: float | None
    created_at: str
    misconception: str | None = None    # the code of the known mistake the answer matched


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispute:
    id: int
    attempt_id: int
    user_id: int
    student_name: str
    reason: str
    status: DisputeStatus
    teacher_verdict: Verdict | None
    teacher_note: str | None
    resolved_by_name: str | None
    resolved_at: str | None
    created_at: str
    # what the teacher needs to judge it, joined in
    question: str
    answer_key: str
    answer: str
    verdict: Verdict
    feedback: str
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Mastery:
    user_id: int
    topic: str
    p_known: float
    n_attempts: int
    updated_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MasteryPoint:
    topic: str
    p_known: float
    created_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewCard:
    item_id: int
    user_id: int
    card_json: str      # fsrs.Card.to_json(); learner.mastery turns it back into a Card
    due: str            # UTC ISO-8601, seconds
    updated_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DueItem:
    item: PracticeItem
    due: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TellingRate:
    adapter_version: int | None   # None = the base model
    checked: int                  # replies the guard looked at
    caught: int                   # ... that gave the answer away on the first try
    withheld: int                 # ... where the retry gave it away too, so the student saw a safe message

    @property
    def rate(self) -> float:
        return self.caught / self.checked if self.checked else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassCell:
    user_id: int
    student_name: str
    topic: str
    p_known: float
    n_attempts: int


# -- validation ----------------------------------------------------------------------------------

def clean_answer(answer: str | None) -> str:
    """The student's answer as stored, or ValidationError with a message for the student."""
    value = (answer or "").strip()
    if not value:
        raise ValidationError("Your answer is empty. Write what you think the answer is (a guess is fine) "
                              "before checking.")
    if len(value) > MAX_ANSWER_CHARS:
        raise ValidationError(f"Your answer is {len(value):,} characters long; answers can be at most "
                              f"{MAX_ANSWER_CHARS:,}. Shorten it to the result and the key steps.")
    return value


def _check_verdict(verdict: str) -> Verdict:
    if verdict not in VERDICTS:
        raise ValidationError(f"Unknown verdict {verdict!r}: expected correct, partly or incorrect.")
    return verdict  # type: ignore[return-value]


# -- items ---------------------------------------------------------------------------------------

_ITEM_COLUMNS = ("id", "user_id", "session_id", "source_message_id", "topic", "question", "answer_key", "difficulty",
                 "grade", "model_id", "adapter_version", "revealed_at", "created_at", "key_source", "key_note",
                 "model_answer_key", "tolerance")


def _item(row: dict[str, Any]) -> PracticeItem:
    wrong = tuple(KnownWrongAnswer(answer=w["answer"], values=tuple(w["values"]), code=w["code"], name=w["name"],
                                   hint=w["hint"]) for w in json.loads(row["wrong_answers_json"] or "[]"))
    return PracticeItem(**{f: row[f] for f in _ITEM_COLUMNS}, checked=bool(row["checked"]),
                        require_simplest=bool(row["require_simplest"]), wrong_answers=wrong,
                        worked_steps=tuple(json.loads(row["worked_steps_json"] or "[]")))


def _exact(value: str | Fraction | int, what: str) -> Fraction:
    try:
        return Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ValidationError(f"{what} {value!r} is not an exact number (expected e.g. 0, 0.01 or 1/100).") from exc


def _tolerance(value: str | Fraction | int) -> str:
    tolerance = _exact(value, "The tolerance")
    if tolerance < 0:
        raise ValidationError(f"The tolerance {value!r} is negative.")
    return str(tolerance)


def _wrong_answers_json(wrong_answers: tuple[KnownWrongAnswer, ...]) -> str:
    if len(wrong_answers) > MAX_WRONG_ANSWERS:
        raise ValidationError(f"An item lists at most {MAX_WRONG_ANSWERS} wrong answers.")
    return json.dumps([{"answer": w.answer, "values": [str(_exact(v, "A wrong answer's value")) for v in w.values],
                        "code": w.code, "name": w.name, "hint": w.hint} for w in wrong_answers], ensure_ascii=False)


def add_item(db: Database, user_id: int, *, topic: str, question: str, answer_key: str,
             difficulty: str = "medium", grade: str = "", session_id: int | None = None,
             source_message_id: int | None = None, model_id: str | None = None,
             adapter_version: int | None = None, checked: bool = False, key_source: str = "model",
             key_note: str = "", model_answer_key: str | None = None, require_simplest: bool = False,
             tolerance: str | Fraction | int = "0", wrong_answers: tuple[KnownWrongAnswer, ...] = (),
             worked_steps: tuple[str, ...] = ()) -> PracticeItem:
    """Store one item. `checked` must say what `key_source` says: only a key the engine computed or
    recomputed counts as checked."""
    topic = required_text(topic, "The topic", max_len=MAX_TOPIC_CHARS)
    question = required_text(question, "The question", max_len=MAX_QUESTION_CHARS)
    answer_key = required_text(answer_key, "The answer key", max_len=MAX_KEY_CHARS)
    if difficulty not in DIFFICULTIES:
        raise ValidationError(f"Unknown difficulty {difficulty!r}: expected easy, medium or hard.")
    if key_source not in KEY_SOURCES:
        raise ValidationError(f"Unknown key source {key_source!r}: expected one of {', '.join(KEY_SOURCES)}.")
    if checked != (key_source != "model"):
        raise ValidationError(f"A key from {key_source!r} cannot be stored as {'checked' if checked else 'unchecked'}.")
    if len(worked_steps) > MAX_WORKED_STEPS:
        raise ValidationError(f"An item has at most {MAX_WORKED_STEPS} worked steps.")
    with db.transaction() as t:
        get_user(db, user_id)
        item_id = t["practice_items"].insert({
            "user_id": user_id, "session_id": session_id, "source_message_id": source_message_id,
            "topic": topic, "question": question, "answer_key": answer_key, "difficulty": difficulty,
            "grade": grade.strip(), "model_id": model_id, "adapter_version": adapter_version,
            "revealed_at": None, "created_at": utcnow(), "checked": int(checked), "key_source": key_source,
            "key_note": (key_note or "").strip()[:MAX_KEY_CHARS], "model_answer_key": model_answer_key,
            "require_simplest": int(require_simplest), "tolerance": _tolerance(tolerance),
            "wrong_answers_json": _wrong_answers_json(tuple(wrong_answers)),
            "worked_steps_json": json.dumps([str(s) for s in worked_steps], ensure_ascii=False),
        }).last_pk
    return get_item(db, item_id)


def get_item(db: Database, item_id: int) -> PracticeItem:
    rows = db.query("SELECT * FROM practice_items WHERE id = ?", (item_id,))
    if not rows:
        raise NotFoundError(f"No practice item with id {item_id}; it may have been deleted.")
    return _item(rows[0])


def list_items(db: Database, user_id: int, *, topic: str | None = None, limit: int = 200) -> list[PracticeItem]:
    sql = "SELECT * FROM practice_items WHERE user_id = ?"
    params: list[Any] = [user_id]
    if topic:
        sql += " AND topic = ? COLLATE NOCASE"
        params.append(topic.strip())
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_item(r) for r in db.query(sql, tuple(params))]


def mark_revealed(db: Database, item_id: int) -> PracticeItem:
    with db.transaction() as t:
        item = get_item(db, item_id)
        if item.revealed_at is None:
            t["practice_items"].update(item_id, {"revealed_at": utcnow()})
    return get_item(db, item_id)


def latest_session_key(db: Database, session_id: int) -> tuple[str, str] | None:
    """(answer key, question) of the newest practice question in a chat session, from a practice
    item opened there (unless revealed or answered correctly) or a practice-mode reply; None when
    the session has none."""
    rows = db.query(
        "SELECT answer_key, question, created_at FROM practice_items p WHERE session_id = ? "
        "AND revealed_at IS NULL AND NOT EXISTS (SELECT 1 FROM practice_attempts a "
        "WHERE a.item_id = p.id AND a.verdict = 'correct') "
        "UNION ALL SELECT answer_key, content, created_at FROM messages "
        "WHERE session_id = ? AND role = 'assistant' AND answer_key IS NOT NULL AND trim(answer_key) != '' "
        "ORDER BY created_at DESC LIMIT 1", (session_id, session_id))
    return (rows[0]["answer_key"], rows[0]["question"]) if rows else None


# -- attempts and mastery ------------------------------------------------------------------------

def _attempt(row: dict[str, Any]) -> Attempt:
    values = {f: row[f] for f in Attempt.__dataclass_fields__}
    values["disputed"] = bool(values["disputed"])
    return Attempt(**values)


def get_mastery(db: Database, user_id: int, topic: str) -> Mastery | None:
    rows = db.query("SELECT * FROM mastery WHERE user_id = ? AND topic = ? COLLATE NOCASE", (user_id, topic.strip()))
    return Mastery(**rows[0]) if rows else None


def record_attempt(db: Database, item_id: int, user_id: int, *, answer: str, verdict: str, feedback: str,
                   p_known_before: float, p_known_after: float, card_json: str, due: str,
                   model_id: str | None = None, adapter_version: int | None = None,
                   misconception: str | None = None) -> Attempt:
    """Store an attempt with its verdict, the topic's new mastery (and a history point) and the
    item's rescheduled review card — all or nothing."""
    answer = clean_answer(answer)
    verdict = _check_verdict(verdict)
    for name, p in (("p_known_before", p_known_before), ("p_known_after", p_known_after)):
        if not 0.0 <= p <= 1.0:
            raise ValidationError(f"{name} must be a probability from 0 to 1 (got {p!r}).")
    _check_card_json(card_json)
    now = utcnow()
    with db.transaction() as t:
        item = get_item(db, item_id)
        if item.user_id != user_id:
            raise ValidationError("This practice item belongs to another student.")
        attempt_id = t["practice_attempts"].insert({
            "item_id": item_id, "user_id": user_id, "answer": answer, "verdict": verdict,
            "feedback": (feedback or "").strip(), "model_id": model_id, "adapter_version": adapter_version,
            "disputed": 0, "p_known_before": p_known_before, "p_known_after": p_known_after, "created_at": now,
            "misconception": misconception,
        }).last_pk
        _write_mastery(t, user_id, item.topic, p_known_after, now, attempt_id=attempt_id, count=True)
        t.execute(
            "INSERT INTO review_cards (item_id, user_id, card_json, due, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(item_id) DO UPDATE SET card_json = excluded.card_json, due = excluded.due, "
            "updated_at = excluded.updated_at", [item_id, user_id, card_json, due, now])
    return get_attempt(db, attempt_id)


def _write_mastery(t: Any, user_id: int, topic: str, p_known: float, now: str, *, attempt_id: int | None,
                   count: bool) -> None:
    t.execute(
        "INSERT INTO mastery (user_id, topic, p_known, n_attempts, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(user_id, topic) DO UPDATE SET p_known = excluded.p_known, "
        "n_attempts = mastery.n_attempts + ?, updated_at = excluded.updated_at",
        [user_id, topic, p_known, int(count), now, int(count)])
    t["mastery_history"].insert({"user_id": user_id, "topic": topic, "p_known": p_known,
                                 "attempt_id": attempt_id, "created_at": now})


def get_attempt(db: Database, attempt_id: int) -> Attempt:
    rows = db.query("SELECT * FROM practice_attempts WHERE id = ?", (attempt_id,))
    if not rows:
        raise NotFoundError(f"No practice attempt with id {attempt_id}; it may have been deleted.")
    return _attempt(rows[0])


def list_attempts(db: Database, item_id: int) -> list[Attempt]:
    return [_attempt(r) for r in db.query("SELECT * FROM practice_attempts WHERE item_id = ? ORDER BY id", (item_id,))]


def list_mastery(db: Database, user_id: int) -> list[Mastery]:
    rows = db.query("SELECT * FROM mastery WHERE user_id = ? ORDER BY topic COLLATE NOCASE", (user_id,))
    return [Mastery(**r) for r in rows]


def mastery_history(db: Database, user_id: int, *, topic: str | None = None) -> list[MasteryPoint]:
    sql = "SELECT topic, p_known, created_at FROM mastery_history WHERE user_id = ?"
    params: list[Any] = [user_id]
    if topic:
        sql += " AND topic = ? COLLATE NOCASE"
        params.append(topic.strip())
    return [MasteryPoint(**r) for r in db.query(sql + " ORDER BY id", tuple(params))]


def class_overview(db: Database, actor: User) -> list[ClassCell]:
    """Every student's mastery per topic (students × topics); teachers only."""
    from storage.users import require_teacher

    require_teacher(actor, db)
    rows = db.query(
        "SELECT m.user_id, u.name AS student_name, m.topic, m.p_known, m.n_attempts FROM mastery m "
        "JOIN users u ON u.id = m.user_id WHERE u.role = 'student' "
        "ORDER BY u.name COLLATE NOCASE, m.topic COLLATE NOCASE")
    return [ClassCell(**r) for r in rows]


# -- review cards --------------------------------------------------------------------------------

def _check_card_json(card_json: str) -> None:
    try:
        value = json.loads(card_json)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"The review card is not valid JSON ({exc}).") from exc
    if not isinstance(value, dict) or "due" not in value:
        raise ValidationError("The review card JSON has no 'due' field.")


def get_card(db: Database, item_id: int) -> ReviewCard | None:
    rows = db.query("SELECT * FROM review_cards WHERE item_id = ?", (item_id,))
    return ReviewCard(**rows[0]) if rows else None


def due_items(db: Database, user_id: int, *, now: str | None = None, limit: int = 50) -> list[DueItem]:
    """Items whose review card is due at `now` (default: the current time), most overdue first."""
    rows = db.query(
        "SELECT p.*, c.due AS card_due FROM review_cards c JOIN practice_items p ON p.id = c.item_id "
        "WHERE c.user_id = ? AND c.due <= ? ORDER BY c.due, p.id LIMIT ?", (user_id, now or utcnow(), limit))
    return [DueItem(item=_item(r), due=r["card_due"]) for r in rows]


# -- disputes ------------------------------------------------------------------------------------

_DISPUTE_SQL = (
    "SELECT d.*, u.name AS student_name, p.question, p.answer_key, p.topic, a.answer, a.verdict, a.feedback "
    "FROM practice_disputes d JOIN practice_attempts a ON a.id = d.attempt_id "
    "JOIN practice_items p ON p.id = a.item_id JOIN users u ON u.id = d.user_id")


def _dispute(row: dict[str, Any]) -> Dispute:
    return Dispute(**{f: row[f] for f in Dispute.__dataclass_fields__})


def dispute(db: Database, attempt_id: int, user_id: int, *, reason: str = "") -> Dispute:
    """The student says the verdict is wrong; it waits for a teacher. One dispute per attempt."""
    reason = (reason or "").strip()
    if len(reason) > MAX_DISPUTE_REASON_CHARS:
        raise ValidationError(f"The reason is {len(reason):,} characters long; the limit is "
                              f"{MAX_DISPUTE_REASON_CHARS:,}.")
    with db.transaction() as t:
        attempt = get_attempt(db, attempt_id)
        if attempt.user_id != user_id:
            raise ValidationError("Only the student who answered can dispute this judgement.")
        if attempt.disputed:
            raise ValidationError("You have already disputed this judgement; a teacher will look at it.")
        dispute_id = t["practice_disputes"].insert({
            "attempt_id": attempt_id, "user_id": user_id, "reason": reason, "status": "open",
            "created_at": utcnow(),
        }).last_pk
        t["practice_attempts"].update(attempt_id, {"disputed": 1})
    return _get_dispute(db, dispute_id)


def _get_dispute(db: Database, dispute_id: int) -> Dispute:
    rows = db.query(_DISPUTE_SQL + " WHERE d.id = ?", (dispute_id,))
    if not rows:
        raise NotFoundError(f"No dispute with id {dispute_id}; it may have been deleted.")
    return _dispute(rows[0])


def list_disputes(db: Database, actor: User, *, status: DisputeStatus | None = "open") -> list[Dispute]:
    """Disputed verdicts for teacher review, oldest first; teachers only."""
    from storage.users import require_teacher

    require_teacher(actor, db)
    sql, params = _DISPUTE_SQL, ()
    if status:
        sql, params = sql + " WHERE d.status = ?", (status,)
    return [_dispute(r) for r in db.query(sql + " ORDER BY d.created_at, d.id", params)]


def count_open_disputes(db: Database) -> int:
    return db.query("SELECT count(*) AS n FROM practice_disputes WHERE status = 'open'")[0]["n"]


def resolve_dispute(db: Database, actor: User, dispute_id: int, *, verdict: str, note: str = "") -> Dispute:
    """A teacher decides: `verdict` equal to the model's upholds it, another overturns it. Audited."""
    from storage import audit
    from storage.users import require_teacher

    teacher = require_teacher(actor, db)
    verdict = _check_verdict(verdict)
    with db.transaction() as t:
        current = _get_dispute(db, dispute_id)
        if current.status != "open":
            raise ValidationError(f"This dispute was already resolved ({current.status}) by "
                                  f"{current.resolved_by_name or 'a teacher'} at {current.resolved_at}.")
        status = "upheld" if verdict == current.verdict else "overturned"
        t["practice_disputes"].update(dispute_id, {
            "status": status, "teacher_verdict": verdict, "teacher_note": note.strip() or None,
            "resolved_by": teacher.id, "resolved_by_name": teacher.name, "resolved_at": utcnow(),
        })
        audit.record(db, teacher, "practice.dispute." + ("uphold" if status == "upheld" else "overturn"),
                     target=f"attempt {current.attempt_id}",
                     details={"dispute": dispute_id, "model_verdict": current.verdict, "teacher_verdict": verdict})
    return _get_dispute(db, dispute_id)


# -- the hint-don't-tell guard -------------------------------------------------------------------

def record_guard_event(db: Database, *, mode: str, caught: bool, outcome: GuardOutcome,
                       adapter_version: int | None, model_id: str | None = None, reason: str = "",
                       user_id: int | None = None, message_id: int | None = None,
                       item_id: int | None = None) -> None:
    if outcome not in ("passed", "regenerated", "withheld"):
        raise ValidationError(f"Unknown guard outcome {outcome!r}.")
    with db.transaction() as t:
        t["guard_events"].insert({
            "adapter_version": adapter_version, "model_id": model_id, "mode": mode, "caught": int(caught),
            "outcome": outcome, "reason": reason[:500], "user_id": user_id, "message_id": message_id,
            "item_id": item_id, "created_at": utcnow(),
        })


def telling_rates(db: Database) -> list[TellingRate]:
    """Per adapter version (None = base model first): how often replies gave the answer away."""
    rows = db.query(
        "SELECT adapter_version, count(*) AS checked, sum(caught) AS caught, "
        "sum(outcome = 'withheld') AS withheld FROM guard_events GROUP BY adapter_version "
        "ORDER BY adapter_version IS NOT NULL, adapter_version")
    return [TellingRate(adapter_version=r["adapter_version"], checked=r["checked"], caught=r["caught"] or 0,
                        withheld=r["withheld"] or 0) for r in rows]


# -- data rights ---------------------------------------------------------------------------------

def student_practice_data(db: Database, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """Everything practice stored about one student, as JSON-ready rows, for the data-rights
    export (storage.students.export_student can add it under "practice"). Deleting the student
    deletes all of it by cascade; guard events keep only the anonymous count (user_id set NULL)."""
    get_user(db, user_id)

    def rows(sql: str) -> list[dict[str, Any]]:
        return db.query(sql, (user_id,))

    return {
        "items": rows("SELECT * FROM practice_items WHERE user_id = ? ORDER BY id"),
        "attempts": rows("SELECT * FROM practice_attempts WHERE user_id = ? ORDER BY id"),
        "disputes": rows("SELECT * FROM practice_disputes WHERE user_id = ? ORDER BY id"),
        "mastery": rows("SELECT * FROM mastery WHERE user_id = ? ORDER BY topic"),
        "mastery_history": rows("SELECT * FROM mastery_history WHERE user_id = ? ORDER BY id"),
        "review_cards": rows("SELECT * FROM review_cards WHERE user_id = ? ORDER BY item_id"),
    }
