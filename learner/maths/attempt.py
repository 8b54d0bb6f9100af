"""A student's own attempt, read from their message and checked: may the tutor call it right?

`read_attempt(message, computations)` finds the student's final answer ("So the answer is 1199",
"I got 3/9", else the last result their working states) and checks every arithmetic link of
their working ("15 × 80 = 1199"). The outcome, `Attempt.status`:

- `verified`: the engine computed the answer to the question itself (the question is all
  maths the engine read, or agreeing programs solved the word problem) and the student's final
  answer equals it. Only then may a reply tell the student they are right.
- `wrong_step`: a link of the working is computed differently by the engine ("15 × 80 is not
  1199"); the reply names that step.
- `wrong_answer`: the engine knows the answer to the question and the student's is not it.
- `unverified`: an attempt the engine cannot check as a whole (a word problem whose steps add up,
  but whose setup only a person can judge); the reply must not call it right.
- `none`: no attempt in the message.

`Attempt.withheld` is the true final answer, the thing a Hint reply must not state: the answer to
the question where the engine knows it, else the true result of the student's final step.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from learner.maths.answers import Verdict, judge
from learner.maths.check import (
    Contradiction,
    contradictions,
    final_value,
    stated_results,
)
from learner.maths.errors import MathsError
from learner.maths.evaluate import evaluate
from learner.maths.recognise import (
    Computation,
    as_arithmetic,
    expression_runs,
    recognise,
)
from learner.maths.render import plain_maths

_VALUE = r"(?P<value>(?:[a-zA-Z]\s*=\s*)?[-−]?[$£€]?\s*\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*%)?)"
# How a student states their answer: "the answer is 42", "my answer: 3/9", "I got x = 7".
_SAYS_ANSWER = re.compile(
    r"(?:\b(?:final\s+)?answer\s*(?:is|was|=|:|would\s+be|will\s+be)|\bi\s+(?:got|get|make\s+it|think\s+it'?s|"
    r"think\s+it\s+is|found|calculated)|\bit\s+comes\s+to|\bso\s+it'?s)\s*:?\s*\**\s*" + _VALUE, re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# Where the student's own work starts: "My solution:", "I got", "I did", … (or their first worked step).
_WORK_STARTS = re.compile(r"\b(?:my\s+(?:solution|working|work|answer|steps?|attempt)|here(?:'s|\s+is)\s+(?:my|what)|"
                          r"i\s+(?:got|get|did|think|worked|calculated|found|tried|wrote|make\s+it))\b", re.IGNORECASE)
# Numbers in words make a question the engine has not read whole ("two pounds lighter", "twice as many").
_NUMBER_WORDS = re.compile(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|"
                           r"thousand|twice|thrice|half|halves|double|triple|quarter|dozen|third)s?\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    status: str                              # verified | wrong_step | wrong_answer | unverified | none
    final: str | None                        # the student's final answer as they wrote it: "1199", "x = 7"
    wrong_steps: tuple[Contradiction, ...]   # links of their working the engine computes differently
    answer: Computation | None               # the engine's answer to the question they answer, when it knows it
    verdict: Verdict | None = None           # their final answer judged against `answer`
    final_step: Computation | None = None    # the step of their working that gives their final answer
    steps_checked: int = 0                   # links of their working the engine read and computed

    @property
    def withheld(self) -> Computation | None:
        """The true final answer: what a Hint reply must not state."""
        return self.answer or self.final_step

    @property
    def may_confirm(self) -> bool:
        return self.status == "verified"


def read_attempt(message: str, computations: Sequence[Computation], *, solved_by_programs: bool = False) -> Attempt:
    """The student's attempt in `message`, checked (see the module). `computations` are what
    `learner.maths.recognise` found in the message, or (`solved_by_programs`) the agreed result of
    model-written programs for the word problem."""
    text = plain_maths(message or "")
    wrong_steps = contradictions(text)     # every link of the working, checked on its own
    steps_checked = sum(r.kind == "chain" for r in stated_results(text))
    final = _final_answer(text)
    steps = [c for c in computations if c.claimed is not None and c.kind != "equation" and c.kind != "word_problem"]
    final_step = _step_giving(final, steps) if final is not None else None
    answer = _answer_to_question(text, computations, final, solved_by_programs=solved_by_programs)
    if wrong_steps:
        return Attempt(status="wrong_step", final=final, wrong_steps=wrong_steps, answer=answer, final_step=final_step,
                       steps_checked=steps_checked)
    if final is None:
        return Attempt(status="none", final=None, wrong_steps=(), answer=answer, final_step=None)
    if answer is None:
        return Attempt(status="unverified", final=final, wrong_steps=(), answer=None, final_step=final_step,
                       steps_checked=steps_checked)
    claim = final if answer.kind != "equation" or "=" in final else f"{answer.result.split('=')[0].strip()} = {final}"
    verdict = judge(claim, answer.result, wrong_answers=answer.wrong_answers)
    status = {"correct": "verified", "not_simplest": "verified", "incorrect": "wrong_answer"}.get(
        verdict.outcome, "unverified")
    if status == "wrong_answer" and solved_by_programs:
        # Agreeing programs are right about three times in four (GSM8K, the 0.5B model): agreeing
        # with them confirms the student's answer, but differing from them is no proof the student is
        # wrong, and telling a right student "not quite" is the worst thing a tutor can do.
        status = "unverified"
    return Attempt(status=status, final=final, wrong_steps=(), answer=answer, verdict=verdict, final_step=final_step,
                   steps_checked=steps_checked)


NO_ATTEMPT = Attempt(status="none", final=None, wrong_steps=(), answer=None)


def _final_answer(text: str) -> str | None:
    """What the student gives as their answer: the last "the answer is …" / "I got …", else the
    last result their working states."""
    said = list(_SAYS_ANSWER.finditer(text))
    if said:
        return final_value(text, said[-1])
    chains = [r for r in stated_results(text) if r.kind == "chain"]
    return chains[-1].stated if chains else None


def _value(text: str) -> Fraction | None:
    try:
        return evaluate(re.sub(r"^[a-zA-Z]\s*=\s*", "", text).replace("$", "").replace("£", "").replace("€", ""))
    except MathsError:
        return None


def _step_giving(final: str, steps: Sequence[Computation]) -> Computation | None:
    """The last step of the working whose claimed result is the final answer (else the last step)."""
    value = _value(final)
    giving = [s for s in steps if s.claimed is not None and value is not None and _value(s.claimed) == value]
    return giving[-1] if giving else (steps[-1] if steps else None)


def _answer_to_question(text: str, computations: Sequence[Computation], final: str | None, *,
                        solved_by_programs: bool) -> Computation | None:
    """The computation whose result answers the question, when the engine can be sure it does:
    agreeing programs; a question the engine read whole (every number the message states outside
    the student's working and answer is in it); or a bare "2/3 + 1/6 = 3/9, is it right?"."""
    if solved_by_programs:
        return computations[0] if computations else None
    question_text = _question_part(text)
    in_question = {c.statement for c in recognise(question_text)}
    asked = [c for c in computations if (c.claimed is None or c.kind == "equation") and c.statement in in_question]
    outside = _numbers_outside_working(text, final)
    if asked:
        question = asked[-1]
        whole = outside <= _numbers(question.expression) and not _NUMBER_WORDS.search(question_text)
        return question if whole else None
    if outside or final is None or _NUMBER_WORDS.search(question_text):
        return None
    value = _value(final)
    claimed = [c for c in computations if c.claimed is not None and _value(c.claimed) == value]
    return claimed[0] if len(claimed) == 1 and len(computations) == 1 else None


def _question_part(text: str) -> str:
    """The message up to where the student's own work starts."""
    starts = [m.start() for m in _WORK_STARTS.finditer(text)][:1]
    starts += [text.find(run) for run in expression_runs(text)    # a worked step; an equation is the question
               if "=" in run and run.strip("= ") and not re.search(r"[A-Za-z]", as_arithmetic(run))][:1]
    return text[:min(starts)] if starts else text


def _numbers(text: str) -> set[Fraction]:
    return {Fraction(n.replace(",", "")) for n in _NUMBER.findall(text)}


def _numbers_outside_working(text: str, final: str | None) -> set[Fraction]:
    """The numbers of the message that are not in a worked step ("a op b = c") or the final answer."""
    rest = text
    for run in expression_runs(text):
        if "=" in run:
            rest = rest.replace(run, " ")
    found = _numbers(rest)
    if final is not None:
        found -= _numbers(final)
    return found
