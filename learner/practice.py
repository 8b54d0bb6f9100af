"""Practice: the model writes a question with an answer key, and judges a student's attempt.

The model is reached through one small interface, `TextGenerator`: a callable
`generate_text(messages, settings) -> str` (chat messages in, the reply's text out).
`ModelTextGenerator` implements it with a loaded model (the app's worker, the CLI); tests inject a
deterministic fake at this boundary because no real model is small enough to write parsable
items in a unit test.

Small models decorate and drift from the requested format, so both parsers are forgiving: code
fences, chatter before and after, Markdown bold, numbering, JSON instead of lines, and key name
variations ("Answer:", "Solution:", "answer_key"). A reply that still has no question or no key is
retried (up to `attempts` times, sampling on retries so they differ), then refused with
`PracticeFormatError`. Storing happens only after a complete, valid item or verdict exists, each
in one transaction.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from learner import mastery
from learner.errors import GenerationError, LearnerError
from learner.guard import answers_match, key_core, numbers_in
from learner.prompts import PROMPTS_DIR, load_prompt_file, system_prompt
from learner.settings import GenerationSettings
from storage import practice
from storage.db import Database

if TYPE_CHECKING:
    from learner.loading import LoadedModel
    from learner.tutor import Tutor

Messages = list[dict[str, str]]
DEFAULT_ATTEMPTS = 3
ITEM_MAX_NEW_TOKENS = 200       # four short lines; more only invites rambling
CHECK_MAX_NEW_TOKENS = 200
RETRY_TEMPERATURE = 0.7         # a greedy retry would repeat the same malformed reply
MIN_QUESTION_CHARS = 8


class PracticeError(LearnerError):
    """Practice could not produce an item or a judgement."""


class PracticeFormatError(PracticeError):
    """The model's replies could not be read as an item / a verdict, after every retry."""


class TextGenerator(Protocol):
    def __call__(self, messages: Messages, settings: GenerationSettings) -> str: ...


# (tutor, stop=) -> TextGenerator: how a job on the model worker reaches the model
GeneratorFactory = Callable[..., TextGenerator]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedItem:
    question: str
    answer_key: str
    topic: str
    difficulty: str      # easy | medium | hard


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    verdict: str         # correct | partly | incorrect
    feedback: str
    by_model: bool       # False when the answer plainly matched the key and no model was asked


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    attempt: practice.Attempt
    judgement: Judgement
    p_known_before: float
    p_known_after: float
    due: str


# -- prompts -------------------------------------------------------------------------------------

