"""Hint, don't tell: a check in code that a tutor reply does not give away a practice answer key.

The hint prompt already asks the model not to give the answer, but a 0.5B model often does. So
while a practice question is open (or in Hint mode after one), every reply is checked against the
question's answer key:

- the key's core answer (the part before "because", a comma, ...) contained in the reply after
  normalising case, Markdown, punctuation and spaces ("x = 2", "Paris");
- numeric equivalence: 0.5, 1/2, 50 %, "one half", "1 over 2" are the same answer, also inside a
  question ("Is it 3/4?" tells as much as "It is 3/4.");
- key phrases: the distinctive words of a longer key all (or, for long keys, 75 %) in the reply.

Numbers and words that already appear in the question (or the student's message) never count:
repeating "1/4 + 2/4" is not telling that the answer is 3/4.

`reply_with_guard` runs the tutor with the check: it streams only sentences that passed, stops a
reply the moment it gives the answer away, regenerates once with a firmer instruction (not
streamed; the finished text replaces what was shown), and otherwise withholds the reply with a
safe message. The app records every checked reply as a guard event (the telling rate).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from learner.types import AnswerGuard, GuardOutcome, GuardResult, TutorReply, TutorRequest

if TYPE_CHECKING:
    from learner.settings import GenerationSettings
    from learner.tutor import Tutor

WITHHELD_MESSAGE = (
    "I started to give away the answer, so I've held that reply back — working it out yourself is "
    "what makes it stick. Look again at what the question asks and try the first small step. "
    "If you're stuck, ask me for another hint, or check your answer in the Practice panel."
)
FIRMER_INSTRUCTION = (
    "\n\n(Important: do NOT state the answer or the final result, not even inside a question or as "
    "an example. Give only a hint about the next step.)"
)

_STOPWORDS = frozenset("""
a an the and or but if of to in on at by for with from into onto as is are was were be been being it its
this that these those there their they them he she his her you your we our i me my so than then too very
can could would should will shall may might must do does did done not no yes answer key because since
which what who whom whose when where why how about over under between each per also just only more most
less least some any all both either neither one ones thing things equal equals same get gets got
""".split())

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "a": 1, "an": 1,
}
_ORDINAL_DENOMINATORS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fourths": 4,
    "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8,
    "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10,
}
_NUM = r"[-−]?\d+(?:[.,]\d+)?"
_NUMBER_PATTERN = re.compile(
    rf"(?P<frac>(?P<fn>{_NUM})\s*(?:/|÷|\bover\b|\bout of\b)\s*(?P<fd>{_NUM}))"
    rf"|(?P<pct>(?P<pn>{_NUM})\s*(?:%|\bpercent\b|\bper cent\b))"
    rf"|(?P<plain>{_NUM})"
    rf"|(?P<word>\b(?P<wn>{'|'.join(_NUMBER_WORDS)})[\s-]+(?P<wd>{'|'.join(_ORDINAL_DENOMINATORS)})\b)",
    re.IGNORECASE,
)
# Where a key's core answer ends and its explanation begins.
_EXPLANATION = re.compile(r"\s*(?:[,;(]|\bbecause\b|\bsince\b|\bas\b|\bso\b|\bwhich\b|\s[-–—]\s|\.\s)", re.IGNORECASE)
_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|result|solution)\s*(?:is|=|:)\s*",
                            re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…:])\s|\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class TellingCheck:
    gives_away: bool
    reason: str          # why, in words a teacher reads ("states 0.75, the answer 3/4"); "" when clean


# -- normalising ---------------------------------------------------------------------------------

def normalise(text: str) -> str:
    """Lower case, compatibility forms folded (½ → 1⁄2), Markdown and most punctuation to spaces,
    spaces collapsed; keeps what numbers and equations need (. / % = + - digits)."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace("⁄", "/").replace("−", "-")
    text = re.sub(r"[*_`#>~\"“”‘’'«»\[\](){}!?,;:]", " ", text)
    text = re.sub(r"\.(?!\d)", " ", text)      # a full stop, but not a decimal point
    text = re.sub(r"\s*([=+/%×÷*])\s*", r" \1 ", text)
    return " ".join(text.split())


def _to_fraction(number: str) -> Fraction | None:
    try:
        return Fraction(number.replace(",", ".").replace("−", "-"))
    except (ValueError, ZeroDivisionError):
        return None


