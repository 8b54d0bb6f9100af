"""The maths engine: exact, bounded, and never `eval`. Torch-free and Qt-free; every function takes
and returns plain data.

- `evaluate` / `evaluate_with_steps`: arithmetic in school notation, exactly (`evaluate.py`).
- `run_program`: a model-written `def solution():` for a word problem, interpreted (`program.py`).
- `solve_linear`: linear equations in one unknown (`linear.py`); `convert` units (`units.py`).
- `recognise`: the computable questions in a message, each a `Computation` with its result,
  steps and the wrong answers known misconceptions give (`recognise.py`).
- `parse_answer`, `equivalent`, `judge`: a student's answer against a key (`answers.py`).
- `generator_for`: practice items whose keys are computed in code (`generators.py`).
- `plain_maths`: LaTeX in a reply turned into readable text (`render.py`).
- `contradictions`, `with_corrections`, `prompt_facts`: a reply checked against the truth (`check.py`).
- `read_attempt`: a student's own worked attempt, every step checked, and whether the engine can
  call it right (`attempt.py`).

Everything the engine refuses raises a `MathsError` (`MathsRefused`, `NoExactValue`), a
`LearnerError` with a message for the person at the screen.
"""
from __future__ import annotations

from learner.maths.answers import ParsedAnswer, Verdict, equivalent, judge, parse_answer
from learner.maths.attempt import Attempt, read_attempt
from learner.maths.check import (
                                 Contradiction,
                                 KeyCheck,
                                 checked_line,
                                 contradictions,
                                 diagnose,
                                 key_agrees_with_program,
                                 prompt_facts,
                                 stated_results,
                                 with_corrections,
)
from learner.maths.errors import MathsError, MathsRefused, NoExactValue
from learner.maths.evaluate import (
                                 EXPRESSION_LIMITS,
                                 PROGRAM_LIMITS,
                                 Evaluation,
                                 Limits,
                                 evaluate,
                                 evaluate_with_steps,
)
from learner.maths.generators import TOPICS, GeneratedItem, generate, generator_for
from learner.maths.linear import LinearSolution, solve_linear
from learner.maths.misconceptions import Misconception, WrongAnswer
from learner.maths.program import ProgramResult, program_from_reply, run_program
from learner.maths.recognise import (
                                 Computation,
                                 ProgramVotes,
                                 computation_from_programs,
                                 recognise,
)
from learner.maths.render import plain_maths

__all__ = [
    "EXPRESSION_LIMITS", "PROGRAM_LIMITS", "TOPICS", "Attempt", "Computation", "Contradiction", "Evaluation", "GeneratedItem",
    "KeyCheck", "Limits", "LinearSolution", "MathsError", "MathsRefused", "Misconception", "NoExactValue",
    "ParsedAnswer", "ProgramResult", "ProgramVotes", "Verdict", "WrongAnswer", "checked_line", "computation_from_programs",
    "contradictions", "diagnose", "equivalent", "evaluate", "evaluate_with_steps", "generate", "generator_for", "judge",
    "key_agrees_with_program", "parse_answer", "plain_maths", "program_from_reply", "prompt_facts", "read_attempt",
    "recognise", "run_program", "solve_linear", "stated_results", "with_corrections",
]