def _fill(template: str, values: dict[str, str]) -> str:
    """Replace {name} placeholders in one pass: a value (a student's answer) is never searched for
    placeholders itself."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def item_messages(*, topic: str, grade: str = "", difficulty: str = "medium", avoid: Sequence[str] = (),
                  prompts_dir: Path = PROMPTS_DIR) -> Messages:
    avoid_text = ""
    if avoid:
        listed = "\n".join(f"- {q[:200]}" for q in list(avoid)[:5])
        avoid_text = f"Do not repeat these questions the student already had:\n{listed}\n"
    user = _fill(load_prompt_file("practice_item", prompts_dir), {
        "topic": topic.strip(), "grade": grade.strip() or "not specified", "difficulty": difficulty,
        "avoid": avoid_text})
    return [{"role": "system", "content": system_prompt(grade=grade, topic=topic, prompts_dir=prompts_dir)},
            {"role": "user", "content": user}]


def check_messages(*, question: str, answer_key: str, answer: str, grade: str = "", topic: str = "",
                   prompts_dir: Path = PROMPTS_DIR) -> Messages:
    user = _fill(load_prompt_file("check_answer", prompts_dir), {
        "question": question, "answer_key": answer_key, "answer": answer})
    return [{"role": "system", "content": system_prompt(grade=grade, topic=topic, prompts_dir=prompts_dir)},
            {"role": "user", "content": user}]


# -- parsing the model's item --------------------------------------------------------------------

_FIELD_NAMES = {
    "question": ("question", "practice question", "problem", "q", "exercise", "task"),
    "answer_key": ("answer key", "answer_key", "answerkey", "key", "answer", "correct answer", "solution",
                   "expected answer", "a"),
    "topic": ("topic", "subject", "skill"),
    "difficulty": ("difficulty", "level", "difficulty level"),
}
_FIELD_OF = {name.replace("_", " "): field for field, names in _FIELD_NAMES.items() for name in names}
_LABEL = re.compile(
    r"^[ \t>*_#-]*(?:\d+[.)]\s*)?[*_]*(?P<label>[A-Za-z][A-Za-z _]{0,24}?)[*_ \t]*[:：=\-–—][*_]*[ \t]*(?P<rest>.*)$")
_LOOSE_PAIR = re.compile(r'"([A-Za-z][\w -]{0,24})"\s*:\s*"((?:[^"\\]|\\.)*)"')
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_PLACEHOLDER = re.compile(r"^<[^>]*>$|^\[[^\]]*\]$|^\.\.\.$|^(?:the )?(?:practice )?question$", re.IGNORECASE)
_DIFFICULTY_WORDS = {
    "easy": "easy", "simple": "easy", "beginner": "easy", "basic": "easy", "1": "easy", "2": "easy",
    "medium": "medium", "moderate": "medium", "intermediate": "medium", "normal": "medium", "3": "medium",
    "hard": "hard", "difficult": "hard", "challenging": "hard", "advanced": "hard", "4": "hard", "5": "hard",
}


def _clean_value(value: str) -> str:
    value = value.strip().strip("*_`").strip()
    value = re.sub(r"^[\"“](.*)[\"”]$", r"\1", value, flags=re.DOTALL)
    return value.strip()


def _json_candidates(text: str) -> list[dict]:
    found: list[dict] = []
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        depth = 0
        for end in range(start, len(text)):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start:end + 1])
                    except ValueError:
                        break
                    if isinstance(value, dict):
                        found.append(value)
                    break
    return found


def _from_json(obj: dict) -> dict[str, str]:
    fields: dict[str, str] = {}
    for raw_key, value in obj.items():
        key = re.sub(r"[\s_-]+", " ", str(raw_key).strip().lower())
        field = _FIELD_OF.get(key)
        if field and field not in fields and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            fields[field] = _clean_value(str(value))
    return fields


def _from_lines(text: str) -> dict[str, str]:
    """Label: value lines; a value continues on following unlabelled lines (a two-line question)."""
    fields: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _LABEL.match(line)
        field = _FIELD_OF.get(re.sub(r"[\s_]+", " ", m.group("label").strip().lower())) if m else None
        if field is not None:
            current = field if field not in fields else None   # the first occurrence wins
            if current is not None:
                fields[current] = [m.group("rest")]  # type: ignore[union-attr]
            continue
        if current is not None:
            started = any(part.strip() for part in fields[current])
            if not line.strip():
                if started:
                    current = None    # a blank line ends a value that has started
                continue
            # Only a question runs on over several lines; a key, topic or level is one line (so
            # "Hope this helps!" after the key is not part of it), though it may start below its label.
            if started and current != "question":
                current = None
                continue
            fields[current].append(line)
    return {k: _clean_value("\n".join(v)) for k, v in fields.items()}


def parse_item(text: str, *, topic: str, difficulty: str = "medium") -> ParsedItem:
    """Read a practice item from a model's reply; PracticeFormatError says what was missing."""
    if not text or not text.strip():
        raise PracticeFormatError("The model's reply was empty.")
    candidates: list[dict[str, str]] = []
    bodies = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for body in bodies:
        candidates.extend(_from_json(obj) for obj in _json_candidates(body))
        candidates.append(_from_lines(body))
        # JSON the model broke (a missing value, a trailing comma): take the "key": "value" pairs
        candidates.append(_from_json(dict(_LOOSE_PAIR.findall(body))))
    best = max(candidates, key=lambda f: (bool(f.get("question")) + bool(f.get("answer_key")), len(f)))
    question, key = best.get("question", ""), best.get("answer_key", "")
    # "Question: What is 2 + 2? Answer: 4" on one line
    if question and not key:
        inline = re.search(r"\s*[*_]*(?:answer key|answer|solution)[*_]*\s*[:：]\s*", question, re.IGNORECASE)
        if inline:
            question, key = question[:inline.start()], _clean_value(question[inline.end():])
    question, key = _clean_value(question), _clean_value(key)
    if not question:
        raise PracticeFormatError("The model's reply has no 'Question:' line.")
    if not key:
        raise PracticeFormatError("The model's reply has no parsable answer key (no 'Answer key:' line).")
    if _PLACEHOLDER.match(question) or _PLACEHOLDER.match(key):
        raise PracticeFormatError("The model copied the format's placeholders instead of writing a question.")
    if len(question) < MIN_QUESTION_CHARS:
        raise PracticeFormatError(f"The question {question!r} is too short to be a practice question.")
    if len(question) > practice.MAX_QUESTION_CHARS or len(key) > practice.MAX_KEY_CHARS:
        raise PracticeFormatError("The model's question or answer key is far too long.")
    if question.strip().lower() == key.strip().lower():
        raise PracticeFormatError("The model's answer key only repeats the question.")
    level = _DIFFICULTY_WORDS.get(best.get("difficulty", "").strip().lower().split(" ")[0].strip(".,/"), difficulty)
    parsed_topic = best.get("topic", "").strip()
    # the requested topic is what the student asked for; the model's wording is only a fallback
    return ParsedItem(question=question, answer_key=key, topic=(topic.strip() or parsed_topic)[:practice.MAX_TOPIC_CHARS],
                      difficulty=level if level in practice.DIFFICULTIES else "medium")