def numbers_in(text: str, *, as_answer: bool = False) -> set[Fraction]:
    """Every number the text states, as exact values: "1/2", "0.5", "50%", "one half" → 1/2 each.

    By default a fraction also states its parts ("1/4" states 1 and 4, so they count as context)
    and a percentage also its plain number (50 % may answer "what percent..."). `as_answer` reads
    the text as an answer key: "1/4" is 1/4 only, and 50 % is 1/2 only."""
    found: set[Fraction] = set()
    text = unicodedata.normalize("NFKC", text or "").replace("⁄", "/")
    for m in _NUMBER_PATTERN.finditer(text):
        if m.group("frac"):
            num, den = _to_fraction(m.group("fn")), _to_fraction(m.group("fd"))
            if num is not None and den:
                found.add(num / den)
            if not as_answer:
                found.update(part for part in (num, den) if part is not None)
        elif m.group("pct"):
            value = _to_fraction(m.group("pn"))
            if value is not None:
                found.add(value / 100)
                if not as_answer:
                    found.add(value)
        elif m.group("plain"):
            value = _to_fraction(m.group("plain"))
            if value is not None:
                found.add(value)
        elif m.group("word"):
            found.add(Fraction(_NUMBER_WORDS[m.group("wn").lower()], _ORDINAL_DENOMINATORS[m.group("wd").lower()]))
    return found


def key_core(answer_key: str) -> str:
    """The answer itself, without its explanation: "3/4, because 1/4 + 2/4 = 3/4" → "3/4"."""
    text = _ANSWER_PREFIX.sub("", (answer_key or "").strip().strip("*_`").strip())
    match = _EXPLANATION.search(text)
    core = text[:match.start()] if match and match.start() > 0 else text
    return core.strip().strip("*_`").rstrip(".").strip()


def _words(normalised: str) -> list[str]:
    return [w.rstrip("s") if len(w) > 4 else w for w in re.findall(r"[a-z][a-z-]+", normalised)]


def _contains(haystack: str, needle: str) -> bool:
    """Whole-word containment of normalised text ("x = 2" is not inside "x = 25")."""
    return bool(needle) and re.search(rf"(?<![\w.]){re.escape(needle)}(?![\w]|\.\d)", haystack) is not None


def _percent_equivalents(values: set[Fraction]) -> set[Fraction]:
    return values | {v / 100 for v in values}


def answers_match(answer: str, answer_key: str) -> bool:
    """True when a student's answer is plainly the key's answer (same words or the same number),
    so no model is needed to call it correct. Conservative: anything else goes to the checker."""
    core = key_core(answer_key)
    a, k = normalise(answer), normalise(core)
    if not a or not k:
        return False
    if a == k or a == normalise(answer_key):
        return True
    key_values, answer_vals = numbers_in(core, as_answer=True), numbers_in(answer, as_answer=True)
    # a bare number (or "x = 2" style) answer equal to a single-number key
    if len(key_values) == 1 and len(answer_vals) == 1 and re.fullmatch(r"[a-z]?\s*=?\s*[-\d./%\s]+(?:percent)?", a):
        return answer_vals == key_values or answer_vals == {v * 100 for v in key_values}
    return False


# -- the check -----------------------------------------------------------------------------------

