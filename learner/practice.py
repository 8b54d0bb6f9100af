"""Practice: items whose answer keys the maths engine computed or checked, and verdicts by equivalence.

Items. For a topic the maths engine has a generator for (`learner.maths.generator_for`: fractions,
decimals, percentages, ratio, equations, ...), the item comes from the generator: the numbers are
picked and the key computed in code, with the wrong answers the common misconceptions give and the
worked steps; no model is asked. Any other topic falls back to a model-written item, whose key is
then checked: when the engine recognises the question's computation (`recognise`), a key that
disagrees is replaced with the computed one (the model's key is kept as provenance) and one that
agrees is confirmed; an item whose reply carries a `solution()` program is checked against what the
program computes; anything else is stored unchecked and shown as such ("answer key not checked").

Verdicts. `judge_answer` asks the engine first (1/2 = 0.5 = 2/4 = 50 %, units, simplest form, the
item's tolerance; a wrong answer that matches a known misconception is named). Only an answer or a
key the engine cannot read (words, explanations, non-numeric topics) goes to the model, and a model
verdict that contradicts the numbers is overruled (`cross_check`), so a correct answer is never
marked wrong because the model said so.

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
import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from learner import mastery
from learner.errors import GenerationError, LearnerError
from learner.guard import answers_match, key_core, numbers_in
from learner.maths import (
    Computation,
    GeneratedItem,
    Misconception,
    Verdict,
    WrongAnswer,
    generator_for,
    judge,
    key_agrees_with_program,
    parse_answer,
    plain_maths,
    program_from_reply,
    recognise,
)
from learner.maths.numbers import round_half_up
from learner.prompts import PROMPTS_DIR, load_prompt_file, system_prompt
from learner.settings import GenerationSettings
from storage import practice
from storage.db import Database

if TYPE_CHECKING:
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
    """An item ready to store: from a generator, or from the model's reply (checked or not)."""
    question: str
    answer_key: str
    topic: str
    difficulty: str      # easy | medium | hard
    # How far the key can be trusted (storage.practice.KeySource): generator | model |
    # model_verified | model_corrected. A plain parsed reply is "model": nothing checked it yet.
    key_source: str = "model"
    key_note: str = ""                        # how it was checked, for a teacher
    model_answer_key: str | None = None       # the model's own key, when the engine's replaced or confirmed it
    require_simplest: bool = False
    tolerance: Fraction = Fraction(0)
    wrong_answers: tuple[WrongAnswer, ...] = ()
    worked_steps: tuple[str, ...] = ()

    @property
    def checked(self) -> bool:
        return self.key_source != "model"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerKey:
    """What judging an answer needs from its item."""
    text: str
    checked: bool = False
    require_simplest: bool = False
    tolerance: Fraction = Fraction(0)
    wrong_answers: tuple[WrongAnswer, ...] = ()

    @classmethod
    def of(cls, item: practice.PracticeItem) -> AnswerKey:
        wrong = tuple(WrongAnswer(answer=w.answer, values=tuple(Fraction(v) for v in w.values),
                                  misconception=Misconception(code=w.code, name=w.name, hint=w.hint))
                      for w in item.wrong_answers)
        return cls(text=item.answer_key, checked=item.checked, require_simplest=item.require_simplest,
                   tolerance=Fraction(item.tolerance), wrong_answers=wrong)


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    verdict: str         # correct | partly | incorrect
    feedback: str
    by_model: bool       # False when the engine (or a plain match with the key) decided; no model was asked
    misconception: Misconception | None = None    # the known mistake a wrong answer matches

    @property
    def hint(self) -> str:
        return self.misconception.hint if self.misconception is not None else ""


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


# -- items: computed by a generator, or written by the model and checked --------------------------

MAX_GENERATOR_TRIES = 20        # draws to find a question the student has not just had
_SIMPLEST = re.compile(r"simplest form|lowest terms|simplif", re.IGNORECASE)
# Where a key's value ends and its explanation begins ("3/4, because ..."); a thousands comma
# ("1,250") is part of the value.
_KEY_EXPLANATION = re.compile(r"\s*(?:,(?!\d{3}\b)|[;(]|\bbecause\b|\bsince\b|\bas\b|\bso\b|\bwhich\b|\s[-–—]\s|\.\s)",
                              re.IGNORECASE)