# -- parsing the model's judgement ---------------------------------------------------------------

_VERDICT_WORDS = [   # order matters: "incorrect" and "not correct" contain "correct"
    ("partly", re.compile(r"\b(?:partly|partially|partial|half|mostly|somewhat)\b")),
    ("incorrect", re.compile(r"\b(?:incorrect|not correct|wrong|false|no|not right|mistaken)\b")),
    ("correct", re.compile(r"\b(?:correct|right|true|yes|well done|exactly)\b")),
]


def _verdict_of(value: str) -> str | None:
    """The verdict word that comes first ("not correct" → incorrect, "correct. No mistakes" → correct)."""
    value = value.strip().lower().strip("*_`\"'.!")[:40]
    hits = [(m.start(), -len(m.group(0)), verdict) for verdict, pattern in _VERDICT_WORDS
            if (m := pattern.search(value))]
    return min(hits)[2] if hits else None


def parse_judgement(text: str) -> Judgement:
    if not text or not text.strip():
        raise PracticeFormatError("The model's judgement was empty.")
    verdict: str | None = None
    feedback = ""
    bodies = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for body in bodies:
        for obj in _json_candidates(body):
            lowered = {re.sub(r"[\s_-]+", " ", str(k).lower().strip()): v for k, v in obj.items()}
            v = lowered.get("verdict") or lowered.get("judgement") or lowered.get("judgment") or lowered.get("result")
            if isinstance(v, str) and _verdict_of(v):
                verdict = _verdict_of(v)
                fb = lowered.get("feedback") or lowered.get("comment") or lowered.get("explanation") or ""
                feedback = _clean_value(str(fb))
                break
        if verdict:
            break
    if verdict is None:
        label = re.search(r"^[ \t>*_#-]*(?:verdict|judgement|judgment|result|grade)[*_ \t]*[:：\-–—][*_ \t]*(.+)$",
                          text, re.IGNORECASE | re.MULTILINE)
        if label:
            verdict = _verdict_of(label.group(1))
        fb = re.search(r"^[ \t>*_#-]*(?:feedback|comment|explanation)[*_ \t]*[:：\-–—][*_ \t]*(.*)$", text,
                       re.IGNORECASE | re.MULTILINE | re.DOTALL)
        if fb:
            feedback = _clean_value(fb.group(1))
        if verdict is None:   # "Correct! Your answer ..." with no labels
            first_line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
            verdict = _verdict_of(first_line)
            if verdict and not feedback:
                rest = text.strip()[len(first_line.strip()):].strip()
                feedback = _clean_value(rest or re.sub(r"^\W*\w+\W*", "", first_line.strip()))
        elif not feedback:
            after = text[label.end():].strip() if label else ""
            feedback = _clean_value(after)
    if verdict is None:
        raise PracticeFormatError("The model's judgement has no verdict (correct, partly or incorrect).")
    if not feedback:
        raise PracticeFormatError("The model's judgement has no feedback for the student.")
    return Judgement(verdict=verdict, feedback=feedback[:2000], by_model=True)


