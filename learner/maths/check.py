"""Checking what a reply says against what the engine computed, and saying so visibly.

- `stated_results(reply)`: the results a reply states: arithmetic chains ("1/2 + 1/4 = 3/8"),
  final answers ("the answer is 12", "Answer: 3/4") and solved unknowns ("so x = 4").
- `contradictions(reply, computations)`: every stated result that is false. A chain is checked
  on its own (its sides must be equal; "1/3 = 0.33" passes as rounding); a final answer or a
  solved unknown is checked against the verified `Computation`s.
- `with_corrections(reply, found)`: the reply with a visible line per contradiction,
  "Checked: 2/3 + 1/6 = 5/6." (or, where the answer must stay hidden in Hint mode,
  "Checked: 2/3 + 1/6 is not 3/9.").
- `prompt_facts(computations, reveal=...)`: the verified results and steps as ground truth for the
  prompt, with the misconception behind a wrong result the student stated.
- `key_agrees_with_program`: whether a model-written practice key is what its program computes.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from learner.maths.answers import Verdict, judge, parse_answer
from learner.maths.errors import MathsError
from learner.maths.evaluate import evaluate
from learner.maths.misconceptions import Misconception
from learner.maths.numbers import round_half_up, show
from learner.maths.program import run_program
from learner.maths.recognise import (
    Computation,
    as_arithmetic,
    cut_off,
    expression_runs,
    recognise,
)
from learner.maths.render import plain_maths


@dataclass(frozen=True, slots=True, kw_only=True)
class StatedResult:
    kind: str                  # chain | final | unknown
    text: str                  # as the reply puts it: "1/2 + 1/4 = 3/8", "12", "x = 4"
    expression: str | None     # chains: the first side
    stated: str                # the value as stated
    variable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Contradiction:
    stated: str                           # "1/2 + 1/4 = 3/8"
    correct: str                          # "1/2 + 1/4 = 3/4"
    wrong_value: str                      # "3/8": what the hint-safe line names
    subject: str                          # "1/2 + 1/4": what it is about
    computation: Computation | None = None


_FINAL = re.compile(
    r"(?:\bthe\s+)?(?:final\s+|correct\s+)?\b(?:answer|result|total|solution)\b\s*(?:is|=|:|will\s+be|would\s+be|"
    r"equals|comes\s+to)\s*:?\s*\**\s*(?P<value>[-−]?[$£€]?\s*\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*%)?"
    r"(?:\s+[a-zA-Z°]+)?)", re.IGNORECASE)
_EDGE_WORD_BEFORE = re.compile(r"^[A-WYZa-wyz]\s+(?=[$£€\d(])")          # "s 7 x 8" (of "What's 7 x 8"); an x there is times
_EDGE_WORD_AFTER = re.compile(r"(?<=[\d)%])\s+[A-Za-z]$")          # "= 4 m", "= 104000 a" (year)
_BARE_NUMBER = re.compile(r"[$£€]?\s*\d[\d,]*(?:\.\d+)?\s*%?")
_CHAIN_TAIL = re.compile(r"\s*(?:[-+*/×÷^]|[xX](?=\s*\d))\s*[$£€]?\s*[\d(]")
UNKNOWN_STATED = re.compile(r"(?<![\w.])(?P<variable>[a-zA-Z])\s*=\s*(?P<value>[-−]?\d+(?:\.\d+)?(?:\s*/\s*\d+)?)"
                            r"(?!\w|\.\d|\s*[-+*/×÷^(])")


def _chain_sides(run: str) -> list[str] | None:
    """The sides of an arithmetic chain, label and stray words dropped ("Total = 15 × 80 = 1199
    pieces" → 15 × 80, 1199); None for algebra ("2x = 8"), whose letters are unknowns."""
    run = as_arithmetic(run)
    # only a label's "=" and lone words at the edges go: "* 40% = 120" (after "300 fireworks") keeps
    # its operator, so its cut-off left side is not read as 40% = 120
    run = _EDGE_WORD_AFTER.sub("", _EDGE_WORD_BEFORE.sub("", run.strip().lstrip("=").strip()))
    if re.search(r"[A-Za-z]", run) or cut_off(run):
        return None
    sides = [s.strip(" ([").strip() for s in run.split("=")]
    return [s.strip(")]").strip() if s.count(")") > s.count("(") else s for s in sides]


def final_value(text: str, m: re.Match) -> str:
    """"The answer is 120 + 15 = 135": the result a final answer ends on (135), not its first number."""
    stated = m.group("value").strip().rstrip(".")
    if not _CHAIN_TAIL.match(text, m.end("value")):
        return stated
    runs = expression_runs(text[m.start("value"):])
    sides = _chain_sides(runs[0]) if runs else None
    if not sides or not sides[-1]:
        return stated
    return sides[-1] if len(sides) > 1 else sides[0]


def stated_results(reply: str) -> tuple[StatedResult, ...]:
    """Every result `reply` states. A chain gives one result per link ("a = b = c": a = b and b = c),
    so each step of it is checked on its own."""
    text = plain_maths(reply or "")
    found: list[StatedResult] = []
    for run in expression_runs(text):
        sides = _chain_sides(run) if "=" in run else None
        if not sides or len(sides) < 2 or not all(sides):
            continue
        if _BARE_NUMBER.fullmatch(sides[0]):   # "15% of 80 = 12": the 80 ends a phrase the run cut off
            sides = sides[1:]
        for left, right in pairwise(sides):
            found.append(StatedResult(kind="chain", text=f"{left} = {right}", expression=left, stated=right))
    for m in _FINAL.finditer(text):
        stated = final_value(text, m)
        found.append(StatedResult(kind="final", text=m.group(0).strip(), expression=None, stated=stated))
    for m in UNKNOWN_STATED.finditer(text):
        found.append(StatedResult(kind="unknown", text=m.group(0), expression=None, stated=m.group("value"),
                                  variable=m.group("variable")))
    return tuple(found)


def _value(text: str) -> Fraction | None:
    try:
        return evaluate(text.replace("$", "").replace("£", "").replace("€", ""))
    except MathsError:
        return None


def _rounded_match(stated_text: str, stated: Fraction, true: Fraction) -> bool:
    """"1/3 = 0.33": a decimal stated to k places that is the true value rounded to k places."""
    match = re.search(r"\.(\d+)\s*%?$", stated_text.strip())
    if not match:
        return False
    places = len(match.group(1)) + (2 if stated_text.strip().endswith("%") else 0)
    return round_half_up(true, places) == stated


def contradictions(reply: str, computations: Sequence[Computation] = ()) -> tuple[Contradiction, ...]:
    found: list[Contradiction] = []
    seen: set[str] = set()

    def add(item: Contradiction) -> None:
        if item.stated not in seen:
            seen.add(item.stated)
            found.append(item)

    singles = [c for c in computations if c.kind != "equation" and c.value is not None]
    wrong_chains: set[str] = set()
    for result in stated_results(reply):
        if result.kind == "chain":
            true, stated = _value(result.expression or ""), _value(result.stated)
            if true is None or stated is None or true == stated or _rounded_match(result.stated, stated, true):
                continue
            if result.stated.strip().endswith("%") and true == stated * 100:   # "0.24 × 100 = 24%"
                continue
            if result.expression in wrong_chains:   # "3 + 4 × 2 = 7 × 2 = 14" is one mistake, told once
                continue
            wrong_chains.add(result.expression or "")
            computation = next((c for c in computations if c.value == true), None)
            shown = computation.result if computation is not None else show(true)
            add(Contradiction(stated=result.text, correct=f"{result.expression} = {shown}", wrong_value=result.stated,
                              subject=result.expression or "", computation=computation))
        elif result.kind == "unknown":
            for computation in computations:
                if computation.kind == "equation" and computation.result.split("=")[0].strip() == result.variable:
                    verdict = judge(result.stated, computation.result.split("=", 1)[1].strip())
                    if verdict.outcome == "incorrect":
                        add(Contradiction(stated=result.text, correct=computation.statement,
                                          wrong_value=result.text, subject=computation.expression,
                                          computation=computation))
        elif len(singles) == 1 and len(computations) == 1:
            computation = singles[0]
            verdict = judge(result.stated, computation.result)
            if verdict.outcome == "incorrect" and parse_answer(result.stated) is not None:
                add(Contradiction(stated=result.text, correct=computation.statement, wrong_value=result.stated,
                                  subject=computation.expression, computation=computation))
    return tuple(found)


def correction_line(item: Contradiction, *, reveal: bool = True) -> str:
    if reveal:
        return f"Checked: {item.correct}."
    return f"Checked: {item.subject} is not {item.wrong_value}."


def with_corrections(reply: str, found: Sequence[Contradiction], *, reveal: bool = True) -> str:
    """The reply with one visible correction line per contradiction (each line once)."""
    if not found:
        return reply
    lines = list(dict.fromkeys(correction_line(item, reveal=reveal) for item in found))
    return reply.rstrip() + "\n\n" + "\n".join(lines)


def checked_line(computation: Computation) -> str:
    """"Checked: 2/3 + 1/6 = 5/6." for a computation the reply got right or left out. A word
    problem's answer comes from programs the model wrote (the calculator ran them, but the model read
    the problem: agreeing programs were right about 6 times in 10 on GSM8K with the 0.5B model), so
    it says that and asks the student to check it fits, never "Checked"."""
    if computation.kind == "word_problem":
        return (f"Worked out with a calculation (check that it fits the question): "
                f"{_lower_first(computation.statement)}.")
    return f"Checked: {computation.statement}."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _states_value(step: str, computation: Computation) -> bool:
    """The step gives the computation's result away: its last side is the result ("= 11"), or it
    writes the result ("so the result is 5/6")."""
    last = step.rsplit("=", 1)[-1].strip().rstrip(".")
    value = _value(last)
    if value is not None and value in computation.values:
        return True
    return any(re.search(rf"(?<![\w./]){re.escape(shown)}(?![\w/]|\.\d)", step)
               for shown in {computation.result, *(show(v) for v in computation.values)})


def hint_step(computation: Computation) -> str | None:
    """A first step of the working that a hint may show: one that does not state the result (for
    "2.75 × 4" the only step is "= 11", so there is none)."""
    for step in computation.steps:
        if step != computation.expression and not _states_value(step, computation):
            return step.rstrip(".")
    return None


# -- ground truth for the prompt ------------------------------------------------------------------

def student_claim_verdict(computation: Computation) -> Verdict | None:
    """The verdict on the result the student's own message states for this computation, if any."""
    if computation.claimed is None:
        return None
    claimed = computation.claimed.strip()
    if claimed.endswith("%") and _value(claimed[:-1]) is not None and _value(claimed[:-1]) in computation.values:
        claimed = claimed[:-1]        # "0.24 × 100 = 24%": the percent sign names what the 24 is
    verdict = judge(claimed, computation.result, require_simplest=False, wrong_answers=computation.wrong_answers)
    return verdict if verdict.outcome != "unreadable" else None


def diagnose(question: str, answer: str) -> Misconception | None:
    """The known misconception that `answer` shows for the first computable question in
    `question` (None when the answer is right, or matches no known mistake)."""
    for computation in recognise(question):
        verdict = judge(answer, computation.result, wrong_answers=computation.wrong_answers,
                        require_simplest=computation.require_simplest)
        if verdict.outcome != "unreadable":
            return verdict.misconception
    return None


def prompt_facts(computations: Sequence[Computation], *, reveal: bool) -> str:
    """Plain text for the prompt: the verified results (and, in Explain mode, the steps) the reply
    must agree with. With `reveal=False` (Hint mode) the result is given to the model as private
    knowledge with the instruction not to state it, plus the first step to hint at."""
    if not computations:
        return ""
    if all(c.kind == "word_problem" for c in computations):
        # programs the model wrote agreed, and the calculator ran them: strong, not a proof
        lines = ["Worked out by running several calculations that agree (use this result):" if reveal else
                 "Worked out by running several calculations that agree, for you only: do NOT tell the student "
                 "this result."]
    else:
        lines = ["Verified by the calculator (exact; use these results, do not recompute them):" if reveal else
                 "Verified by the calculator, for you only: do NOT tell the student these results."]
    for computation in computations:
        lines.append(f"- {computation.statement}.")
        working = [s.rstrip(".") for s in computation.steps if s != computation.expression]
        first_step = hint_step(computation)
        if reveal and working:
            lines.append("  Steps: " + "; ".join(working) + ".")
        elif first_step is not None:
            lines.append(f"  A good first step to hint at: {first_step}")
        verdict = student_claim_verdict(computation)
        if verdict is not None and verdict.outcome == "correct":
            lines.append(f"  The student's result {computation.claimed} is correct.")
        elif verdict is not None:
            lines.append(f"  The student's result {computation.claimed} is NOT correct; do not call it right.")
            if verdict.misconception is not None:
                lines.append(f"  Their mistake: they {verdict.misconception.name}. Say so kindly, and hint: "
                             f"{verdict.misconception.hint}")
    return "\n".join(lines)


# -- model-written practice keys ------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class KeyCheck:
    agrees: bool
    computed: Fraction | None     # what the program returned
    reason: str


def key_agrees_with_program(answer_key: str, program: str, *, tolerance: Fraction | str | int = 0) -> KeyCheck:
    """A model-written item is checked only when its own program computes its stated key."""
    try:
        result = run_program(program)
    except MathsError as exc:
        return KeyCheck(agrees=False, computed=None, reason=f"The item's program did not run: {exc}")
    verdict = judge(answer_key, show(result.value), tolerance=tolerance)
    if verdict.outcome == "correct":
        return KeyCheck(agrees=True, computed=result.value, reason="The program computes the stated key.")
    return KeyCheck(agrees=False, computed=result.value,
                    reason=f"The program computes {show(result.value)}, but the key says {answer_key!r}.")
