"""Replies that are never confidently wrong about maths: the engine computes, the model explains.

`reply_grounded` is the chat's reply path (the window's model worker, `tutorloop ask`, the bench):

1. Before generating, the maths engine (learner.maths) looks for computable questions in the
   student's message (arithmetic, fractions, percentages, ratios, equations, units). A word problem
   it cannot read itself goes to the model as "write solution()": a few programs are written, run
   by the engine's restricted interpreter, and a result is kept only when at least two agree
   (self-consistency).
2. The verified results go into the prompt (in Hint mode as private knowledge the tutor must not
   tell), and in Hint mode the result becomes the answer-key guard's key, so the guard withholds it
   whatever the model does. A student's own wrong result is named as wrong in the prompt, with the
   misconception it shows.
3. After generating, every result the reply states is checked. A contradiction is written again
   once (not streamed; the new text replaces what was shown); if it is still wrong, a visible line
   corrects it ("Checked: 2/3 + 1/6 = 5/6." or, in Hint mode, "… is not 3/9."). A reply that calls a
   wrong student result right is never shown as such.
4. LaTeX the model wrote anyway becomes plain text.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from learner.guard import reply_with_guard
from learner.maths import (
    Computation, Contradiction, MathsError, checked_line, computation_from_programs, contradictions, parse_answer,
    plain_maths, program_from_reply, prompt_facts, recognise, stated_results, with_corrections,
)
from learner.maths.check import student_claim_verdict
from learner.prompts import load_prompt_file
from learner.settings import GenerationSettings
from learner.types import AnswerGuard, MathsCheck, TutorReply, TutorRequest

if TYPE_CHECKING:
    from learner.tutor import Tutor

GROUNDED_MODES = ("explain", "hint")
PROGRAM_MAX_NEW_TOKENS = 200
PROGRAM_TEMPERATURE = 0.7         # the first program is greedy, the others sampled, so they can disagree
FIRMER_FACTS = ("\n\nImportant: your last answer stated {wrong}, which is wrong. Use exactly the verified "
                "result above.")

# The opening of a reply that agrees with the student: "Yes", "Correct!", "That's right", "Well done".
_AGREES = re.compile(r"^\W*(yes\b|correct\b|right\b|exactly\b|perfect\b|well done\b|great job\b|good job\b|"
                     r"that'?s (?:right|correct)\b|you(?:'re| are) (?:right|correct)\b)", re.IGNORECASE)
_CALLS_IT_RIGHT = re.compile(r"\byour (?:solution|answer|result|working|work) (?:is|was|looks) "
                             r"(?:correct|right|perfect)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Grounding:
    computations: tuple[Computation, ...]
    source: str                   # engine | programs
    request: TutorRequest         # with the facts (and, in Hint mode, the answer-key guard)


ProgramSolver = Callable[[str], Sequence[str]]   # a word problem → model-written program texts


def looks_like_word_problem(text: str) -> bool:
    """A few sentences with a number in them that ask for something: worth writing programs for
    ("half as many" is the second number of many a word problem)."""
    words = text.split()
    return 8 <= len(words) <= 400 and re.search(r"\d", text) is not None and (
        "?" in text or re.search(r"\b(how|what|find|calculate|work out)\b", text, re.IGNORECASE) is not None)


def ground(request: TutorRequest, *, write_programs: ProgramSolver | None = None) -> Grounding:
    """The request with its verified facts: what the engine computed from the message, or (for a
    word problem) what agreeing model-written programs returned."""
    if request.mode not in GROUNDED_MODES:
        return Grounding(computations=(), source="engine", request=request)
    computations = recognise(request.user_text)
    source = "engine"
    if not computations and write_programs is not None and looks_like_word_problem(request.user_text):
        votes = computation_from_programs(request.user_text, write_programs(request.user_text))
        if votes.computation is not None:
            computations, source = (votes.computation,), "programs"
    if not computations:
        return Grounding(computations=(), source=source, request=request)
    hint = request.mode == "hint"
    grounded = replace(request, facts=prompt_facts(computations, reveal=not hint))
    if hint and grounded.guard is None:
        # The guard withholds the true result however the model phrases it (0.5, 1/2, 50 %, a half).
        grounded = replace(grounded, guard=AnswerGuard(answer_key=computations[0].result))
    return Grounding(computations=computations, source=source, request=grounded)


def agrees_with_student(reply: str) -> bool:
    """The reply tells the student they are right ("Yes, your solution is correct")."""
    first = re.split(r"(?<=[.!?])\s", reply.strip(), maxsplit=1)[0]
    return bool(_AGREES.search(first) or _CALLS_IT_RIGHT.search(reply))


def _wrong_claims(computations: Sequence[Computation]) -> list[tuple[Computation, object]]:
    claims = []
    for computation in computations:
        verdict = student_claim_verdict(computation)
        if verdict is not None and verdict.outcome != "correct":
            claims.append((computation, verdict))
    return claims


def _not_quite(computation: Computation, verdict: object, *, reveal: bool) -> str:
    """The engine's own words when the model kept calling a wrong result right."""
    lines = [f"Not quite: {computation.claimed} is not the result of {computation.expression}."]
    misconception = getattr(verdict, "misconception", None)
    if misconception is not None:
        lines.append(f"It looks like you {misconception.name}. {misconception.hint}")
    working = [s for s in computation.steps if s != computation.expression]
    if reveal:
        lines.append(checked_line(computation))
    elif working:
        lines.append(f"Try this first step: {working[0].rstrip('.')}. What do you get next?")
    return "\n\n".join(lines)