# -- talking to the model ------------------------------------------------------------------------

def _with_retries(generate_text: TextGenerator, messages: Messages, settings: GenerationSettings, *,
                  max_new_tokens: int, attempts: int, parse: Callable[[str], object], what: str) -> object:
    if attempts < 1:
        raise ValueError("attempts must be at least 1.")
    problems: list[str] = []
    for attempt in range(attempts):
        run_settings = replace(settings, max_new_tokens=min(settings.max_new_tokens, max_new_tokens))
        if attempt > 0 and run_settings.temperature < RETRY_TEMPERATURE:
            run_settings = replace(run_settings, temperature=RETRY_TEMPERATURE)
        text = generate_text(messages, run_settings)
        try:
            return parse(text)
        except PracticeFormatError as exc:
            problems.append(str(exc))
    raise PracticeFormatError(
        f"The model did not write a usable {what} in {attempts} tr{'y' if attempts == 1 else 'ies'} "
        f"(last problem: {problems[-1]}). Try again; if it keeps happening, choose a larger model in Settings.")


def generate_item(generate_text: TextGenerator, *, topic: str, settings: GenerationSettings, grade: str = "",
                  difficulty: str = "medium", avoid: Sequence[str] = (),
                  attempts: int = DEFAULT_ATTEMPTS) -> ParsedItem:
    topic = (topic or "").strip()
    if not topic:
        raise PracticeError("Choose a topic first (for example \"Fractions\"): practice questions are per topic.")
    if len(topic) > practice.MAX_TOPIC_CHARS:
        raise PracticeError(f"The topic is longer than {practice.MAX_TOPIC_CHARS} characters; shorten it.")
    messages = item_messages(topic=topic, grade=grade, difficulty=difficulty, avoid=avoid)
    return _with_retries(generate_text, messages, settings, max_new_tokens=ITEM_MAX_NEW_TOKENS, attempts=attempts,
                         parse=lambda text: parse_item(text, topic=topic, difficulty=difficulty),
                         what="practice question")  # type: ignore[return-value]


def judge_answer(generate_text: TextGenerator, *, question: str, answer_key: str, answer: str,
                 settings: GenerationSettings, grade: str = "", topic: str = "",
                 attempts: int = DEFAULT_ATTEMPTS) -> Judgement:
    """The verdict on a student's answer. A plain match with the key is judged in code (no model,
    no chance of a wrong "incorrect"); anything else goes to the model with the key."""
    answer = practice.clean_answer(answer)   # ValidationError with the student's message, before any model work
    if answers_match(answer, answer_key):
        return Judgement(verdict="correct", by_model=False,
                         feedback=f"Correct — your answer \"{_quote(answer)}\" matches the expected answer.")
    messages = check_messages(question=question, answer_key=answer_key, answer=answer, grade=grade, topic=topic)
    judgement = _with_retries(generate_text, messages, settings, max_new_tokens=CHECK_MAX_NEW_TOKENS,
                              attempts=attempts, parse=parse_judgement, what="judgement")
    return cross_check(judgement, answer=answer, answer_key=answer_key)  # type: ignore[arg-type]


def cross_check(judgement: Judgement, *, answer: str, answer_key: str) -> Judgement:
    """Overrule a "correct" that cannot be right: small models call almost anything correct (the
    0.5B embedded model accepted "maybe 100?" for a key of 5). When the key's answer is one number
    and the student's answer states numbers, none of them that number, the answer is incorrect —
    whatever the model said. Anything less clear-cut keeps the model's verdict."""
    if judgement.verdict != "correct":
        return judgement
    key_values = numbers_in(key_core(answer_key), as_answer=True)
    stated = numbers_in(answer, as_answer=True)
    if len(key_values) != 1 or not stated or not re.search(r"\d", answer):
        return judgement
    value = next(iter(key_values))
    if value in stated or value * 100 in stated or value / 100 in stated:
        return judgement
    return Judgement(verdict="incorrect", by_model=True, feedback=(
        f"Your answer \"{_quote(answer)}\" does not give the expected result. Check your working step by "
        "step and try again, or ask the tutor for a hint."))


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


