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
   corrects it ("Checked: 2/3 + 1/6 = 5/6." or, in Hint mode, "… is not 3/9.").
4. A reply may tell the student they are right only when the engine verified their attempt
   (learner.maths.attempt: their final answer is the computed answer to the question). A wrong step
   in their working replaces any confirmation with that step named ("Check this step: 15 × 80 is
   not 1199.", never the true final answer in Hint mode, where that answer is also the guard's
   key); a confirmation the engine cannot back becomes a kind hedge asking them to check each step.
   `review_reply` does all of this after generating, without the model; `MathsCheck` records it.
5. LaTeX the model wrote anyway becomes plain text.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from learner.guard import reply_with_guard
from learner.maths import (
    Computation,
    Contradiction,
    MathsError,
    checked_line,
    computation_from_programs,
    contradictions,
    parse_answer,
    plain_maths,
    program_from_reply,
    prompt_facts,
    recognise,
    stated_results,
    with_corrections,
)
from learner.maths.attempt import NO_ATTEMPT, Attempt, read_attempt
from learner.maths.check import hint_step, student_claim_verdict
from learner.maths.evaluate import evaluate
from learner.maths.recognise import program_value, votes_settled
from learner.prompts import program_messages
from learner.settings import GenerationSettings
from learner.types import AnswerGuard, MathsCheck, TutorReply, TutorRequest

if TYPE_CHECKING:
    from learner.tutor import Tutor

GROUNDED_MODES = ("explain", "hint")
PROGRAM_MAX_NEW_TOKENS = 200
PROGRAM_TEMPERATURE = 0.7         # the first program is greedy, the others sampled, so they can disagree
PROGRAMS_AGREEING = 3             # of GenerationSettings.word_problem_programs (5): 2 of 3 was right 61 % of the
                                  # times it answered, 3 of 5 73 %, with as many right answers (GSM8K 20-59,
                                  # bench/programs.py)
FIRMER_FACTS = ("\n\nImportant: your last answer stated {wrong}, which is wrong. Use exactly the verified "
                "result above.")

# A reply that tells the student they are right: an opening ("Yes", "Correct!", "Well done"), or a
# verdict on their work in the second or third person ("your solution is correct", "The student's
# calculation is correct", "This is correct", "you got it right"). A negation ("is not correct")
# never matches: the optional word before the verdict cannot be "not".
_ADVERB = r"(?:(?!not\b|never\b|quite\b)\w+\s+)?"
_AGREES = re.compile(r"^\W*(yes\b|correct\b|right\b|exactly\b|perfect\b|well done\b|great job\b|good job\b|"
                     r"that'?s (?:right|correct)\b|you(?:'re| are) (?:right|correct)\b)", re.IGNORECASE)