def _states_result(reply: str, computation: Computation) -> bool:
    values = set(computation.values)
    for stated in stated_results(reply):
        try:
            parsed = parse_answer(stated.stated)
        except MathsError:   # an unreadable statement is simply not this result
            continue
        if parsed is not None and values & set(parsed.values):
            return True
    return False


def reply_grounded(tutor: Tutor, request: TutorRequest, settings: GenerationSettings, *,
                   on_text: Callable[[str], None] | None = None, stop: threading.Event | None = None,
                   write_programs: ProgramSolver | None = None) -> TutorReply:
    """The tutor's reply, grounded in computed results and checked against them (see the module).
    `write_programs` defaults to the tutor's own model writing `settings.word_problem_programs`
    programs (none when that is 0)."""
    stop = stop or threading.Event()
    if write_programs is None and settings.word_problem_programs:
        write_programs = program_writer(tutor, settings, stop, samples=settings.word_problem_programs)
    grounding = ground(request, write_programs=write_programs)
    first = reply_with_guard(tutor, grounding.request, settings, on_text=on_text, stop=stop)
    computations = grounding.computations
    if request.mode not in GROUNDED_MODES or first.stopped:
        return replace(first, text=plain_maths(first.text))

    reveal = request.mode == "explain"
    reply, regenerated = first, False
    found: tuple[Contradiction, ...] = contradictions(first.text, computations)
    wrong_claims = _wrong_claims(computations)
    confirmed_wrong = bool(wrong_claims) and agrees_with_student(first.text)
    if found or confirmed_wrong:
        wrong = ", ".join(c.stated for c in found) or f"that {wrong_claims[0][0].claimed} is right"
        firmer = replace(grounding.request, facts=grounding.request.facts + FIRMER_FACTS.format(wrong=wrong))
        second = reply_with_guard(tutor, firmer, settings, on_text=None, stop=stop)
        if second.text.strip() and not second.stopped:
            reply, regenerated = replace(second, n_tokens=first.n_tokens + second.n_tokens), True
    if stop.is_set():
        # Stopped during the second pass: the student asked for no more; keep what they saw.
        return replace(first, text=plain_maths(first.text), stopped=True)
    text = reply.text
    still_wrong = contradictions(text, computations)
    blocked = bool(wrong_claims) and agrees_with_student(text)
    if blocked:
        computation, verdict = wrong_claims[0]
        text = _not_quite(computation, verdict, reveal=reveal)
        still_wrong = ()
    corrected = bool(still_wrong)
    text = with_corrections(text, still_wrong, reveal=reveal)
    if reveal and not blocked:
        # Explain mode ends with the verified result when the reply left it out.
        missing = [c for c in computations if not _states_result(text, c)]
        if missing:
            text = text.rstrip() + "\n\n" + "\n".join(checked_line(c) for c in missing)
            corrected = True
    check = MathsCheck(computed=tuple(c.statement for c in computations), source=grounding.source,
                       contradictions=tuple(c.stated for c in found), regenerated=regenerated,
                       corrected=corrected, confirmation_blocked=blocked)
    return replace(reply, text=plain_maths(text), maths=check if computations or found else None)


def program_writer(tutor: Tutor, settings: GenerationSettings, stop: threading.Event, *,
                   samples: int) -> ProgramSolver:
    """Programs for a word problem, written by the tutor's model: one greedy, the rest sampled."""
    def write(problem: str) -> list[str]:
        from learner.practice import ModelTextGenerator

        generate = ModelTextGenerator.from_tutor(tutor, stop=stop)
        template = load_prompt_file("solve_program")
        messages = [{"role": "user", "content": template.replace("{message}", problem)}]
        programs = []
        for i in range(samples):
            if stop.is_set():
                break
            sample = replace(settings, temperature=0.0 if i == 0 else PROGRAM_TEMPERATURE,
                             max_new_tokens=PROGRAM_MAX_NEW_TOKENS)
            program = program_from_reply(generate(messages, sample))
            if program:
                programs.append(program)
        return programs

    return write