def check_reply(reply: str, answer_key: str, *, context: str = "") -> TellingCheck:
    """Does `reply` give away `answer_key`? `context` is what the student already sees (the
    question, their own message): numbers and words from it never count as telling."""
    core = key_core(answer_key)
    if not core or not (reply or "").strip():
        return TellingCheck(gives_away=False, reason="")
    norm_reply, norm_core, norm_context = normalise(reply), normalise(core), normalise(context)

    # 1. Numbers: the key's answer values that the question does not already show.
    context_values = numbers_in(context)
    key_values = numbers_in(core, as_answer=True) - context_values
    if key_values:
        stated = _percent_equivalents(numbers_in(reply)) if "%" in core or "percent" in core.lower() \
            else numbers_in(reply)
        if all(v in stated or (v * 100) in stated for v in key_values):
            shown = ", ".join(_show(v) for v in sorted(key_values))
            return TellingCheck(gives_away=True, reason=f"states the answer value {shown} (key: {core})")

    # 2. The core answer as text, unless the student already sees it.
    short_word = re.fullmatch(r"[a-z]{1,3}|yes|no|true|false", norm_core) is not None
    if not short_word and not _contains(norm_context, norm_core) and _contains(norm_reply, norm_core):
        return TellingCheck(gives_away=True, reason=f"contains the answer \"{core}\"")
    if short_word and re.search(rf"\b(?:answer|it)\s+(?:is|=)\s+{re.escape(norm_core)}\b", norm_reply):
        return TellingCheck(gives_away=True, reason=f"says the answer is \"{core}\"")

    # 3. Key phrases: the key's distinctive words (not stopwords, not in the question).
    context_words = set(_words(norm_context))
    distinctive = [w for w in dict.fromkeys(_words(norm_core)) if len(w) >= 3 and w not in _STOPWORDS
                   and w not in context_words]
    if distinctive:
        reply_words = set(_words(norm_reply))
        present = [w for w in distinctive if w in reply_words]
        needed = len(distinctive) if len(distinctive) <= 3 else -(-3 * len(distinctive) // 4)
        if len(present) >= needed and not (len(distinctive) == 1 and _only_number_answer(core)):
            return TellingCheck(gives_away=True, reason=f"uses the key's words: {', '.join(present)}")
    return TellingCheck(gives_away=False, reason="")


def _only_number_answer(core: str) -> bool:
    return bool(numbers_in(core, as_answer=True)) and len(_words(normalise(core))) <= 1


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


# -- running the tutor with the check ------------------------------------------------------------

def guarded_request(request: TutorRequest, answer_key: str, *, context: str = "",
                    item_id: int | None = None) -> TutorRequest:
    """`request` marked so that the model worker checks its reply against `answer_key`."""
    return replace(request, guard=AnswerGuard(answer_key=answer_key, context=context, item_id=item_id))


class _AnyEvent:
    """Stops generation when the student presses Stop or the guard trips (Tutor.reply only calls
    is_set() on it)."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)

    def set(self) -> None:
        self.events[-1].set()


class _SentenceGate:
    """Forwards streamed text a sentence at a time, and only after the sentence passed the check,
    so a giveaway never reaches the screen; trips (and stops generation) at the first giveaway."""

    def __init__(self, answer_key: str, context: str, emit: Callable[[str], None] | None,
                 trip: threading.Event) -> None:
        self.answer_key, self.context, self.emit, self.trip = answer_key, context, emit, trip
        self.raw = ""
        self.sent = 0
        self.check: TellingCheck | None = None

    def feed(self, piece: str) -> None:
        if self.trip.is_set():
            return
        self.raw += piece
        ends = [m.end() for m in _SENTENCE_END.finditer(self.raw)]
        if ends and ends[-1] > self.sent:
            self._release(ends[-1])

    def _release(self, upto: int) -> bool:
        check = check_reply(self.raw[:upto], self.answer_key, context=self.context)
        if check.gives_away:
            self.check = check
            self.trip.set()
            return False
        if self.emit is not None and upto > self.sent:
            self.emit(self.raw[self.sent:upto])
        self.sent = upto
        return True


def reply_with_guard(tutor: Tutor, request: TutorRequest, settings: GenerationSettings, *,
                     on_text: Callable[[str], None] | None = None,
                     stop: threading.Event | None = None) -> TutorReply:
    """Tutor.reply, checked against the answer key when `request` came from `guarded_request`;
    any other request is passed straight through."""
    if request.guard is None:
        return tutor.reply(request, settings, on_text=on_text, stop=stop)
    key, context = request.guard.answer_key, f"{request.guard.context}\n{request.user_text}"
    stop = stop or threading.Event()

    trip = threading.Event()
    gate = _SentenceGate(key, context, on_text, trip)
    first = tutor.reply(request, settings, on_text=gate.feed, stop=_AnyEvent(stop, trip))  # type: ignore[arg-type]
    check = gate.check or check_reply(first.text, key, context=context)
    if not check.gives_away:
        if on_text is not None and gate.sent < len(gate.raw):
            # the pieces Tutor.reply streamed join to exactly first.text; send what the gate held back
            on_text(gate.raw[gate.sent:])
        return _guarded(first, text=first.text, stopped=stop.is_set(), caught=False,
                        outcome="passed", reason="", request=request)
    if stop.is_set():   # the student stopped it; never show the part that gave the answer away
        return _guarded(first, text=first.text[:gate.sent].strip() or WITHHELD_MESSAGE, stopped=True,
                        caught=True, outcome="withheld", reason=check.reason, request=request)

    firmer = replace(request, user_text=request.user_text + FIRMER_INSTRUCTION)
    second = tutor.reply(firmer, settings, on_text=None, stop=stop)
    second_check = check_reply(second.text, key, context=context)
    n_tokens = first.n_tokens + second.n_tokens
    if not second_check.gives_away and second.text.strip() and not second.stopped:
        return _guarded(second, text=second.text, stopped=False, caught=True, outcome="regenerated",
                        reason=check.reason, request=request, n_tokens=n_tokens)
    return _guarded(second, text=WITHHELD_MESSAGE, stopped=stop.is_set(), caught=True,
                    outcome="withheld", reason=check.reason, request=request, n_tokens=n_tokens)


def _guarded(base: TutorReply, *, text: str, stopped: bool, caught: bool, outcome: GuardOutcome, reason: str,
             request: TutorRequest, n_tokens: int | None = None) -> TutorReply:
    assert request.guard is not None
    return replace(
        base, text=text, stopped=stopped, n_tokens=base.n_tokens if n_tokens is None else n_tokens,
        # `base.messages` stays: the prompt of the generation whose text this is
        guard=GuardResult(caught=caught, outcome=outcome, reason=reason, mode=request.mode,
                          item_id=request.guard.item_id),
    )