_CALLS_IT_RIGHT = re.compile(
    r"\b(?:your|the|this|that|their|his|her|the\s+student'?s|student'?s)\s+(?:\w+\s+)?(?:final\s+)?"
    r"(?:solution|answer|result|working|work|calculations?|reasoning|approach|steps?|hint|method|maths?|arithmetic|"
    r"sum|total)\s+(?:provided\s+|given\s+)?(?:is|are|was|were|looks?|seems?)\s+" + _ADVERB +
    r"(?:correct|right|perfect|accurate|spot[\s-]on|valid)\b"
    r"|\b(?:that|this|it)(?:'s|\s+is|\s+was)\s+" + _ADVERB + r"(?:correct|right|spot[\s-]on)\b"
    r"|\byou(?:'re|\s+are|\s+were)\s+" + _ADVERB + r"(?:correct|right)\b"
    r"|\byou(?:'ve|\s+have)?\s+(?:got|solved|answered|calculated|did|worked\s+out|computed|found)\s+(?:it|this|that|"
    r"the\s+problem|everything|the\s+answer|them|all|each\s+step)\s+" + _ADVERB + r"(?:right|correctly)\b"
    r"|\b(?:well\s+done|great\s+job|good\s+job|nicely\s+done|great\s+work|good\s+work|excellent\s+work)\b"
    r"|\bcorrectly\s+(?:calculated|solved|found|determined|computed|worked\s+out)\b"
    r"|\bis\s+indeed\s+(?:correct|right)\b|\bmatches\s+(?:the|your)\s+(?:given\s+|correct\s+|expected\s+)?answer\b"
    r"|\bconfirms\s+(?:that|your|the\s+(?:answer|result|solution))\b",
    re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

HEDGE_STEPS_RIGHT = ("Each calculation in your working adds up, but I can't be sure your steps fit this question, "
                     "so I won't call the answer right yet. Read the question again and check that each step does "
                     "what it asks.")
HEDGE = ("Thanks for showing your working! I can't check all of it myself, so I won't call it right yet. Go "
         "through it once more: check that each step does what the question asks, and work each calculation out again.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Grounding:
    computations: tuple[Computation, ...]
    source: str                   # engine | programs
    request: TutorRequest         # with the facts (and, in Hint mode, the answer-key guard)
    attempt: Attempt = NO_ATTEMPT  # the student's own attempt in the message, checked


ProgramSolver = Callable[[str], Sequence[str]]   # a word problem → model-written program texts
STAGE_PROGRAMS = "working the problem out"      # what the student sees while programs are written


def looks_like_word_problem(text: str) -> bool:
    """A few sentences with a number in them that ask for something: worth writing programs for
    ("half as many" is the second number of many a word problem)."""
    words = text.split()
    return 8 <= len(words) <= 400 and re.search(r"\d", text) is not None and (
        "?" in text or re.search(r"\b(how|what|find|calculate|work out)\b", text, re.IGNORECASE) is not None)


def ground(request: TutorRequest, *, write_programs: ProgramSolver | None = None) -> Grounding:
    """The request with its verified facts: what the engine computed from the message, or (for a
    word problem) what agreeing model-written programs returned, and the student's own attempt
    checked step by step (learner.maths.attempt)."""
    if request.mode not in GROUNDED_MODES:
        return Grounding(computations=(), source="engine", request=request)
    computations = recognise(request.user_text)
    source = "engine"
    if not computations and write_programs is not None and looks_like_word_problem(request.user_text):
        votes = computation_from_programs(request.user_text, write_programs(request.user_text),
                                          min_agreeing=PROGRAMS_AGREEING)
        if votes.computation is not None:
            computations, source = (votes.computation,), "programs"
    attempt = read_attempt(request.user_text, computations, solved_by_programs=source == "programs")
    facts = "\n".join(f for f in (prompt_facts(computations, reveal=request.mode != "hint"), attempt_facts(attempt))
                      if f)
    if not facts:
        return Grounding(computations=computations, source=source, request=request, attempt=attempt)
    grounded = replace(request, facts=facts)
    target = _withheld_result(attempt, computations)
    if request.mode == "hint" and grounded.guard is None and target is not None:
        # The guard withholds the true final answer (not the student's first step) however the model
        # phrases it (0.5, 1/2, 50 %, a half).
        grounded = replace(grounded, guard=AnswerGuard(answer_key=target.result))
    return Grounding(computations=computations, source=source, request=grounded, attempt=attempt)


def _withheld_result(attempt: Attempt, computations: Sequence[Computation]) -> Computation | None:
    """What a Hint must not state: the true final answer to the student's attempt, else the first
    computed result (the guard's key, and what `engine_hint` hints towards)."""
    return attempt.withheld or (computations[0] if computations else None)


def attempt_facts(attempt: Attempt) -> str:
    """What the prompt says about the student's own attempt: whether the engine could check it."""
    if attempt.status == "wrong_step":
        step = attempt.wrong_steps[0]
        return (f"The student's step {step.subject} = {step.wrong_value} is wrong. Do NOT say their solution is "
                f"right; point them to that step without giving its result.")
    if attempt.status == "wrong_answer":
        misconception = attempt.verdict.misconception if attempt.verdict is not None else None
        mistake = (f" Their mistake: they {misconception.name}. Say so kindly, and hint: {misconception.hint}"
                   if misconception is not None else "")
        return f"The student's answer {attempt.final} is NOT correct; do not call it right.{mistake}"
    if attempt.status == "verified":
        return f"The student's answer {attempt.final} is correct: you may tell them so."
    if attempt.status == "unverified":
        return ("The calculator could not check whether the student's whole solution is right. Do NOT say it is "
                "right or correct; ask them to check each step against the question.")
    return ""


_ASKS_TO_CHECK = re.compile(r"\b(?:check|sure|whether|if|see|verify)(?:\s+that)?\s*$", re.IGNORECASE)


def _confirms(sentence: str) -> bool:
    """One sentence calls the student's work right ("check that your answer is right" does not)."""
    return bool(_AGREES.search(sentence)) or any(not _ASKS_TO_CHECK.search(sentence[:m.start()])
                                                 for m in _CALLS_IT_RIGHT.finditer(sentence))


def _sentences(reply: str) -> list[str]:
    return [s for line in reply.splitlines() for s in _SENTENCE.split(line) if s.strip()]


def agrees_with_student(reply: str) -> bool:
    """The reply tells the student they are right ("Yes, your solution is correct", "The student's
    calculation is correct", "This is correct")."""
    return any(_confirms(sentence) for sentence in _sentences(reply))


def _not_quite(computation: Computation, verdict: object, *, claimed: str, reveal: bool) -> str:
    """The engine's own words for a wrong result the model called right. In Hint mode it shows a
    first step only when that step does not state the result."""
    lines = [f"Not quite: I worked this problem out and got a different answer from {claimed}."
             if computation.kind == "word_problem" else f"Not quite: {claimed} is not the result of {computation.expression}."]
    misconception = getattr(verdict, "misconception", None)
    if misconception is not None:
        lines.append(f"It looks like you {misconception.name}. {misconception.hint}")
    step = hint_step(computation)
    if reveal:
        lines.append(checked_line(computation))
    elif step is not None:
        lines.append(f"Try this first step: {step}. What do you get next?")
    else:
        lines.append("Work it out again one step at a time, and tell me what you get.")
    return "\n\n".join(lines)


def _value(text: str) -> object:
    try:
        return evaluate(text.replace("$", "").replace("£", "").replace("€", ""))
    except MathsError:
        return None


def _step_misconception(step: Contradiction, computations: Sequence[Computation]) -> object:
    """The known mistake behind a wrong step, when the engine recognised the step with its claim."""
    subject, wrong = _value(step.subject), _value(step.wrong_value)
    for computation in computations:
        if computation.claimed is not None and computation.value == subject and _value(computation.claimed) == wrong:
            verdict = student_claim_verdict(computation)
            return getattr(verdict, "misconception", None)
    return None


def engine_hint(grounding: Grounding) -> str | None:
    """A hint written by the engine alone, never stating the result: the student's wrong step named,
    else a first step of the working; None when it has neither."""
    attempt, computations = grounding.attempt, grounding.computations
    if attempt.status == "wrong_step":
        return _check_this_step(attempt.wrong_steps[0], computations, reveal=False)
    target = _withheld_result(attempt, computations)
    step = hint_step(target) if target is not None else None
    if step is None:
        return None
    return f"Let's take it one step at a time. Try this first step: {step}. What do you get next?"


def step_line(step: Contradiction, *, reveal: bool) -> str:
    """"Check this step: 15 × 80 is not 1199." (in Explain mode with the step's true result)."""
    line = f"Check this step: {step.subject} is not {step.wrong_value}."
    return f"{line} {step.correct}." if reveal else line


def _check_this_step(step: Contradiction, computations: Sequence[Computation], *, reveal: bool) -> str:
    """The engine's own words for a worked solution with a wrong step that the model called right:
    the step named, never the final answer in Hint mode."""
    lines = [f"Not quite. {step_line(step, reveal=reveal)}"]
    misconception = _step_misconception(step, computations)
    if misconception is not None:
        lines.append(f"It looks like you {misconception.name}. {misconception.hint}")   # type: ignore[attr-defined]
    lines.append("Work that step out again, then carry the new result through the rest of your working.")
    return "\n\n".join(lines)


def _names_step(text: str, step: Contradiction) -> bool:
    """The reply already points at the wrong step ("… is not 1199", "1199 is incorrect")."""
    wrong = re.escape(step.wrong_value.strip())
    return re.search(rf"(?:\bis\s+not|isn'?t|≠)\s+{wrong}(?!\d|[/.]\d)|(?<![\d/.]){wrong}\s+(?:is\s+)?"
                     rf"(?:incorrect|wrong|not\s+(?:right|correct))", text, re.IGNORECASE) is not None


def _hedged(reply: str, attempt: Attempt) -> str:
    """The reply with its confirmations replaced by an honest hedge (said once): the engine could
    not check the attempt as a whole, so the tutor must not call it right."""
    hedge = HEDGE_STEPS_RIGHT if attempt.steps_checked else HEDGE
    lines, said = [], False
    for line in reply.splitlines():
        kept = []
        for sentence in _SENTENCE.split(line):
            if sentence.strip() and _confirms(sentence):
                if not said:
                    kept.append(hedge)
                    said = True
                continue
            kept.append(sentence)
        if line.strip() and not any(k.strip() for k in kept):
            continue                       # a line that was only a confirmation goes
        lines.append(" ".join(kept))
    return "\n".join(lines).strip() or hedge


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    text: str
    corrected: bool                          # "Checked: …" lines were added
    rewrite: str = ""                        # replaced | hedged | step_named | "" (see MathsCheck)
    still_wrong: tuple[Contradiction, ...] = ()


def _wrong_claims(computations: Sequence[Computation]) -> list[tuple[Computation, object]]:
    claims = []
    for computation in computations:
        verdict = student_claim_verdict(computation)
        if verdict is not None and verdict.outcome != "correct":
            claims.append((computation, verdict))
    return claims


def _confirms_wrongly(text: str, grounding: Grounding) -> bool:
    wrong = grounding.attempt.status in ("wrong_step", "wrong_answer") or bool(_wrong_claims(grounding.computations))
    return wrong and agrees_with_student(text)


def _replacement(grounding: Grounding, *, reveal: bool) -> str:
    attempt, computations = grounding.attempt, grounding.computations
    if attempt.status == "wrong_step":
        return _check_this_step(attempt.wrong_steps[0], computations, reveal=reveal)
    if attempt.status == "wrong_answer" and attempt.answer is not None:
        return _not_quite(attempt.answer, attempt.verdict, claimed=attempt.final or "", reveal=reveal)
    computation, verdict = _wrong_claims(computations)[0]
    return _not_quite(computation, verdict, claimed=computation.claimed or "", reveal=reveal)


def review_reply(text: str, grounding: Grounding, *, reveal: bool) -> Review:
    """A finished reply checked against the engine, without the model (what `reply_grounded` does
    after generating; the bench re-applies it to stored replies):

    - a reply that calls a wrong attempt right is replaced by the engine's words: the wrong step
      named ("Check this step: 15 × 80 is not 1199."), or the wrong answer with its misconception,
      never the true final answer in Hint mode;
    - a confirmation the engine cannot back (a word problem it cannot check whole) becomes a kind
      hedge that asks the student to check each step;
    - a reply that leaves a wrong step unmentioned gets a line naming it;
    - every result the reply states wrongly gets a visible "Checked:" line; an Explain reply ends
      with the verified results it left out."""
    attempt, computations = grounding.attempt, grounding.computations
    if _confirms_wrongly(text, grounding):
        return Review(text=_replacement(grounding, reveal=reveal), corrected=False, rewrite="replaced")
    rewrite = ""
    if attempt.status == "unverified" and agrees_with_student(text):
        text, rewrite = _hedged(text, attempt), "hedged"
    still_wrong = tuple(c for c in contradictions(text, computations)
                        if c.stated.strip() and f"Checked: {c.subject} is not {c.wrong_value}." not in text
                        and f"Checked: {c.correct}." not in text)
    corrected = bool(still_wrong)
    text = with_corrections(text, still_wrong, reveal=reveal)
    if attempt.status == "wrong_step":
        step = attempt.wrong_steps[0]
        if not _names_step(text, step):
            text = text.rstrip() + "\n\n" + step_line(step, reveal=reveal)
            rewrite = rewrite or "step_named"
    if reveal:
        # Explain mode ends with the verified result when the reply left it out.
        missing = [c for c in computations if not _states_result(text, c)]
        if missing:
            text = text.rstrip() + "\n\n" + "\n".join(checked_line(c) for c in missing)
            corrected = True
    return Review(text=text, corrected=corrected, rewrite=rewrite, still_wrong=still_wrong)


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


def maths_check(grounding: Grounding, review: Review, *, found: Sequence[Contradiction],
                regenerated: bool) -> MathsCheck | None:
    """What the engine did for a reply, for the record (None when it had nothing to do)."""
    attempt = grounding.attempt
    if not (grounding.computations or found or attempt.status != "none"):
        return None
    wrong_step = attempt.wrong_steps[0].stated if attempt.wrong_steps else ""
    return MathsCheck(computed=tuple(c.statement for c in grounding.computations), source=grounding.source,
                      contradictions=tuple(c.stated for c in found), regenerated=regenerated,
                      corrected=review.corrected, confirmation_blocked=review.rewrite == "replaced",
                      attempt=attempt.status, wrong_step=wrong_step, rewrite=review.rewrite)


def reply_grounded(tutor: Tutor, request: TutorRequest, settings: GenerationSettings, *,
                   on_text: Callable[[str], None] | None = None, stop: threading.Event | None = None,
                   write_programs: ProgramSolver | None = None,
                   on_stage: Callable[[str], None] | None = None) -> TutorReply:
    """The tutor's reply, grounded in computed results and checked against them (see the module).
    `write_programs` defaults to the tutor's own model writing `settings.word_problem_programs`
    programs (none when that is 0). `on_stage` hears STAGE_PROGRAMS just before programs are
    written (seconds in which nothing streams), and nothing for any other message."""
    stop = stop or threading.Event()
    if write_programs is None and settings.word_problem_programs:
        write_programs = program_writer(tutor, settings, stop, samples=settings.word_problem_programs)
    if write_programs is not None and on_stage is not None:
        write_programs = _announced(write_programs, on_stage)
    grounding = ground(request, write_programs=write_programs)
    first = reply_with_guard(tutor, grounding.request, settings, on_text=on_text, stop=stop)
    if request.mode not in GROUNDED_MODES or first.stopped:
        return replace(first, text=plain_maths(first.text))

    reply, regenerated = first, False
    found: tuple[Contradiction, ...] = contradictions(first.text, grounding.computations)
    if found or _confirms_wrongly(first.text, grounding):
        firmer = replace(grounding.request, facts=grounding.request.facts + FIRMER_FACTS.format(
            wrong=", ".join(c.stated for c in found) or "that the student's wrong solution is right"))
        second = reply_with_guard(tutor, firmer, settings, on_text=None, stop=stop)
        if second.text.strip() and not second.stopped:
            reply, regenerated = replace(second, n_tokens=first.n_tokens + second.n_tokens), True
    if stop.is_set():
        # Stopped during the second pass: the student asked for no more; keep what they saw.
        return replace(first, text=plain_maths(first.text), stopped=True)
    if reply.guard is not None and reply.guard.outcome == "withheld":
        # Both tries gave the answer away: rather than the guard's general "try the first step", the
        # engine's own hint for this problem (the wrong step named, or a first step to try).
        reply = replace(reply, text=engine_hint(grounding) or reply.text)
    review = review_reply(reply.text, grounding, reveal=request.mode == "explain")
    return replace(reply, text=plain_maths(review.text),
                   maths=maths_check(grounding, review, found=found, regenerated=regenerated))


def _announced(write_programs: ProgramSolver, on_stage: Callable[[str], None]) -> ProgramSolver:
    """`write_programs` that says STAGE_PROGRAMS first: `ground` calls it only for a word problem
    the engine could not read itself, so the stage is said exactly when programs are written."""
    def write(problem: str) -> Sequence[str]:
        on_stage(STAGE_PROGRAMS)
        return write_programs(problem)

    return write


def program_writer(tutor: Tutor, settings: GenerationSettings, stop: threading.Event, *,
                   samples: int) -> ProgramSolver:
    """Programs for a word problem, written by the tutor's model from worked examples
    (learner.prompts.program_messages): the first greedy, the rest sampled, and no more once further
    programs could not change the vote (`votes_settled`)."""
    def write(problem: str) -> list[str]:
        from learner.practice import ModelTextGenerator

        generate = ModelTextGenerator.from_tutor(tutor, stop=stop)
        messages = program_messages(problem)
        programs: list[str] = []
        values = []
        for i in range(samples):
            if stop.is_set():
                break
            sample = replace(settings, temperature=0.0 if i == 0 else PROGRAM_TEMPERATURE,
                             max_new_tokens=PROGRAM_MAX_NEW_TOKENS)
            program = program_from_reply(generate(messages, sample))
            if program:
                programs.append(program)
                values.append(program_value(program, problem))
            if votes_settled(values, remaining=samples - i - 1, min_agreeing=PROGRAMS_AGREEING):
                break
        return programs

    return write
