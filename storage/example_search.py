"""Why this answer? Where a tutor reply came from: the model and adapter version that wrote it, that
version's gate verdict and promotion, and (for teachers) the approved examples it trained on that are
closest to the exchange.

The closeness is SQLite FTS5's BM25 over `example_search` (migration 0016), which the database fills
itself when a round records its examples. It finds examples that share words with the exchange: they
are *similar approved examples*, not the cause of the reply (a measured influence is
`learner.adapt.influence`). Examples hold other students' words, so only a teacher sees them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from storage import adapters
from storage.chat import Message, get_message
from storage.db import Database
from storage.errors import NotFoundError, ValidationError
from storage.users import User, require_teacher

SHOWN = 3                    # similar examples in the panel and `tutorloop explain`
MAX_TERMS = 64               # words of the exchange put into one FTS5 query
LABEL = "similar approved examples"
CAVEAT = ("They share words with this exchange; that does not show they caused the reply. "
          "A teacher can measure influence instead.")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimilarExample:
    example_id: int
    question: str
    answer: str
    approved_by_name: str
    approved_at: str
    bm25: float                  # SQLite's bm25(): lower (more negative) is closer
    review_key: str | None       # "m12" / "i3": opens it in the review window; None when its source is gone

    def to_dict(self) -> dict[str, Any]:
        return {"example_id": self.example_id, "question": self.question, "answer": self.answer,
                "approved_by": self.approved_by_name, "approved_at": self.approved_at, "bm25": self.bm25,
                "review_key": self.review_key}


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    message_id: int
    reply: str
    question: str                # the student's message the reply answered ('' if gone)
    mode: str | None
    model_id: str | None
    adapter_version: int | None  # None: the base model wrote it
    created_at: str
    adapter: adapters.AdapterVersion | None   # the version's row (None: base model, or no such row)
    similar: tuple[SimilarExample, ...]
    examples_shown: bool         # False: the viewer is not a teacher, so no examples were looked up

    @property
    def written_by(self) -> str:
        model = self.model_id or "an unknown model"
        if self.adapter_version is None:
            return f"{model}, the base model (no adapter)"
        return f"{model} with adapter v{self.adapter_version}"

    @property
    def promotion(self) -> str:
        """When and by whom the adapter was promoted, in words."""
        if self.adapter_version is None:
            return "No adapter: the base model answered."
        if self.adapter is None:
            return f"Adapter v{self.adapter_version} is not in this database's registry."
        a = self.adapter
        if a.promoted_at:
            return f"Promoted {a.promoted_at[:16].replace('T', ' ')} UTC by {a.promoted_by_name or 'a deleted teacher'}."
        return f"Never promoted (status: {a.status}): it answered as a comparison or by choice of version."

    def gate_lines(self) -> list[str]:
        """One line per gate check: passed / FAILED / skipped and the teacher-readable detail."""
        if self.adapter is None:
            return []
        lines = []
        for check in self.adapter.gate.get("checks", []):
            state = "skipped" if check.get("skipped") else "passed" if check.get("passed") else "FAILED"
            lines.append(f"{check.get('name', '?')}: {state} - {check.get('detail', '')}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        a = self.adapter
        return {
            "message_id": self.message_id, "reply": self.reply, "question": self.question, "mode": self.mode,
            "model_id": self.model_id, "adapter_version": self.adapter_version, "created_at": self.created_at,
            "written_by": self.written_by,
            "adapter": None if a is None else {
                "version": a.version, "status": a.status, "created_at": a.created_at, "n_examples": a.n_examples,
                "gate_passed": a.gate_passed, "gate_reason": a.gate_reason, "gate": a.gate,
                "promoted_at": a.promoted_at, "promoted_by": a.promoted_by_name},
            "promotion": self.promotion,
            "similar_label": LABEL, "similar_caveat": CAVEAT, "examples_shown": self.examples_shown,
            "similar_examples": [s.to_dict() for s in self.similar],
        }


def search_query(text: str, *, max_terms: int = MAX_TERMS) -> str | None:
    """An FTS5 query matching any word of `text` (each quoted, so no word is read as an operator);
    None when the text has no words. BM25 weighs rare shared words above common ones."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if len(word) > 1 or word.isdigit():
            seen.setdefault(word.replace('"', ""), None)
        if len(seen) >= max_terms:
            break
    return " OR ".join(f'"{w}"' for w in seen) or None


def similar_examples(db: Database, actor: User, *, version: int, text: str, limit: int = SHOWN) -> list[SimilarExample]:
    """The approved examples adapter `version` trained on that are closest to `text` (BM25), best
    first, with approver and date. Teacher-only: they hold other students' words."""
    require_teacher(actor, db)
    if limit < 1:
        raise ValidationError("Ask for at least one similar example.")
    query = search_query(text)
    if query is None:
        return []
    rows = db.query(
        "SELECT s.example_id AS example_id, s.question AS question, s.answer AS answer, bm25(example_search) AS score, "
        "te.approved_by_name AS approved_by_name, te.approved_at AS approved_at, "
        "(SELECT CASE WHEN r.message_id IS NOT NULL THEN 'm' || r.message_id ELSE 'i' || r.imported_id END "
        " FROM reviews r WHERE r.example_id = te.id ORDER BY r.id DESC LIMIT 1) AS review_key "
        "FROM example_search s JOIN training_examples te ON te.id = s.example_id "
        "WHERE example_search MATCH ? AND s.version = ? ORDER BY score, s.example_id LIMIT ?",
        (query, version, limit))
    return [SimilarExample(example_id=r["example_id"], question=r["question"], answer=r["answer"],
                           approved_by_name=r["approved_by_name"], approved_at=r["approved_at"],
                           bm25=float(r["score"]), review_key=r["review_key"]) for r in rows]


def question_before(db: Database, message: Message) -> str:
    """The student's message the reply answered: the newest user message before it in its session."""
    rows = db.query("SELECT content FROM messages WHERE session_id = ? AND id < ? AND role = 'user' "
                    "ORDER BY id DESC LIMIT 1", (message.session_id, message.id))
    return rows[0]["content"] if rows else ""


def explain(db: Database, message_id: int, *, actor: User | None = None, limit: int = SHOWN) -> Explanation:
    """Where tutor reply `message_id` came from. With a teacher as `actor` the similar approved
    examples are looked up too; anyone else gets the model, adapter, gate and promotion only."""
    message = get_message(db, message_id)
    if message.role != "assistant":
        raise ValidationError(f"Message {message_id} is a student's message; explain a tutor reply instead.")
    is_teacher = actor is not None and actor.role == "teacher"
    adapter = None
    if message.adapter_version is not None:
        try:
            adapter = adapters.get_adapter(db, message.adapter_version)
        except NotFoundError:
            adapter = None
    question = question_before(db, message)
    similar: list[SimilarExample] = []
    if is_teacher and message.adapter_version is not None:
        similar = similar_examples(db, actor, version=message.adapter_version,  # type: ignore[arg-type]
                                   text=f"{question}\n{message.content}", limit=limit)
    return Explanation(message_id=message.id, reply=message.content, question=question, mode=message.mode,
                       model_id=message.model_id, adapter_version=message.adapter_version,
                       created_at=message.created_at, adapter=adapter, similar=tuple(similar),
                       examples_shown=is_teacher)