class ModelTextGenerator:
    """`TextGenerator` over a loaded model: renders the chat, generates, returns the decoded text.
    Runs on the calling thread (the app's model worker); `stop` ends it at the next token."""

    def __init__(self, loaded: LoadedModel, *, model_id: str | None = None, adapter_version: int | None = None,
                 stop: threading.Event | None = None) -> None:
        self.loaded = loaded
        self.model_id = model_id or loaded.model_id
        self.adapter_version = adapter_version
        self.stop = stop

    @classmethod
    def from_tutor(cls, tutor: Tutor, *, stop: threading.Event | None = None) -> ModelTextGenerator:
        return cls(tutor.loaded, model_id=tutor.model_id, adapter_version=tutor.adapter_version, stop=stop)

    def __call__(self, messages: Messages, settings: GenerationSettings) -> str:
        import copy

        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        from learner.loading import stop_token_ids
        from learner.prompts import render_chat

        loaded, stop = self.loaded, self.stop or threading.Event()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

        prompt_ids = render_chat(loaded.tokenizer, messages)
        room = loaded.context_window - len(prompt_ids)
        if room < 16:
            raise GenerationError("The practice prompt does not fit the model's context window; shorten the "
                                  "answer or the topic.")
        config = copy.deepcopy(loaded.model.generation_config)
        config.max_new_tokens = min(settings.max_new_tokens, room)
        config.max_length = None
        config.eos_token_id = stop_token_ids(loaded) or config.eos_token_id
        config.pad_token_id = loaded.tokenizer.pad_token_id
        if settings.temperature > 0:
            config.do_sample, config.temperature = True, settings.temperature
        else:   # greedy, with the sampling knobs neutral so generate() does not warn
            config.do_sample, config.temperature, config.top_p, config.top_k = False, 1.0, 1.0, 50
            config.min_p = None
        input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=loaded.model.device)
        try:
            with torch.inference_mode():
                output = loaded.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                               generation_config=config,
                                               stopping_criteria=StoppingCriteriaList([_Stop()]))
        except torch.OutOfMemoryError as exc:
            raise GenerationError("The model ran out of memory while writing practice.") from exc
        except RuntimeError as exc:
            raise GenerationError(f"Generation failed: {exc}") from exc
        if stop.is_set():
            raise PracticeError("Stopped.")
        return loaded.tokenizer.decode(output[0, input_ids.shape[-1]:], skip_special_tokens=True)


# -- jobs for the app's model worker -------------------------------------------------------------
# The app's model worker owns the model on its own thread; it runs any request that has
# `run_with_tutor(tutor, settings, stop)` and emits the result (app/worker.py). Storing happens back
# on the UI thread, which owns the database.

