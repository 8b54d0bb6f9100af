"""The maths engine's record of a reply (`MathsCheck`) as it is stored with the reply, and in words
for the teacher who reviews it.

The chat stores `to_json(reply.maths)` in `messages.maths_json` (storage keeps text: it cannot
import the learner); the review pane and `tutorloop review show` read it back with `from_json`
and say it with `describe`. Reading is tolerant of keys a record lacks (a field added later reads
as its default) and of keys it does not know; a value that is not a JSON object, or a field of the
wrong type, is `UnreadableRecord`, which `teacher_lines` turns into one "not readable" line rather
than an error in front of the teacher. Torch- and Qt-free.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from learner.types import MathsCheck

NOT_READABLE = "Maths engine: the record of what it checked is not readable (the database may be damaged)."
_SOURCES = {"engine": "from the message", "programs": "from programs the model wrote, kept because three agreed; the model read the problem, so check that it fits"}
_REWRITES = {
    "replaced": "Blocked: the reply called the student's wrong answer right; replaced by the engine's words.",
    "hedged": ("Hedged: the reply called the student's working right, which the engine could not check whole; "
               "replaced by a note asking the student to check each step."),
    "step_named": "Added a line naming the student's wrong step, which the reply had missed.",
}


class UnreadableRecord(ValueError):
    """A stored maths record that is not a MathsCheck (damaged, or written by something else)."""


def to_json(check: MathsCheck) -> str:
    """The record as a JSON object (tuples as lists, keys sorted), what `messages.maths_json` holds."""
    return json.dumps(asdict(check), sort_keys=True, ensure_ascii=False)


def from_json(text: str) -> MathsCheck:
    """The record `to_json` wrote. Missing keys take their defaults, unknown keys are ignored;
    anything else raises UnreadableRecord."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise UnreadableRecord(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UnreadableRecord(f"a JSON {type(value).__name__}, not an object")
    defaults = {f.name: f.default for f in fields(MathsCheck)}
    values = {name: _field_value(name, raw, defaults[name]) for name, raw in value.items() if name in defaults}
    values.setdefault("computed", ())
    return MathsCheck(**values)


def _field_value(name: str, raw: Any, default: Any) -> Any:
    if name in ("computed", "contradictions"):
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise UnreadableRecord(f"{name} is not a list of texts")
        return tuple(raw)
    expected = bool if isinstance(default, bool) else str
    if not isinstance(raw, expected):
        raise UnreadableRecord(f"{name} is not a {expected.__name__}")
    return raw


def describe(check: MathsCheck) -> tuple[str, ...]:
    """What the engine verified and changed, one plain sentence a line, for a teacher."""
    lines: list[str] = []
    if check.computed:
        where = _SOURCES.get(check.source, f"source: {check.source}")
        lines.append(f"Maths engine: computed {'; '.join(check.computed)} ({where}).")
    else:
        lines.append("Maths engine: nothing in the message to compute.")
    first = "The first reply" if check.regenerated else "The reply"
    if check.contradictions:
        stated = f"{first} stated {', '.join(check.contradictions)}, which is wrong"
        lines.append(f"{stated} — written again." if check.regenerated else f"{stated}.")
    elif check.regenerated:
        lines.append(f"{first} called the student's wrong working right — written again.")
    if check.corrected:
        lines.append("Added a visible correction (a “Checked:” line) for a result the reply still got wrong.")
    if check.rewrite in _REWRITES:
        lines.append(_REWRITES[check.rewrite])
    elif check.confirmation_blocked:
        lines.append(_REWRITES["replaced"])
    attempt = _attempt_line(check)
    if attempt:
        lines.append(attempt)
    return tuple(lines)


def _attempt_line(check: MathsCheck) -> str:
    step = f" ({check.wrong_step})" if check.wrong_step else ""
    if check.attempt == "wrong_step":
        return f"Student's working: wrong step {check.wrong_step}." if check.wrong_step else \
            "Student's working: a wrong step."
    return {
        "none": "",
        "verified": "Student's working: checked, and right.",
        "wrong_answer": f"Student's working: the final answer is wrong{step}.",
        "unverified": "Student's working: the engine could not check it whole.",
    }.get(check.attempt, f"Student's working: {check.attempt}{step}.")


def teacher_lines(stored: str | None) -> tuple[str, ...]:
    """The lines a reviewer sees for a stored record: none when nothing was recorded (NULL), one
    "not readable" line for a damaged one."""
    if stored is None:
        return ()
    try:
        return describe(from_json(stored))
    except UnreadableRecord:
        return (NOT_READABLE,)
