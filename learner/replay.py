"""The replay set: general tutoring exchanges trained alongside the approved examples in every
adaptation round, so an adapter learns a school's material without forgetting how to tutor.

The set ships in assets/replay/replay.jsonl (built from hand-written sources by
assets/replay/build_replay.py; see assets/replay/README.md). Every line is validated on load, and
a bad line is refused with its line number: training on a malformed exchange would silently teach
the model the wrong thing.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learner.assets import ASSETS_DIR
from learner.errors import LearnerError
from learner.prompts import MODES

REPLAY_PATH = ASSETS_DIR / "replay" / "replay.jsonl"
ROLES = ("system", "user", "assistant")
ANSWER_KEY_PREFIX = "Answer key:"
_REQUIRED = ("messages", "mode", "subject", "grade")
_OPTIONAL = ("topic", "student_message", "answer")


class ReplayDataError(LearnerError):
    """The replay file is missing or a line in it is malformed; the message names the line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayExample:
    messages: tuple[dict[str, str], ...]   # system, user, assistant; the last is the completion
    mode: str                              # explain | hint | practice
    subject: str                           # e.g. "maths", "science", "english"
    grade: str                             # the grade level as the app stores it, e.g. "7"
    topic: str = ""
    student_message: str = ""              # the student's words before the mode wrapper was added
    answer: str | None = None              # hint mode: the final answer the reply must not reveal

    @property
    def prompt_messages(self) -> tuple[dict[str, str], ...]:
        return self.messages[:-1]

    @property
    def completion(self) -> str:
        return self.messages[-1]["content"]


def _bad(where: str, problem: str) -> ReplayDataError:
    return ReplayDataError(f"{where}: {problem}")


def _text_field(record: dict[str, Any], key: str, where: str, *, required: bool) -> str:
    value = record.get(key, "")
    if not isinstance(value, str):
        raise _bad(where, f"{key!r} must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise _bad(where, f"{key!r} is empty")
    return value


def parse_replay_line(line: str, where: str) -> ReplayExample:
    """One JSON line -> a validated ReplayExample; `where` ("file:line") goes into every error."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _bad(where, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise _bad(where, "each line must be a JSON object")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise _bad(where, f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    unknown = sorted(set(record) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _bad(where, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")

    raw_messages = record["messages"]
    if not isinstance(raw_messages, list) or len(raw_messages) < 2:
        raise _bad(where, "'messages' must be a list of at least a user and an assistant message")
    messages: list[dict[str, str]] = []
    for index, message in enumerate(raw_messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise _bad(where, f"message {index} must be an object with exactly 'role' and 'content'")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise _bad(where, f"message {index} has role {role!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(content, str) or not content.strip():
            raise _bad(where, f"message {index} ({role}) has empty or non-text content")
        if role == "system" and index != 0:
            raise _bad(where, f"message {index}: a system message may only come first")
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "assistant":
        raise _bad(where, "the last message must be the assistant's reply (the part that is trained)")
    if messages[-2]["role"] != "user":
        raise _bad(where, "the assistant's reply must answer a user message")

    mode = record["mode"]
    if mode not in MODES:
        raise _bad(where, f"mode {mode!r} is not one of {', '.join(MODES)}")
    subject = _text_field(record, "subject", where, required=True)
    grade = _text_field(record, "grade", where, required=True)
    topic = _text_field(record, "topic", where, required=False)
    student_message = _text_field(record, "student_message", where, required=False)
    answer = record.get("answer")
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise _bad(where, "'answer' must be a non-empty string when present")
    if answer is not None and mode != "hint":
        raise _bad(where, "'answer' is only recorded for hint exchanges")

    reply_lines = [ln for ln in messages[-1]["content"].splitlines() if ln.strip()]
    if mode == "practice":
        if not reply_lines[-1].startswith(ANSWER_KEY_PREFIX) or not reply_lines[-1].removeprefix(ANSWER_KEY_PREFIX).strip():
            raise _bad(where, f"a practice reply must end with a line '{ANSWER_KEY_PREFIX} <answer>'")
        if sum(ln.startswith(ANSWER_KEY_PREFIX) for ln in reply_lines) != 1:
            raise _bad(where, f"a practice reply must have exactly one '{ANSWER_KEY_PREFIX}' line")
    elif any(ANSWER_KEY_PREFIX.lower() in ln.lower() for ln in reply_lines):
        raise _bad(where, f"only practice replies carry an '{ANSWER_KEY_PREFIX}' line")

    return ReplayExample(messages=tuple(messages), mode=mode, subject=subject.strip(), grade=grade.strip(),
                         topic=topic.strip(), student_message=student_message, answer=answer)


def load_replay(path: Path | str | None = None) -> list[ReplayExample]:
    """Every exchange in the replay file (default: the one shipped in assets/replay/), in file order."""
    source = Path(path) if path is not None else REPLAY_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReplayDataError(f"Cannot read the replay set {source}: {exc.strerror or exc}. "
                              "Reinstall tutorloop or rebuild it with assets/replay/build_replay.py.") from exc
    examples = [parse_replay_line(line, f"{source.name}:{number}")
                for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not examples:
        raise ReplayDataError(f"The replay set {source} has no exchanges.")
    return examples


def balanced_subset(examples: list[ReplayExample], n: int, *, seed: int = 0) -> list[ReplayExample]:
    """`n` examples spread evenly over (mode, subject) groups, chosen reproducibly by `seed`, in
    file order. For runs that cannot afford the whole set (a CPU demo, a quick replay-loss check):
    taking the first n lines would skew towards the subjects that come first in the file."""
    if n >= len(examples):
        return list(examples)
    if n <= 0:
        return []
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        groups[example.mode, example.subject].append(index)
    queues = []
    for key in sorted(groups):
        indices = groups[key][:]
        rng.shuffle(indices)
        queues.append(indices)
    rng.shuffle(queues)          # which groups get the odd extra places also depends on the seed
    chosen: list[int] = []
    while len(chosen) < n:       # round-robin: each group gives one example per pass
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return [examples[i] for i in sorted(chosen)]
