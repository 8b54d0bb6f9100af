"""Bleeding: does an adapted answer borrow names and numbers from *other* approved facts?

A round that learns many facts at once can blend them: "The Baker's triangle is named after …
Albatross Rose" takes a ship's name from another fact. For each held-out exchange we take the
adapted model's answer and look for its entities (capitalised words that are not common sentence
starters, and numbers) that appear among the entities of other approved examples but nowhere in
this exchange's own text (its prompt and approved answer). An answer with at least one such entity
has bled; the rate is bled answers / answers checked, and the gate refuses a candidate above
Recipe.bleeding_max_rate.

Words, not whole names, are compared ("Albatross Rose" is {"albatross", "rose"}), case-folded, with
a trailing possessive dropped, so "Rose's" and "rose" meet. A word that is an entity elsewhere but
also occurs in this exchange's own text in any form never counts against it, nor does one the
approved texts also write in lower case, nor one they capitalise only where a sentence starts
("Students wear their house colour…": a common word, not a name). Pure: no model here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Capitalised words that start sentences and questions in any subject; never a fact's own name.
COMMON_CAPITALISED = frozenset("""
a an the this that these those there here it its i we you he she they my our your his her their
in on at of for to from by with about after before during if when where what which who whom whose
why how and but or so yes no not all any each every some many most no none one both either neither
is are was were be do does did can could will would should may might must shall let lets please
first second third next then finally also however because since while although though until
hi hello thanks thank good great well ok okay sure now today answer question example note step
remember think look try see imagine let's it's that's here's there's what's i'm you're we're
mr mrs ms miss dr sir madam
""".split())

# The first word of a sentence, a line or a quotation: capitalised whatever it is.
SENTENCE_START = re.compile(r"(?:^|[.?!:]\s+)[\"'“‘(]*([A-Za-z][\w'’\-]*)", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*|\d+(?:[.,:]\d+)*[A-Za-z]*")


def _norm(word: str) -> str:
    word = word.casefold().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word.rstrip("'")


def entities(text: str) -> set[str]:
    """Case-folded entity words: capitalised words not in COMMON_CAPITALISED, and numbers."""
    found = set()
    for match in _WORD.finditer(text):
        word = match.group()
        if word[0].isdigit():
            found.add(word.casefold())
        elif word[0].isupper() and _norm(word) not in COMMON_CAPITALISED and len(word) > 1:
            found.add(_norm(word))
    return found


def names(text: str) -> set[str]:
    """Entity words capitalised somewhere other than at the start of a sentence: names for certain."""
    return {w for w in entities(SENTENCE_START.sub(" ", text)) if not w[0].isdigit()}


def lowercase_words(text: str) -> set[str]:
    """Words written in lower case somewhere in the text: common words, whatever starts a sentence."""
    return {_norm(m.group()) for m in _WORD.finditer(text) if m.group()[0].islower()}


def words(text: str) -> set[str]:
    """Every word of the text, case-folded: what "occurs in this exchange's own text" means."""
    return {_norm(m.group()).rstrip(".,:") for m in _WORD.finditer(text)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """One answer to check. `own` names the texts that belong to the same fact (for a held-out
    example: itself; in a demonstration: every exchange teaching that fact)."""
    key: str
    answer: str
    own: frozenset[str]
    own_text: str = ""        # more text of its own (the question asked), beside the `own` texts


@dataclass(frozen=True, slots=True, kw_only=True)
class Bleed:
    key: str
    answer: str
    foreign: tuple[str, ...]       # the borrowed entity words
    sources: tuple[str, ...]       # the texts they belong to

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "answer": self.answer, "foreign": list(self.foreign), "sources": list(self.sources)}


@dataclass(frozen=True, slots=True, kw_only=True)
class BleedingReport:
    checked: int
    bled: tuple[Bleed, ...]

    @property
    def rate(self) -> float | None:
        return len(self.bled) / self.checked if self.checked else None

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "bled": len(self.bled), "rate": self.rate,
                "answers": [b.to_dict() for b in self.bled]}


def find_bleeding(probes: Iterable[Probe], texts: Mapping[str, str]) -> BleedingReport:
    """`texts`: every approved text by key (question + answer); each probe is checked against the
    entities of the texts not in its `own`."""
    # A capitalised word that the approved texts also write in lower case ("Ask ..." and "ask") is a
    # common word that happened to start a sentence, not a name.
    common = set().union(*(lowercase_words(text) for text in texts.values()))
    # One written capitalised only where a sentence starts ("Students wear…") is no name either.
    named = set().union(*(names(text) for text in texts.values()))
    entity_sets = {key: {w for w in entities(text) - common if w[0].isdigit() or w in named}
                   for key, text in texts.items()}
    word_sets = {key: words(text) for key, text in texts.items()}
    checked = 0
    bled: list[Bleed] = []
    for probe in probes:
        checked += 1
        mine = words(probe.own_text).union(*(word_sets.get(k, set()) for k in probe.own))
        foreign: dict[str, set[str]] = {}
        for word in entities(probe.answer) - mine - lowercase_words(probe.answer):
            owners = {k for k, found in entity_sets.items() if k not in probe.own and word in found}
            if owners:
                foreign[word] = owners
        if foreign:
            bled.append(Bleed(key=probe.key, answer=probe.answer, foreign=tuple(sorted(foreign)),
                              sources=tuple(sorted(set().union(*foreign.values())))))
    return BleedingReport(checked=checked, bled=tuple(bled))


def example_text(prompt: Sequence[dict[str, str]], completion: str) -> str:
    """An approved example's own text: its last user message (the question, with the mode's
    wrapper) and its approved answer. The system prompt is the same for every example."""
    user = next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")
    return f"{user}\n{completion}"


# A small round holds out only a handful of examples (a 40-example round: about 4 to 6), where one
# stray answer is already 17-25 %: above the rate limit on the evidence of a single reply. Refusing
# takes at least this many bled answers as well as a rate above the limit.
MIN_BLED_TO_REFUSE = 2


def bleeding_verdict(report: dict[str, Any] | None, max_rate: float, *, augmented: bool = False) -> dict[str, Any]:
    """The gate's check, as the fields of learner.adapt.gate.Check (name aside): passed, skipped,
    detail (one sentence a teacher can read: what to do differs when the round already trained
    with paraphrases) and figures. It fails when the rate is above `max_rate` and at least
    MIN_BLED_TO_REFUSE answers bled."""
    figures = {**(report or {}), "max_rate": max_rate}
    rate = report.get("rate") if report else None
    if rate is None:
        return {"passed": True, "skipped": True, "figures": figures,
                "detail": "Facts kept apart: skipped (no held-out examples to answer yet)."}
    n, checked = report["bled"], report["checked"]
    if rate > max_rate and n >= MIN_BLED_TO_REFUSE:
        first = report["answers"][0]
        return {"passed": False, "skipped": False, "figures": figures,
                "detail": f"Facts bleed into each other: {n} of {checked} held-out answers use names or numbers "
                          f"from other approved examples ({rate:.0%}, limit {max_rate:.0%}; e.g. "
                          f"{', '.join(first['foreign'][:3])}). " + (
                              "Approve a few more examples that ask about those facts in other words; the held-out "
                              "answers are in this check's figures." if augmented else
                              "Approve more varied examples of those facts, or train with paraphrases on "
                              "(Recipe.augment).")}
    stray = " (a single stray answer does not refuse on its own)" if rate > max_rate else ""
    return {"passed": True, "skipped": False, "figures": figures,
            "detail": f"Facts kept apart: {n} of {checked} held-out answers borrow from other examples "
                      f"({rate:.0%}, limit {max_rate:.0%}){stray}."}