@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    value: ParsedItem | Judgement
    model_id: str | None
    adapter_version: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemJob:
    topic: str
    grade: str = ""
    difficulty: str = "medium"
    avoid: tuple[str, ...] = ()
    attempts: int = DEFAULT_ATTEMPTS
    make_generator: GeneratorFactory | None = None    # None: the tutor's model (ModelTextGenerator)

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> JobResult:
        generate_text = (self.make_generator or ModelTextGenerator.from_tutor)(tutor, stop=stop)
        parsed = generate_item(generate_text, topic=self.topic, settings=settings, grade=self.grade,
                               difficulty=self.difficulty, avoid=self.avoid, attempts=self.attempts)
        model_id, adapter_version = provenance(generate_text)
        return JobResult(value=parsed, model_id=model_id, adapter_version=adapter_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckJob:
    question: str
    answer_key: str
    answer: str
    grade: str = ""
    topic: str = ""
    attempts: int = DEFAULT_ATTEMPTS
    make_generator: GeneratorFactory | None = None

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> JobResult:
        generate_text = (self.make_generator or ModelTextGenerator.from_tutor)(tutor, stop=stop)
        judgement = judge_answer(generate_text, question=self.question, answer_key=self.answer_key,
                                 answer=self.answer, settings=settings, grade=self.grade, topic=self.topic,
                                 attempts=self.attempts)
        model_id, adapter_version = provenance(generate_text)
        return JobResult(value=judgement, model_id=model_id, adapter_version=adapter_version)


# -- the whole step, with storage (CLI; the app splits model work and storing across threads) -----

def provenance(generate_text: TextGenerator) -> tuple[str | None, int | None]:
    return getattr(generate_text, "model_id", None), getattr(generate_text, "adapter_version", None)


def next_difficulty(db: Database, user_id: int, topic: str) -> str:
    current = practice.get_mastery(db, user_id, topic)
    return mastery.difficulty_for(current.p_known if current else None)


def store_item(db: Database, user_id: int, parsed: ParsedItem, *, grade: str = "", session_id: int | None = None,
               model_id: str | None = None, adapter_version: int | None = None) -> practice.PracticeItem:
    return practice.add_item(db, user_id, topic=parsed.topic, question=parsed.question, answer_key=parsed.answer_key,
                          difficulty=parsed.difficulty, grade=grade, session_id=session_id, model_id=model_id,
                          adapter_version=adapter_version)


def new_item(db: Database, generate_text: TextGenerator, *, user_id: int, topic: str,
             settings: GenerationSettings, grade: str = "", session_id: int | None = None,
             difficulty: str | None = None, attempts: int = DEFAULT_ATTEMPTS) -> practice.PracticeItem:
    """Write, parse and store one item at the difficulty the student's mastery calls for."""
    level = difficulty or next_difficulty(db, user_id, topic)
    avoid = [i.question for i in practice.list_items(db, user_id, topic=topic, limit=5)]
    parsed = generate_item(generate_text, topic=topic, settings=settings, grade=grade, difficulty=level,
                           avoid=avoid, attempts=attempts)
    model_id, adapter_version = provenance(generate_text)
    return store_item(db, user_id, parsed, grade=grade, session_id=session_id, model_id=model_id,
                      adapter_version=adapter_version)


def store_attempt(db: Database, item: practice.PracticeItem, user_id: int, *, answer: str, judgement: Judgement,
                  model_id: str | None = None, adapter_version: int | None = None,
                  now: datetime | None = None, params: mastery.BktParams = mastery.DEFAULT_BKT,
                  scheduler=None) -> AttemptResult:
    """BKT and FSRS for one judged attempt, stored with it in one transaction."""
    current = practice.get_mastery(db, user_id, item.topic)
    before = current.p_known if current else params.p_init
    after = mastery.bkt_update(before, judgement.verdict, params)
    card = practice.get_card(db, item.id)
    scheduled = mastery.review(card.card_json if card else None, item.id, judgement.verdict, now=now,
                               scheduler=scheduler)
    attempt = practice.record_attempt(db, item.id, user_id, answer=answer, verdict=judgement.verdict,
                                   feedback=judgement.feedback, p_known_before=before, p_known_after=after,
                                   card_json=scheduled.card_json, due=scheduled.due,
                                   model_id=model_id if judgement.by_model else None,
                                   adapter_version=adapter_version if judgement.by_model else None)
    return AttemptResult(attempt=attempt, judgement=judgement, p_known_before=before, p_known_after=after,
                         due=scheduled.due)


def check_attempt(db: Database, generate_text: TextGenerator, *, item_id: int, user_id: int, answer: str,
                  settings: GenerationSettings, attempts: int = DEFAULT_ATTEMPTS,
                  now: datetime | None = None) -> AttemptResult:
    item = practice.get_item(db, item_id)
    if item.user_id != user_id:
        raise PracticeError("This practice question belongs to another student.")
    judgement = judge_answer(generate_text, question=item.question, answer_key=item.answer_key, answer=answer,
                             settings=settings, grade=item.grade, topic=item.topic, attempts=attempts)
    model_id, adapter_version = provenance(generate_text)
    return store_attempt(db, item, user_id, answer=answer, judgement=judgement, model_id=model_id,
                         adapter_version=adapter_version, now=now)