_ANSWER_EXPLANATION = re.compile(r"\s*,?\s*\b(?:because|since)\b", re.IGNORECASE)
# A student's working as one line of arithmetic: "1/4 + 2/4 = 3/4", "x = 12 / 3 = 4"
_WORKING_CHAIN = re.compile(r"^\s*(?:[a-z]\s*=)?[\d\s.,/+\-*×÷x()%=]+$", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*%)?")


def has_generator(topic: str) -> bool:
    """Whether items on `topic` are computed in code (no model needed)."""
    return generator_for(topic or "") is not None


def generated_item(topic: str, *, difficulty: str = "medium", avoid: Sequence[str] = (),
                   rng: random.Random | None = None) -> ParsedItem | None:
    """An item whose numbers and key the engine picked and computed, or None when no generator
    fits `topic`. The stored topic stays the one asked for (mastery is per topic as the student
    names it)."""
    generator = generator_for(topic)
    if generator is None:
        return None
    rng = rng or random.Random()
    seen = {q.strip() for q in avoid}
    item: GeneratedItem = generator(rng, difficulty)
    for _ in range(MAX_GENERATOR_TRIES):
        if item.question.strip() not in seen:
            break
        item = generator(rng, difficulty)
    return ParsedItem(question=item.question, answer_key=item.answer_key, topic=topic.strip()[:practice.MAX_TOPIC_CHARS],
                      difficulty=item.difficulty, key_source="generator",
                      key_note=f"Computed by the maths engine ({item.skill}).", require_simplest=item.require_simplest,
                      tolerance=item.tolerance, wrong_answers=item.wrong_answers, worked_steps=item.worked_steps)


def _numbers(text: str) -> set[Fraction]:
    found: set[Fraction] = set()
    for token in re.findall(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+", text):
        found.add(Fraction(token.replace(",", "")))
    return found


def question_computation(question: str) -> Computation | None:
    """The one computation a question asks for, when the engine recognises it and it uses every
    number the question states. A question with more in it ("15% of 80 apples, then 10 more")
    is a word problem the recogniser only partly read: its key cannot be recomputed this way."""
    found = recognise(question)
    if len(found) != 1:
        return None
    computation = found[0]
    if not _numbers(question) <= _numbers(computation.expression):
        return None
    return computation


def key_value_text(answer_key: str) -> str | None:
    """The part of a key the engine can read as a value ("3/4, because ..." → "3/4"), or None."""
    text = (answer_key or "").strip()
    candidates = [text]
    text = text.splitlines()[0].strip() if text else text    # an explanation on the lines below
    candidates.append(text)
    cut = _KEY_EXPLANATION.search(text)
    if cut is not None and cut.start() > 0:
        candidates.append(text[:cut.start()])
    candidates.append(key_core(text))
    return next((c for c in candidates if c and parse_answer(c) is not None), None)


def verify_item(parsed: ParsedItem, *, program: str | None = None) -> ParsedItem:
    """A model-written item with its key checked by the engine: recomputed from the question when
    the engine recognises its computation (a disagreeing key is replaced), else against the item's
    own program when the reply carried one; otherwise it stays unchecked, and says why.

    The item prompt does not ask for a program: asked to add one, the embedded 0.5B model wrote a
    function with arguments (refused) or ignored the request, at twice the generation time."""
    computation = question_computation(parsed.question)
    key_text = key_value_text(parsed.answer_key)
    key_parsed = parse_answer(key_text) if key_text is not None else None
    if computation is not None and computation.value is None and (key_parsed is None or key_parsed.value is not None):
        # "Share 70 in the ratio 2:5. How much is the larger share?": the engine computed both
        # shares, the key names one; which one the question wants is beyond the recogniser
        computation = None
    if computation is not None:
        facts = {"require_simplest": computation.require_simplest or bool(_SIMPLEST.search(parsed.question)),
                 "wrong_answers": computation.wrong_answers, "worked_steps": computation.steps,
                 "model_answer_key": parsed.answer_key, "answer_key": computation.result}
        if key_text is not None and judge(key_text, computation.result).correct:
            return replace(parsed, key_source="model_verified", **facts,
                           key_note=f"The engine recomputed the key: {computation.statement}.")
        said = "could not be read" if key_text is None else "was wrong"
        return replace(parsed, key_source="model_corrected", **facts,
                       key_note=f"The model's key ({_quote(parsed.answer_key)}) {said}; the engine computed "
                                f"{computation.statement}.")
    if program is not None and key_text is not None:
        check = key_agrees_with_program(key_text, program)
        if check.agrees:
            return replace(parsed, key_source="model_verified", model_answer_key=parsed.answer_key,
                           key_note="The item's own program, run by the engine, computes the stated key.")
        return replace(parsed, key_note=f"Unchecked: {check.reason}")
    why = "the engine cannot read the key as a value" if key_text is None else \
        "the engine did not recognise the question's computation"
    return replace(parsed, key_note=f"Unchecked: {why}.")


def _model_item(text: str, *, topic: str, difficulty: str) -> ParsedItem:
    parsed = parse_item(text, topic=topic, difficulty=difficulty)
    # maths as plain text (no raw LaTeX reaches the student), then the key checked
    parsed = replace(parsed, question=plain_maths(parsed.question), answer_key=plain_maths(parsed.answer_key))
    return verify_item(parsed, program=program_from_reply(text))


def _check_topic(topic: str) -> str:
    topic = (topic or "").strip()
    if not topic:
        raise PracticeError("Choose a topic first (for example \"Fractions\"): practice questions are per topic.")
    if len(topic) > practice.MAX_TOPIC_CHARS:
        raise PracticeError(f"The topic is longer than {practice.MAX_TOPIC_CHARS} characters; shorten it.")
    return topic


def generate_item(generate_text: TextGenerator | None, *, topic: str, settings: GenerationSettings,
                  grade: str = "", difficulty: str = "medium", avoid: Sequence[str] = (),
                  attempts: int = DEFAULT_ATTEMPTS, rng: random.Random | None = None) -> ParsedItem:
    """One item on `topic`: from the engine's generator when one fits (the model is not asked;
    `rng` picks the numbers), else written by the model and checked (`verify_item`)."""
    topic = _check_topic(topic)
    found = generated_item(topic, difficulty=difficulty, avoid=avoid, rng=rng)
    if found is not None:
        return found
    if generate_text is None:
        raise PracticeError(f"Questions on {topic!r} are written by the model, and no model is loaded.")
    messages = item_messages(topic=topic, grade=grade, difficulty=difficulty, avoid=avoid)
    return _with_retries(generate_text, messages, settings, max_new_tokens=ITEM_MAX_NEW_TOKENS, attempts=attempts,
                         parse=lambda text: _model_item(text, topic=topic, difficulty=difficulty),
                         what="practice question")  # type: ignore[return-value]


# -- verdicts: the engine first, the model only for what it cannot read -----------------------------

def answer_candidates(answer: str) -> list[str]:
    """What the engine tries to read as the student's answer, in order: the whole answer; the part
    before "because"; the result of one line of working ("1/4 + 2/4 = 3/4" → "3/4")."""
    candidates = [answer]
    cut = _ANSWER_EXPLANATION.search(answer)
    if cut is not None and cut.start() > 0:
        candidates.append(answer[:cut.start()])
    if "=" in answer and _WORKING_CHAIN.match(answer):
        candidates.append(answer.rsplit("=", 1)[1])
    return [c.strip() for c in candidates if c.strip()]


def engine_judgement(answer: str, key: AnswerKey) -> Judgement | None:
    """The engine's verdict, or None when it cannot read the key or the answer."""
    key_text = key_value_text(key.text)
    if key_text is None:
        return None
    for candidate in answer_candidates(answer):
        verdict = judge(candidate, key_text, require_simplest=key.require_simplest, tolerance=key.tolerance,
                        wrong_answers=key.wrong_answers)
        if verdict.outcome == "incorrect" and verdict.misconception is None and _rounded(candidate, key_text):
            verdict = Verdict(outcome="not_simplest", reason=ROUNDED_REASON)
        if verdict.practice_verdict is not None:
            return Judgement(verdict=verdict.practice_verdict, by_model=False, misconception=verdict.misconception,
                             feedback=engine_feedback(verdict, candidate))
    return None


ROUNDED_REASON = "The value is right but rounded; the question asks for it exactly."


def _rounded(answer: str, key_text: str) -> bool:
    """0.83 for 5/6: the exact value rounded to the places the student wrote (two or more), for a
    key that has no exact decimal. Right idea, not exact: partly."""
    given, key = parse_answer(answer), parse_answer(key_text)
    if given is None or key is None or given.value is None or key.value is None or given.decimal_places < 2:
        return False
    if given.form not in ("decimal", "percent") or key.form not in ("fraction", "mixed"):
        return False
    return round_half_up(key.value, given.decimal_places) == given.value


def engine_feedback(verdict: Verdict, answer: str) -> str:
    """Encouraging words around the engine's verdict; a matched misconception is named (its hint
    is `Judgement.hint`). The key itself is never given away: the student may try again."""
    shown = _quote(answer)
    mistake = verdict.misconception
    if verdict.outcome == "correct":
        note = verdict.reason.split(".", 1)[1].strip() if "Write the unit" in verdict.reason else ""
        text = f"Correct — well done! \"{shown}\" is the right answer." + (f" {note}" if note else "")
    elif verdict.reason == ROUNDED_REASON:
        text = (f"Close: \"{shown}\" is the value rounded, but the question asks for it exactly. "
                "Can you give it as a fraction?")
    elif verdict.outcome == "not_simplest":
        text = (f"Nearly there: \"{shown}\" has the right value, but the question asks for the simplest form. "
                + (f"It looks like you {mistake.name}. " if mistake else "") + "Can you simplify it further?")
    elif mistake is not None:
        text = (f"Not quite — it looks like you {mistake.name}. That is a common slip and easy to fix: "
                "have another go!")
    else:
        text = (f"Not quite: {verdict.reason[0].lower() + verdict.reason[1:]} Check your working step by step "
                "and try again, or ask the tutor for a hint.")
    return text


UNCHECKED_NOTE = ("(This question's answer key was not checked by the calculator; if the verdict looks wrong, "
                  "dispute it.)")


def _noting_unchecked(judgement: Judgement, key: AnswerKey) -> Judgement:
    """A verdict against a key nobody could check says so: it is never presented as certain."""
    return judgement if key.checked else replace(judgement, feedback=f"{judgement.feedback} {UNCHECKED_NOTE}")


def judge_without_model(answer: str, key: AnswerKey) -> Judgement | None:
    """The verdict when no model is needed: the engine's, or a plain match with a key in words
    ("Paris" for "Paris, the capital"). None: only the model can judge this answer."""
    by_engine = engine_judgement(answer, key)
    if by_engine is not None:
        return _noting_unchecked(by_engine, key)
    if answers_match(answer, key.text):
        return _noting_unchecked(Judgement(verdict="correct", by_model=False, feedback=(
            f"Correct — your answer \"{_quote(answer)}\" matches the expected answer.")), key)
    return None


def judge_answer(generate_text: TextGenerator | None, *, question: str, answer_key: str | AnswerKey, answer: str,
                 settings: GenerationSettings, grade: str = "", topic: str = "",
                 attempts: int = DEFAULT_ATTEMPTS) -> Judgement:
    """The verdict on a student's answer: by the engine whenever it can read the answer and the
    key (no model, no chance of a wrong "incorrect"); a plain match with a key in words is correct in
    code; anything else goes to the model with the key, and `cross_check` overrules a verdict the
    numbers contradict."""
    answer = practice.clean_answer(answer)   # ValidationError with the student's message, before any model work
    key = answer_key if isinstance(answer_key, AnswerKey) else AnswerKey(text=answer_key)
    without_model = judge_without_model(answer, key)
    if without_model is not None:
        return without_model
    if generate_text is None:
        raise PracticeError("The calculator cannot read this answer, and no model is loaded to judge it. "
                            "Write the answer as a number (for example 3/4, 0.75 or 75%).")
    messages = check_messages(question=question, answer_key=key.text, answer=answer, grade=grade, topic=topic)
    judgement: Judgement = _with_retries(generate_text, messages, settings, max_new_tokens=CHECK_MAX_NEW_TOKENS,
                                         attempts=attempts, parse=parse_judgement, what="judgement")  # type: ignore[assignment]
    judgement = replace(judgement, feedback=plain_maths(judgement.feedback))
    return _noting_unchecked(cross_check(judgement, answer=answer, answer_key=key.text, question=question), key)


def _stated_values(text: str) -> list[Fraction]:
    values = []
    for token in _NUMBER_TOKEN.findall(text.replace("−", "-")):
        parsed = parse_answer(token)
        if parsed is not None and parsed.value is not None:
            values.append(parsed.value)
    return values


def cross_check(judgement: Judgement, *, answer: str, answer_key: str, question: str = "") -> Judgement:
    """Overrule a model verdict the numbers contradict.

    - A "correct" that cannot be right: small models call almost anything correct (the 0.5B
      embedded model accepted "maybe 100?" for a key of 5). When the key's answer is one number
      and the student's answer states numbers, none of them that number, it is incorrect.
    - A "partly" or "incorrect" for an answer whose every new number (not already in the question)
      is the key's value: "x = 4 because 2 × 4 + 3 = 11" for a key of 4 is correct, whatever the
      model said.
    Anything less clear-cut keeps the model's verdict."""
    if judgement.verdict != "correct":
        key_text = key_value_text(answer_key)
        parsed_key = parse_answer(key_text) if key_text else None
        if parsed_key is None or parsed_key.value is None:
            return judgement
        in_question = numbers_in(question)
        new = [v for v in _stated_values(answer) if v not in in_question]
        if new and all(v == parsed_key.value for v in new):
            return Judgement(verdict="correct", by_model=True, feedback=(
                f"Correct — \"{_quote(answer)}\" gives the expected result. Well done!"))
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
    """`TextGenerator` over the tutor's engine: renders the chat, generates, returns the text. Runs
    on the calling thread (the app's model worker); `stop` ends it at the next token."""

    def __init__(self, tutor: Tutor, *, stop: threading.Event | None = None) -> None:
        self.tutor = tutor
        self.model_id = tutor.model_id
        self.adapter_version = tutor.adapter_version
        self.stop = stop

    @classmethod
    def from_tutor(cls, tutor: Tutor, *, stop: threading.Event | None = None) -> ModelTextGenerator:
        return cls(tutor, stop=stop)

    def __call__(self, messages: Messages, settings: GenerationSettings) -> str:
        stop = self.stop or threading.Event()
        engine = self.tutor.engine
        room = engine.context_window - engine.count_tokens(list(messages))
        if room < 16:
            raise GenerationError("The practice prompt does not fit the model's context window; shorten the "
                                  "answer or the topic.")
        text = self.tutor.complete(messages, settings, max_new_tokens=min(settings.max_new_tokens, room), stop=stop)
        if stop.is_set():
            raise PracticeError("Stopped.")
        return text


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
    seed: int | None = None                           # picks a generator's numbers; None: a fresh random one
    make_generator: GeneratorFactory | None = None    # None: the tutor's model (ModelTextGenerator)

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> JobResult:
        generate_text = (self.make_generator or ModelTextGenerator.from_tutor)(tutor, stop=stop)
        parsed = generate_item(generate_text, topic=self.topic, settings=settings, grade=self.grade,
                               difficulty=self.difficulty, avoid=self.avoid, attempts=self.attempts,
                               rng=random.Random(self.seed))
        model_id, adapter_version = provenance(generate_text) if parsed.key_source != "generator" else (None, None)
        return JobResult(value=parsed, model_id=model_id, adapter_version=adapter_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckJob:
    question: str
    key: AnswerKey
    answer: str
    grade: str = ""
    topic: str = ""
    attempts: int = DEFAULT_ATTEMPTS
    make_generator: GeneratorFactory | None = None

    @classmethod
    def for_item(cls, item: practice.PracticeItem, answer: str, *,
                 make_generator: GeneratorFactory | None = None) -> CheckJob:
        return cls(question=item.question, key=AnswerKey.of(item), answer=answer, grade=item.grade, topic=item.topic,
                   make_generator=make_generator)

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> JobResult:
        generate_text = (self.make_generator or ModelTextGenerator.from_tutor)(tutor, stop=stop)
        judgement = judge_answer(generate_text, question=self.question, answer_key=self.key,
                                 answer=self.answer, settings=settings, grade=self.grade, topic=self.topic,
                                 attempts=self.attempts)
        model_id, adapter_version = provenance(generate_text)
        return JobResult(value=judgement, model_id=model_id, adapter_version=adapter_version)


# -- the whole step, with storage (CLI; the app splits model work and storing across threads) -----

def provenance(generate_text: TextGenerator | None) -> tuple[str | None, int | None]:
    return getattr(generate_text, "model_id", None), getattr(generate_text, "adapter_version", None)


def next_difficulty(db: Database, user_id: int, topic: str) -> str:
    current = practice.get_mastery(db, user_id, topic)
    return mastery.difficulty_for(current.p_known if current else None)


def store_item(db: Database, user_id: int, parsed: ParsedItem, *, grade: str = "", session_id: int | None = None,
               model_id: str | None = None, adapter_version: int | None = None) -> practice.PracticeItem:
    wrong = tuple(practice.KnownWrongAnswer(answer=w.answer, values=tuple(str(v) for v in w.values),
                                            code=w.misconception.code, name=w.misconception.name,
                                            hint=w.misconception.hint) for w in parsed.wrong_answers)
    return practice.add_item(
        db, user_id, topic=parsed.topic, question=parsed.question, answer_key=parsed.answer_key,
        difficulty=parsed.difficulty, grade=grade, session_id=session_id,
        model_id=None if parsed.key_source == "generator" else model_id,
        adapter_version=None if parsed.key_source == "generator" else adapter_version,
        checked=parsed.checked, key_source=parsed.key_source, key_note=parsed.key_note,
        model_answer_key=parsed.model_answer_key, require_simplest=parsed.require_simplest,
        tolerance=parsed.tolerance, wrong_answers=wrong[:practice.MAX_WRONG_ANSWERS],
        worked_steps=parsed.worked_steps[:practice.MAX_WORKED_STEPS])


def new_item(db: Database, generate_text: TextGenerator | None, *, user_id: int, topic: str,
             settings: GenerationSettings, grade: str = "", session_id: int | None = None,
             difficulty: str | None = None, attempts: int = DEFAULT_ATTEMPTS,
             rng: random.Random | None = None) -> practice.PracticeItem:
    """Write (or compute), check and store one item at the difficulty the student's mastery calls for."""
    level = difficulty or next_difficulty(db, user_id, topic)
    avoid = [i.question for i in practice.list_items(db, user_id, topic=topic, limit=5)]
    parsed = generate_item(generate_text, topic=topic, settings=settings, grade=grade, difficulty=level,
                           avoid=avoid, attempts=attempts, rng=rng)
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
                                   adapter_version=adapter_version if judgement.by_model else None,
                                   misconception=judgement.misconception.code if judgement.misconception else None)
    return AttemptResult(attempt=attempt, judgement=judgement, p_known_before=before, p_known_after=after,
                         due=scheduled.due)


def check_attempt(db: Database, generate_text: TextGenerator | None, *, item_id: int, user_id: int, answer: str,
                  settings: GenerationSettings, attempts: int = DEFAULT_ATTEMPTS,
                  now: datetime | None = None) -> AttemptResult:
    item = practice.get_item(db, item_id)
    if item.user_id != user_id:
        raise PracticeError("This practice question belongs to another student.")
    judgement = judge_answer(generate_text, question=item.question, answer_key=AnswerKey.of(item), answer=answer,
                             settings=settings, grade=item.grade, topic=item.topic, attempts=attempts)
    model_id, adapter_version = provenance(generate_text)
    return store_attempt(db, item, user_id, answer=answer, judgement=judgement, model_id=model_id,
                         adapter_version=adapter_version, now=now)
