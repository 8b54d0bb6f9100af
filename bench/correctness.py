"""Correctness bench: prints ONE JSON object on stdout (progress goes to stderr).

    python bench/correctness.py [--items 200] [--attempts 200] [--seed 0]
        [--explain 100] [--hint 50] [--explain-minutes M] [--hint-minutes M] [--data-dir FOLDER]
        [--explain-start 0] [--hint-start 100] [--records FILE.jsonl]
        (--explain 0 --hint 0: no model, the first two parts only)
    python bench/correctness.py --rescore RESULT.json   (a saved run's replies scored again, and put
        through today's post-generation checks as <path>_rechecked; no model)

- practice_keys: `--items` generated practice items spread over every topic with a generator,
  each key recomputed from the question text alone by tests/maths/recompute.py (its own parsers,
  plain `fractions`/`decimal`, no code shared with learner.maths). Reports the share of wrong keys
  and of questions the recomputation could not read.
- answer_checking: `--attempts` synthetic student attempts on generated items: the key as written,
  equivalent forms (decimal, fraction, mixed number, percent, "x = …", words, "$", thousands
  commas, trailing labels), unsimplified fractions where the simplest form is asked, the items'
  listed misconception answers, and slips (off by one, the key's digits reversed). Each attempt's
  expected verdict comes from how it was built; the engine's verdict (`learner.maths.judge`) is
  compared with it. `in_code_match_today` is what the chat's existing in-code check
  (`learner.guard.answers_match`) accepts of the attempts that are right, for comparison: today
  everything else goes to the model.
- attempt_checking (no model): students' worked solutions to all of ../shared/data/gsm8k-300.jsonl
  (`wrong_attempt`, with "*", "x" and "×" for times), with a slip in the final step and right:
  wrong steps found, false alarms on right working, the Hint guard's key, and the policy
  (`learner.grounded.review_reply`) on the real model's confirming openings (`attempt_checking`).
- explain_accuracy: final-answer accuracy of Explain replies to the first `--explain` GSM8K
  problems (../shared/data/gsm8k-300.jsonl, never trained on) through the base reply path, the
  grounded one (`learner.grounded.reply_grounded`, programs as GenerationSettings says) and the
  grounded one without programs; one loaded model, greedy, 320 new tokens. `final_answer()` is
  the scoring rule, the same for every path.
- hint_mode: `--hint` problems from index `--hint-start` with a student's wrong worked solution
  (`wrong_attempt()`: an arithmetic slip in the step that gives the final answer), asked "Is it
  right?" in Hint mode through the base and grounded paths: the telling rate and the
  false-confirmation rate (`agrees_with_attempt()`).
Both load the real model the way the app does (`learner.engine.select.load_engine`, then
`learner.tutor.Tutor(engine)`: llama.cpp on the GGUF with `--engine auto`/`llama.cpp`, the old
transformers path with `--engine transformers`), from `--data-dir` (reuse one to skip the GGUF
assembly or the conversion); `--explain-paths` picks the Explain paths. They record
the machine, wall and CPU seconds per problem and path, and every reply; `--explain-minutes` /
`--hint-minutes` stop starting new problems after that long (a shared CPU), and the JSON says so.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from learner.maths import TOPICS, GeneratedItem, judge
from learner.maths.numbers import show_decimal, show_mixed, terminates
from tests.maths.recompute import recompute

GSM8K = ROOT.parent / "shared" / "data" / "gsm8k-300.jsonl"
LEVELS = ("easy", "medium", "hard")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _items(count: int, seed: int) -> list[GeneratedItem]:
    """`count` items, round-robin over the topics and the three levels, reproducible from `seed`."""
    names = sorted(TOPICS)
    rng = random.Random(seed)
    return [TOPICS[names[i % len(names)]](random.Random(rng.getrandbits(32)), LEVELS[(i // len(names)) % 3])
            for i in range(count)]


# -- practice keys -------------------------------------------------------------------------------

def practice_keys(count: int, seed: int) -> dict:
    wrong, unread = [], []
    per_topic: Counter[str] = Counter()
    for item in _items(count, seed):
        per_topic[item.topic] += 1
        truth = recompute(item.question)
        if truth is None:
            unread.append(item.question)
        elif truth != item.values:
            wrong.append({"question": item.question, "key": item.answer_key, "recomputed": [str(v) for v in truth]})
    return {"items": count, "wrong_keys": len(wrong), "wrong_key_share": round(len(wrong) / count, 4),
            "not_recomputed": len(unread), "per_topic": dict(sorted(per_topic.items())), "wrong_examples": wrong[:5],
            "checked_by": "tests/maths/recompute.py (independent parsers of the question text)"}


# -- answer checking -----------------------------------------------------------------------------

_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
_PARTS = {2: ("half", "halves"), 3: ("third", "thirds"), 4: ("quarter", "quarters"), 5: ("fifth", "fifths"),
          6: ("sixth", "sixths"), 8: ("eighth", "eighths"), 10: ("tenth", "tenths")}


def _equivalent_forms(item: GeneratedItem) -> list[str]:
    """Other ways a student writes the key's value, all of them right for this item."""
    key, value = item.answer_key, item.values[0]
    if key.startswith("x = "):
        return [key.replace(" ", ""), key[4:], f"x={key[4:]}"]
    if ":" in key:
        return [key.replace(":", " : ")]
    if key.endswith("%"):
        return [key[:-1], f"{key[:-1]} percent", show_decimal(value) if terminates(value) else key]
    forms = [f"The answer is {key}.", f"{key} "]
    if value.denominator != 1:
        if not item.require_simplest or abs(value) > 1:
            forms.append(show_mixed(value) if abs(value) > 1 else f"{value.numerator}/{value.denominator}")
        if terminates(value) and not item.require_simplest:
            forms.append(show_decimal(value))
        if 0 < value < 1 and value.denominator in _PARTS and value.numerator in _WORDS:
            forms.append(f"{_WORDS[value.numerator]} {_PARTS[value.denominator][value.numerator > 1]}")
    else:
        forms += [f"{value.numerator}.0", f"{value.numerator:,}", f"{value.numerator} items"]
    if item.topic == "Word problems" and "$" in item.question:
        forms.append(f"${key}")
    return forms


def _attempts(count: int, seed: int) -> list[tuple[str, GeneratedItem, str, str]]:
    """(kind, item, attempt, expected practice verdict)."""
    rng = random.Random(seed + 1)
    attempts: list[tuple[str, GeneratedItem, str, str]] = []
    kinds = ("right", "equivalent", "unsimplified", "misconception", "slip")
    for i, item in enumerate(_items(count * 2, seed + 2)):
        if len(attempts) >= count:
            break
        kind, value = kinds[i % len(kinds)], item.values[0]
        if kind == "right":
            attempts.append((kind, item, item.answer_key, "correct"))
        elif kind == "equivalent":
            attempts.append((kind, item, rng.choice(_equivalent_forms(item)), "correct"))
        elif kind == "unsimplified" and len(item.values) == 1 and value.denominator != 1:
            factor = rng.randint(2, 4)
            attempt = f"{value.numerator * factor}/{value.denominator * factor}"
            attempts.append((kind, item, attempt, "partly" if item.require_simplest else "correct"))
        elif kind == "misconception" and item.wrong_answers:
            wrong = rng.choice(item.wrong_answers)
            # a partly simplified fraction or ratio is equal in value: right, but not in simplest form
            expected = "partly" if wrong.misconception.code.endswith("partly_simplified") else "incorrect"
            attempts.append((kind, item, wrong.answer, expected))
        elif kind == "slip" and len(item.values) == 1:
            slipped = value + 1 if rng.random() < 0.5 else value - Fraction(1, 10)
            shown = show_decimal(slipped) if terminates(slipped) else f"{slipped.numerator}/{slipped.denominator}"
            attempts.append((kind, item, shown, "incorrect"))
    return attempts


def _in_code_match_today(answer: str, key: str) -> bool | None:
    try:
        from learner.guard import answers_match
    except ImportError:
        return None
    return answers_match(answer, key)


def answer_checking(count: int, seed: int) -> dict:
    attempts = _attempts(count, seed)
    right_by_kind: Counter[str] = Counter()
    total_by_kind: Counter[str] = Counter()
    misconception_named = misconception_total = 0
    today_accepts = today_right = 0
    errors = []
    for kind, item, attempt, expected in attempts:
        verdict = judge(attempt, item.answer_key, tolerance=item.tolerance, require_simplest=item.require_simplest,
                        wrong_answers=item.wrong_answers)
        total_by_kind[kind] += 1
        if verdict.practice_verdict == expected:
            right_by_kind[kind] += 1
        else:
            errors.append({"question": item.question, "key": item.answer_key, "attempt": attempt,
                           "expected": expected, "engine": verdict.outcome})
        if kind == "misconception":
            misconception_total += 1
            misconception_named += verdict.misconception is not None
        if expected == "correct":
            today = _in_code_match_today(attempt, item.answer_key)
            if today is not None:
                today_right += 1
                today_accepts += today
    correct = sum(right_by_kind.values())
    return {
        "attempts": len(attempts), "verdict_accuracy": round(correct / len(attempts), 4),
        "by_kind": {k: f"{right_by_kind[k]}/{total_by_kind[k]}" for k in sorted(total_by_kind)},
        "misconception_named": f"{misconception_named}/{misconception_total}",
        "in_code_match_today": f"{today_accepts}/{today_right}" if today_right else None,
        "errors": errors[:5],
    }


# -- the student's attempt, read and checked (no model) --------------------------------------------

# Replies that call the attempt right, written the way the real 0.5B model opened its Hint replies
# to wrong worked solutions (bench records 2026-12-01).
CONFIRMING_REPLIES = (
    "Yes, your solution is correct! Let's break down the problem step by step.",
    "The student's solution is correct. To verify this, we can follow the same steps.",
    "The student's calculation is correct. Let's verify it using the calculator.",
    "Your answer is right, well done. So, the answer is indeed {wrong}.",
    "Great job! You got it right. The calculation confirms that the answer is {wrong}.",
)


def attempt_checking(data: Path = GSM8K, *, seed: int = 0, signs: tuple[str, ...] = ("*", "x", "×")) -> dict:
    """The engine on students' worked solutions to every problem of `data` (the reference working
    written out by `wrong_attempt`, with each multiplication sign in `signs`), once with an
    arithmetic slip in the final step and once right, sent in Hint mode. Nothing is generated:

    - wrong attempts: `learner.maths.attempt` finds a wrong step (and it is the slipped one); the
      Hint guard's key is the true final answer;
    - right attempts: a false alarm is a wrong step or wrong answer reported in right working;
    - the policy on `CONFIRMING_REPLIES` (the real model's confirmations, one per attempt in turn)
      through `learner.grounded.review_reply`: false confirmations left by the rule of
      `agrees_with_attempt` on wrong attempts, and on right ones how often the confirmation is
      kept (the engine verified the answer) or hedged (it could not)."""
    from learner.grounded import ground, review_reply
    from learner.types import TutorRequest

    rows = _rows(data, 0, None)
    result: dict = {"data": _data_label(data),
                    "problems": len(rows), "per_sign": {}}
    for sign in signs:
        rng = random.Random(seed + 17)
        wrong_found = slip_named = key_right = wrong_total = confirmed = 0
        right_total = false_alarms = 0
        right_status: Counter[str] = Counter()
        right_rewrite: Counter[str] = Counter()
        alarms = []
        for index, row in enumerate(rows):
            reply = CONFIRMING_REPLIES[index % len(CONFIRMING_REPLIES)]
            wrong = wrong_attempt(row, rng, times=sign)
            if wrong is not None:
                wrong_total += 1
                grounding = ground(TutorRequest(user_text=wrong["message"], mode="hint"))
                attempt = grounding.attempt
                wrong_found += attempt.status == "wrong_step"
                slip_named += any(_value(s.wrong_value.rstrip("% ")) == Fraction(wrong["wrong"])
                                  for s in attempt.wrong_steps)
                guard = grounding.request.guard
                key_right += guard is not None and _value(guard.answer_key) == Fraction(row["answer"].replace(",", ""))
                text = review_reply(reply.format(wrong=wrong["wrong"]), grounding, reveal=False).text
                confirmed += agrees_with_attempt(text, Fraction(wrong["wrong"]))["false_confirmation"]
            right = wrong_attempt(row, rng, times=sign, with_slip=False)
            if right is not None:
                right_total += 1
                grounding = ground(TutorRequest(user_text=right["message"], mode="hint"))
                status = grounding.attempt.status
                right_status[status] += 1
                if status in ("wrong_step", "wrong_answer"):
                    false_alarms += 1
                    alarms.append({"index": index, "wrong_steps": [s.stated for s in grounding.attempt.wrong_steps]})
                right_rewrite[review_reply(reply.format(wrong=row["answer"]), grounding, reveal=False).rewrite
                              or "kept"] += 1
        result["per_sign"][sign] = {
            "wrong_attempts": wrong_total, "wrong_step_found": wrong_found, "slipped_step_named": slip_named,
            "guard_key_is_the_answer": key_right, "confirming_replies_left_confirming": confirmed,
            "right_attempts": right_total, "false_alarms": false_alarms, "right_status": dict(right_status),
            "right_confirmation": dict(right_rewrite), "false_alarm_examples": alarms[:5]}
    return result


# -- model-dependent parts: the chat's reply path on the real model ------------------------------
#
# Both measures load the model once and ask every problem through each reply path in turn (so a
# busy shared CPU slows all paths alike). Greedy decoding (temperature 0) throughout; the
# programs reply_grounded has the model write for a word problem are one greedy and the rest
# sampled at learner.grounded.PROGRAM_TEMPERATURE, seeded per problem from --seed.

BASE_PATH = "learner.guard.reply_with_guard(tutor, request, settings): the reply path before grounding"
GROUNDED_PATH = "learner.grounded.reply_grounded(tutor, request, settings): the chat's reply path now"

_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_LAST_NUMBER = re.compile(r"[-−]?[$£€]?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")
_CALC = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_OPERATOR = re.compile(r"[-+*/]")
# How a reply treats a student's attempt (agrees_with_attempt): an affirmation, and the doubts
# ("not correct", "check your…", the engine's "Checked: … is not 26") that cancel it.
_AFFIRMS = re.compile(
    r"\b(?:(?:your|the|this|the student'?s) (?:solution|answer|result|working|work|calculations?|reasoning|approach|"
    r"steps?|hint|method)(?: \w+)? (?:is|are|was|were|looks?|seems?) (?:\w+ )?(?:correct|right|perfect|accurate|spot on)|"
    r"you(?:'ve| have)? (?:got|solved|answered|calculated|did) (?:it|this|that|the problem|everything) "
    r"(?:right|correctly)|(?:that|this)(?:'s| is) (?:correct|right)|you(?:'re| are) (?:correct|right)|"
    r"well done|great job|good job|nicely done|great work|good work|correctly (?:calculated|solved|found|"
    r"determined|computed))", re.IGNORECASE)
_DOUBTS = re.compile(
    r"\b(?:not (?:quite |entirely |completely |exactly )?(?:correct|right|accurate)|incorrect|(?:isn|wasn|aren)'?t "
    r"(?:correct|right)|mistakes?|errors?|wrong|slip|miscalculat\w*|re-?check|double-?check|"
    r"check (?:your|the|that|this|step|again)|look (?:again|closely|carefully)|should be|not quite|"
    r"is not [$£€]?\d)",
    re.IGNORECASE)


def _value(text: str | None) -> Fraction | None:
    """The single exact value `text` states ("$1,200", "72 clips", "3/4"), else None."""
    from learner.maths import MathsError, parse_answer

    if not text:
        return None
    try:
        parsed = parse_answer(text.replace("−", "-"))
    except MathsError:
        return None
    return parsed.values[0] if parsed is not None and len(parsed.values) == 1 else None


def _last_at(sentence: str, stated: str) -> int:
    """Where `stated` last occurs in `sentence` as a whole number/word (-1 if it does not)."""
    ends = [m.end() for m in re.finditer(rf"(?<![\w.]){re.escape(stated)}(?![\w]|\.\d)", sentence)]
    return ends[-1] if ends else -1


def final_answer(reply: str) -> tuple[Fraction | None, str | None, str]:
    """The reply's final stated answer: (value, as stated, rule), the same rule for every path.

    The last sentence of the reply (after `plain_maths`) that states a result in the sense of
    `learner.maths.check.stated_results` (an arithmetic chain "a + b = c", "the answer/total/result
    is c", or "x = c"); of that sentence's results, the one whose stated value comes last in the
    sentence (so "The total is 120 + 15 = 135" gives 135, not the 120 that "total is" reads first).
    A reply that states no readable result anywhere: its last number (rule "last_number")."""
    from learner.maths import plain_maths, stated_results

    text = plain_maths(reply or "")
    for sentence in reversed([s for s in _SENTENCES.split(text) if s and s.strip()]):
        ranked = []
        for result in stated_results(sentence):
            value = _value(result.stated)
            if value is not None:
                ranked.append((_last_at(sentence, result.stated), value, result.stated))
        if ranked:
            _, value, stated = max(ranked, key=lambda r: r[0])
            return value, stated, "stated_result"
    numbers = _LAST_NUMBER.findall(text)
    if numbers:
        return _value(numbers[-1]), numbers[-1], "last_number"
    return None, None, "none"


def last_number(reply: str) -> Fraction | None:
    """The plain GSM8K rule, for comparison: the last number the reply writes."""
    from learner.maths import plain_maths

    numbers = _LAST_NUMBER.findall(plain_maths(reply or ""))
    return _value(numbers[-1]) if numbers else None


def states_value(reply: str, value: Fraction) -> bool:
    """Any result the reply states (`stated_results`, anywhere) has this value."""
    from learner.maths import stated_results

    return any(_value(r.stated) == value for r in stated_results(reply or ""))


@dataclass
class LoadedTutor:
    tutor: object
    info: dict


def load_tutor(spec: str, data_dir: str | None, device: str, dtype: str, engine: str = "transformers") -> LoadedTutor:
    """The real model, prepared into `data_dir` (a cache reused between runs) and loaded once; with
    engine llama.cpp (or auto) on the serving engine the chat uses (no bf16 conversion)."""
    from learner.loading import load_model
    from learner.sources import prepare_model
    from learner.tutor import Tutor
    from storage import DataDir

    folder = DataDir(Path(data_dir or tempfile.mkdtemp(prefix="tutorloop-correctness-"))).ensure()
    started = time.perf_counter()
    if engine != "transformers":
        from learner.engine.select import load_engine
        from learner.settings import GenerationSettings

        loaded_engine = load_engine(GenerationSettings(model_spec=spec, device=device, dtype=dtype, engine=engine),
                                    folder)
        tutor = Tutor(loaded_engine.engine, notice=loaded_engine.notice)
        info = {"model_id": tutor.model_id, "model_spec": spec, "engine": tutor.engine_name,
                "notice": loaded_engine.notice, "data_dir": str(folder.root),
                "load_s": round(time.perf_counter() - started, 1),
                # --seed seeds torch only: llama.cpp draws a fresh seed for each sampled program
                "sampling_seed": "torch only" if tutor.engine_name == "transformers" else "unseeded"}
        return LoadedTutor(tutor=tutor, info=info)
    prepared = prepare_model(spec, folder, on_progress=lambda p: log(f"  {p.fraction:4.0%} {p.step}: {p.detail}"))
    prepared_s = time.perf_counter() - started
    loaded = load_model(prepared, device=device, dtype=dtype)
    info = {"model_id": loaded.model_id, "model_spec": spec, "engine": "transformers", "device": loaded.device,
            "dtype": loaded.dtype,
            "data_dir": str(folder.root), "prepare_s": round(prepared_s, 1),
            "load_s": round(time.perf_counter() - started - prepared_s, 1)}
    return LoadedTutor(tutor=Tutor(loaded), info=info)


def _rows(data: Path, start: int, count: int | None) -> list[dict]:
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[start:] if count is None else rows[start:start + count]


def _seed(seed: int, index: int) -> None:
    import torch

    torch.manual_seed(seed * 100_003 + index)


def _timed_program_writer(tutor, settings, stop, clock: dict):
    """`learner.grounded.program_writer` exactly as reply_grounded makes it by default, timed, with
    the programs kept so that the bench can say what they computed."""
    from learner.grounded import program_writer

    write = program_writer(tutor, settings, stop, samples=settings.word_problem_programs)

    def timed(problem: str) -> list[str]:
        started, cpu = time.perf_counter(), time.process_time()
        programs = write(problem)
        clock["programs_s"] = clock.get("programs_s", 0.0) + time.perf_counter() - started
        clock["programs_cpu_s"] = clock.get("programs_cpu_s", 0.0) + time.process_time() - cpu
        clock["programs"] = list(programs)
        return programs

    return timed


def _ask(path: str, tutor, request, settings) -> tuple[object, dict]:
    """One reply through `path` (base | grounded | grounded_no_programs) and what it cost."""
    import threading

    from learner.grounded import reply_grounded
    from learner.guard import reply_with_guard

    clock: dict = {}
    stop = threading.Event()
    started, cpu = time.perf_counter(), time.process_time()
    if path == "base":
        reply = reply_with_guard(tutor, request, settings)
    elif path == "grounded_no_programs":
        reply = reply_grounded(tutor, request, replace(settings, word_problem_programs=0), stop=stop)
    else:
        writer = _timed_program_writer(tutor, settings, stop, clock) if settings.word_problem_programs else None
        reply = reply_grounded(tutor, request, settings, stop=stop, write_programs=writer)
    clock["seconds"], clock["cpu_s"] = time.perf_counter() - started, time.process_time() - cpu
    return reply, clock


def _grounding(reply) -> str:
    maths = getattr(reply, "maths", None)
    return maths.source if maths is not None and maths.computed else "none"


def _maths_fields(reply) -> dict:
    maths = getattr(reply, "maths", None)
    guard = getattr(reply, "guard", None)
    fields = {"grounding": _grounding(reply)}
    if maths is not None:
        fields.update(computed=list(maths.computed), contradictions=list(maths.contradictions),
                      regenerated=maths.regenerated, corrected=maths.corrected,
                      confirmation_blocked=maths.confirmation_blocked)
    if guard is not None:
        fields["guard"] = guard.outcome
    return fields


def _program_votes(question: str, programs: list[str], reference: Fraction) -> dict:
    from learner.maths import computation_from_programs, run_program
    from learner.maths.errors import MathsError

    values = []
    for program in programs:
        try:
            values.append(run_program(program).value)
        except MathsError:
            values.append(None)
    votes = computation_from_programs(question, programs)
    chosen = votes.computation.value if votes.computation is not None else None
    return {"written": len(programs), "ran": votes.ran, "agreeing": votes.agreeing,
            "values": [None if v is None else show_decimal(v) if terminates(v) else str(v) for v in values],
            "any_right": reference in values,
            "chosen": None if chosen is None else str(chosen),
            "chosen_right": None if chosen is None else chosen == reference}


def _program_fields(question: str, clock: dict, reference: Fraction) -> dict:
    """The word-problem programs' time and votes for one reply; empty when no programs were written."""
    if "programs" not in clock:
        return {}
    return {"programs_s": round(clock["programs_s"], 1), "programs_cpu_s": round(clock["programs_cpu_s"], 1),
            "programs": _program_votes(question, clock["programs"], reference)}


def _append_record(records_out: Path | None, section: str, record: dict) -> None:
    """One JSON line per problem, written as it finishes, so a stopped run keeps what it did."""
    if records_out is not None:
        with records_out.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"section": section, **record}) + "\n")


def _data_label(data: Path) -> str:
    return str(data.relative_to(ROOT.parent)) if data.is_relative_to(ROOT.parent) else str(data)


def _per_path_summary(records: list[dict], path: str) -> dict:
    rows = [r[path] for r in records if path in r]
    n = len(rows)
    if not n:
        return {"problems": 0}
    seconds = sorted(r["seconds"] for r in rows)
    summary = {
        "problems": n, "correct": sum(r["correct"] for r in rows),
        "accuracy": round(sum(r["correct"] for r in rows) / n, 4),
        "accuracy_last_number_rule": round(sum(r["last_number_correct"] for r in rows) / n, 4),
        "states_reference_somewhere": sum(r["states_reference"] for r in rows),
        "final_answer_rule_used": dict(Counter(r["rule"] for r in rows)),
        "seconds_per_problem": round(sum(seconds) / n, 1),
        "seconds_median": round(seconds[n // 2] if n % 2 else (seconds[n // 2 - 1] + seconds[n // 2]) / 2, 1),
        "seconds_total": round(sum(seconds), 1),
        "cpu_seconds_per_problem": round(sum(r["cpu_s"] for r in rows) / n, 1) if all("cpu_s" in r for r in rows)
        else None,   # (runs before CPU seconds were recorded)
        "tokens_per_problem": round(sum(r["n_tokens"] for r in rows) / n, 1),
        "grounding": dict(Counter(r["grounding"] for r in rows)),
    }
    if path != "base":
        summary["regenerated"] = sum(bool(r.get("regenerated")) for r in rows)
        summary["corrected_visibly"] = sum(bool(r.get("corrected")) for r in rows)
        summary["accuracy_when_grounded"] = _rate([r["correct"] for r in rows if r["grounding"] != "none"])
        summary["accuracy_when_not_grounded"] = _rate([r["correct"] for r in rows if r["grounding"] == "none"])
    votes = [r["programs"] for r in rows if "programs" in r]
    if votes:
        summary["programs"] = {
            "problems_with_programs": len(votes),
            "programs_seconds_per_problem": round(sum(r.get("programs_s", 0.0) for r in rows) / n, 1),
            "programs_cpu_seconds_per_problem": round(sum(r.get("programs_cpu_s", 0.0) for r in rows) / n, 1)
            if all("cpu_s" in r for r in rows) else None,
            "programs_written_per_problem": round(sum(v["written"] for v in votes) / len(votes), 2),
            "programs_ran_per_problem": round(sum(v["ran"] for v in votes) / len(votes), 2),
            "a_result_was_agreed": sum(v["chosen"] is not None for v in votes),
            "agreed_result_right": sum(v["chosen_right"] is True for v in votes),
            "agreed_result_wrong": sum(v["chosen_right"] is False for v in votes),
            "some_program_right": sum(v["any_right"] for v in votes),
        }
    return summary


def _rate(flags: list[bool]) -> str | None:
    return f"{sum(flags)}/{len(flags)}" if flags else None


def _paired(records: list[dict], a: str, b: str) -> dict:
    both = [(r[a]["correct"], r[b]["correct"]) for r in records if a in r and b in r]
    return {"both_right": sum(x and y for x, y in both), f"only_{a}": sum(x and not y for x, y in both),
            f"only_{b}": sum(y and not x for x, y in both), "neither": sum(not (x or y) for x, y in both)}


def _machine(settings=None) -> dict:
    import os

    model_name = next((line.split(":", 1)[1].strip() for line in
                       Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), None) \
        if Path("/proc/cpuinfo").is_file() else None
    info = {"cpu": model_name or platform.processor(), "cpu_count": os.cpu_count(), "nice": os.nice(0),
            "platform": platform.platform()}
    try:
        import torch
        import transformers

        info.update(torch=torch.__version__, transformers=transformers.__version__,
                    torch_threads=torch.get_num_threads())
    except ImportError:
        pass
    return info


def _load() -> list[float] | None:
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def explain_accuracy(data: Path = GSM8K, limit: int = 100, *, model: LoadedTutor | None = None, start: int = 0,
                     paths: tuple[str, ...] = ("base", "grounded", "grounded_no_programs"),
                     settings=None, grade: str = "", seed: int = 0, minutes: float | None = None,
                     records_out: Path | None = None) -> dict | None:
    """Final-answer accuracy of Explain replies on `limit` problems of `data` from index `start` (GSM8K
    `question`, `answer`; used only as test questions, never for training), each asked as the
    student's message in Explain mode, greedy, through:

    - base: `learner.guard.reply_with_guard` (no grounding: what the chat did before);
    - grounded: `learner.grounded.reply_grounded` with `settings.word_problem_programs` programs
      (3 today: one greedy, two sampled; a result is used when two agree);
    - grounded_no_programs: `reply_grounded` with `word_problem_programs=0` (the engine's own
      recognition and the reply checks only).

    Score, identical for every path: `final_answer(reply)` (the value of the last result the reply
    states, see its docstring) equals `answer` exactly. Also reported: the plain last-number rule,
    how often the reference value is stated anywhere, the seconds per problem (the programs' share
    apart; wall seconds depend on what else the CPU runs, so CPU seconds of this process are given
    too), the reply's tokens (a regenerated reply's included, the programs' not), where grounding
    came from (programs | engine | none) and whether the programs' agreed value was right. Needs a
    loaded `model`; None without one."""
    if model is None or limit <= 0:
        return None
    from learner.types import TutorRequest

    started, records, stopped_early = time.perf_counter(), [], False
    load_before = _load()
    for index, row in enumerate(_rows(data, start, limit), start=start):
        if minutes is not None and time.perf_counter() - started > minutes * 60:
            stopped_early = True
            break
        reference = Fraction(row["answer"].replace(",", ""))
        request = TutorRequest(user_text=row["question"], mode="explain", grade=grade)
        record: dict = {"index": index, "question": row["question"], "answer": row["answer"]}
        for path in paths:
            _seed(seed, index)
            reply, clock = _ask(path, model.tutor, request, settings)
            value, stated, rule = final_answer(reply.text)
            entry = {"correct": value == reference, "final": stated, "rule": rule,
                     "last_number_correct": last_number(reply.text) == reference,
                     "states_reference": states_value(reply.text, reference),
                     "seconds": round(clock["seconds"], 1), "cpu_s": round(clock["cpu_s"], 1), "n_tokens": reply.n_tokens,
                     **_maths_fields(reply), **_program_fields(row["question"], clock, reference),
                     "reply": reply.text}
            record[path] = entry
        records.append(record)
        log(f"explain {len(records)}/{limit} (#{index}): answer {row['answer']}; " + "; ".join(
            f"{p} {'RIGHT' if record[p]['correct'] else 'wrong'} ({record[p]['final']}, {record[p]['seconds']:.0f} s, "
            f"{record[p]['grounding']})" for p in paths))
        _append_record(records_out, "explain", record)
    result = {
        "data": _data_label(data),
        "problems": len(records), "asked_for": limit, "first_index": start, "stopped_by_time_limit": stopped_early,
        "mode": "explain", "grade": grade, "max_new_tokens": settings.max_new_tokens,
        "temperature": settings.temperature, "word_problem_programs": settings.word_problem_programs,
        "paths": {"base": BASE_PATH, "grounded": f"{GROUNDED_PATH}, word_problem_programs="
                                                 f"{settings.word_problem_programs}",
                  "grounded_no_programs": f"{GROUNDED_PATH}, word_problem_programs=0"},
        "final_answer_rule": " ".join(final_answer.__doc__.split("\n\n")[1].split()),
        "summary": {path: _per_path_summary(records, path) for path in paths},
        "paired": {f"base_vs_{p}": _paired(records, "base", p) for p in paths if p != "base"},
        "load_average_before_after": [load_before, _load()],
        "seconds": round(time.perf_counter() - started, 1),
        "per_problem": records,
    }
    return result


# -- hint mode on wrong attempts ------------------------------------------------------------------

def _pretty(expression: str, times: str) -> str:
    """A calculator annotation as a student writes it: "300*40*.01" → "300 x 40 x 0.01"."""
    expression = re.sub(r"(?<![\d.])\.(\d)", r"0.\1", expression.replace(" ", ""))
    return re.sub(r"(?<=[\d)%])([-+*/])", lambda m: f" {times if m.group(1) == '*' else m.group(1)} ", expression)


def _prose(lead: str, expression: str) -> str:
    """The words before a calculation: `lead` up to where it starts writing `expression` out
    ("Then add them: 15 fireworks + 120 fireworks = " → "Then add them: "), found as the last place
    where all the expression's numbers follow in order ("100+100+100+80=" is written out from its
    first 100); no such place: up to the first digit."""
    operands = re.findall(r"\d*\.?\d+", expression)
    starts = [m.start() for m in re.finditer(rf"(?<![\d.]){re.escape(operands[0])}(?![\d])", lead)] if operands else []
    for at in reversed(starts):
        if _in_order(lead[at:], operands):
            return re.sub(r"[$£€(\s]*$", "", lead[:at]).strip() + " " if lead[:at].strip() else ""
    prose = re.match(r"[^\d]*", lead).group(0)
    return re.sub(r"[$£€(=\s]*$", "", prose).strip() + " " if prose.strip() else ""


def _in_order(text: str, numbers: list[str]) -> bool:
    at = 0
    for number in numbers:
        m = re.compile(rf"(?<![\d.]){re.escape(number)}(?![\d])").search(text, at)
        if m is None:
            return False
        at = m.end()
    return True


def _show_number(value: Fraction) -> str:
    return show_decimal(value) if value.denominator != 1 and terminates(value) else str(value)


def wrong_value(right: Fraction, rng: random.Random) -> tuple[Fraction, str]:
    """A plausible slip: a carry/place-value slip (±10), a counting slip (±1, ±2) or ±10 %."""
    kinds = ["carry", "carry", "ten_percent", "one"] if abs(right) >= 20 else ["one", "two"]
    for _ in range(20):
        kind = rng.choice(kinds)
        sign = rng.choice((1, -1))
        if kind == "carry":
            wrong = right + 10 * sign
        elif kind == "ten_percent":
            wrong = Fraction(round(right * Fraction(10 + sign, 10)))
        elif kind == "one":
            wrong = right + sign
        else:
            wrong = right + 2 * sign
        if wrong != right and wrong > 0:
            return wrong, kind
    return right + 1, "one"


def wrong_attempt(row: dict, rng: random.Random, *, times: str = "*", with_slip: bool = True) -> dict | None:
    """The reference solution, written out as a student's working (each calculator step as a bare
    chain, "15 * 20 = 300", after the step's own words), with an arithmetic slip in the LAST
    calculation whose result is the final answer: that step's result becomes a plausible wrong
    value, and so does every later mention of the answer. None when the solution's last calculation
    is not the final answer (the slip would not reach it). `with_slip=False`: the same working, right."""
    answer = Fraction(row["answer"].replace(",", ""))
    lines = [line for line in row["solution"].split("\n") if line.strip()]
    steps = [(i, m) for i, line in enumerate(lines) for m in _CALC.finditer(line) if _OPERATOR.search(m.group(1))]
    if not steps:
        return None
    slip_line, slip = steps[-1]
    try:
        if Fraction(slip.group(2).strip()) != answer:
            return None
    except (ValueError, ZeroDivisionError):
        return None
    wrong, kind = wrong_value(answer, rng) if with_slip else (answer, "none")
    written, slipped, correct_step = [], None, None
    for i, line in enumerate(lines):
        out, cursor = "", 0
        for m in _CALC.finditer(line):
            lead = line[cursor:m.start()]
            after = line[m.end():]
            shown = re.match(r"\s*[$£€]?\s*([-−]?\d[\d,]*(?:\.\d+)?|\.\d+)", after)   # the result, repeated
            if shown and _value(shown.group(1).replace(",", "")) != _value(m.group(2).strip()):
                shown = None
            if not _OPERATOR.search(m.group(1)):      # "<<36=36>>36": just the number
                out += lead
                cursor = m.end()
                continue
            prose = _prose(lead, m.group(1))
            result = Fraction(m.group(2).strip())
            is_slip = i == slip_line and m.start() == slip.start()
            chain = f"{_pretty(m.group(1), times)} = {_show_number(wrong if is_slip else result)}"
            if is_slip:
                slipped, correct_step = chain, f"{_pretty(m.group(1), times)} = {_show_number(result)}"
            out += prose + chain
            cursor = m.end() + (shown.end() if shown else 0)
        out += line[cursor:]
        if i > slip_line or (i == slip_line and slipped):
            # later mentions of the (now wrong) answer, after the slipped step
            # every other mention of the answer, from the slipped step's line on, is the wrong value too
            parts = out.partition(slipped) if i == slip_line else ("", "", out)
            out = "".join(part if part == slipped else re.sub(
                rf"(?<![\d.,]){re.escape(_show_number(answer))}(?:\.0+)?(?![\d]|\.\d)", _show_number(wrong), part)
                for part in parts)
        out = out.strip()
        written.append(out if out.endswith((".", "!", "?")) else out + ".")
    working = "\n".join(written)
    message = f"{row['question']}\n\nMy solution: {working} So the answer is {_show_number(wrong)}. Is it right?"
    return {"message": message, "wrong": _show_number(wrong), "slip": slipped, "correct_step": correct_step,
            "slip_kind": kind}


def agrees_with_attempt(reply: str, wrong: Fraction) -> dict:
    """How the reply treats the student's wrong attempt. `false_confirmation`: the reply raises no
    doubt anywhere ("not correct", "incorrect", "mistake", "error", "wrong", "slip", "check your…",
    "look again", "should be", "recheck", …) and any of:
    - `learner.grounded.agrees_with_student` (the product's own rule: an agreeing opening such as
      "Yes", "Correct", "Well done", or "your solution is correct" anywhere);
    - an affirmation anywhere ("your answer is correct", "you got it right", "great job");
    - the reply's own final answer (`final_answer`) is the student's wrong value.
    `agrees_with_student` is also reported alone (it counts "Great job! Now check step 4" too)."""
    from learner.grounded import agrees_with_student

    opening = agrees_with_student(reply)
    doubt = _DOUBTS.search(reply or "") is not None
    affirms = _AFFIRMS.search(reply or "") is not None
    restates = final_answer(reply)[0] == wrong
    return {"false_confirmation": not doubt and (opening or affirms or restates), "agrees_with_student": opening,
            "affirms": affirms, "restates_wrong_answer": restates, "raises_doubt": doubt}


def hint_mode(data: Path = GSM8K, limit: int = 50, *, model: LoadedTutor | None = None,
              paths: tuple[str, ...] = ("base", "grounded"), settings=None, grade: str = "", seed: int = 0,
              start: int = 100, times: str = "*", minutes: float | None = None,
              records_out: Path | None = None) -> dict | None:
    """Hint mode on wrong attempts: problems of `data` from index `start` on, each with a student's
    WRONG worked solution (`wrong_attempt`: the reference working with an arithmetic slip in the
    step that gives the final answer, "60 + 20 = 70"), sent in Hint mode as
    "<problem>\\n\\nMy solution: <working> So the answer is <wrong>. Is it right?", greedy, through
    the base path and `reply_grounded` (settings as given: programs too, when the engine reads
    nothing in the message).

    - telling rate: the reply states the correct final answer, by the app's own check
      (`learner.guard.check_reply(reply, answer, context=message)`: numbers the message already
      shows never count); `telling_stated` also reports replies whose `stated_results` include it.
    - false-confirmation rate: the reply calls the wrong attempt right (`agrees_with_attempt`).
    Also: whether the engine saw the slip (`learner.maths.recognise` on the message found the
    slipped chain as a wrong student result), the answer-key guard's key and outcome. Needs a
    loaded `model`; None without one."""
    if model is None or limit <= 0:
        return None
    from learner.grounded import ground
    from learner.guard import check_reply, numbers_in
    from learner.maths import recognise
    from learner.maths.check import student_claim_verdict
    from learner.types import TutorRequest

    rng = random.Random(seed + 11)
    started, records, skipped, stopped_early = time.perf_counter(), [], [], False
    load_before = _load()
    for offset, row in enumerate(_rows(data, start, None)):
        if len(records) >= limit:
            break
        if minutes is not None and time.perf_counter() - started > minutes * 60:
            stopped_early = True
            break
        index = start + offset
        attempt = wrong_attempt(row, rng, times=times)
        if attempt is None:
            skipped.append(index)
            continue
        message, wrong = attempt["message"], Fraction(attempt["wrong"])
        reference = Fraction(row["answer"].replace(",", ""))
        request = TutorRequest(user_text=message, mode="hint", grade=grade)
        seen = [c for c in recognise(message)
                if (v := student_claim_verdict(c)) is not None and v.outcome != "correct"]
        engine_only = ground(request).request.guard
        record: dict = {"index": index, "answer": row["answer"], **attempt,
                        "engine_saw_slip": any(c.value is not None and c.value != wrong and
                                               _value(c.claimed) == wrong for c in seen),
                        "engine_wrong_claims": [f"{c.expression} = {c.claimed}" for c in seen],
                        "answer_already_in_message": reference in numbers_in(message),
                        "guard_key": engine_only.answer_key if engine_only is not None else None}
        for path in paths:
            _seed(seed, index)
            reply, clock = _ask(path, model.tutor, request, settings)
            check = check_reply(reply.text, row["answer"], context=message)
            entry = {"tells": check.gives_away, "telling_stated": states_value(reply.text, reference),
                     **agrees_with_attempt(reply.text, wrong), "seconds": round(clock["seconds"], 1),
                     "cpu_s": round(clock["cpu_s"], 1), "n_tokens": reply.n_tokens, **_maths_fields(reply),
                     **_program_fields(row["question"], clock, reference), "reply": reply.text}
            record[path] = entry
        records.append(record)
        log(f"hint {len(records)}/{limit} (#{index}, slip {attempt['slip']}): " + "; ".join(
            f"{p} {'TELLS' if record[p]['tells'] else 'no-tell'} "
            f"{'CONFIRMS' if record[p]['false_confirmation'] else 'no-confirm'} ({record[p]['seconds']:.0f} s)"
            for p in paths))
        _append_record(records_out, "hint", record)
    n, summary = len(records), _hint_summary(records, paths)
    return {
        "data": _data_label(data),
        "problems": n, "asked_for": limit, "first_index": start, "skipped_indices": skipped,
        "stopped_by_time_limit": stopped_early, "mode": "hint", "grade": grade, "times_sign": times,
        "max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
        "word_problem_programs": settings.word_problem_programs,
        "message_form": "<problem>\n\nMy solution: <working with the slip> So the answer is <wrong>. Is it right?",
        "false_confirmation_rule": " ".join(agrees_with_attempt.__doc__.split()),
        "engine_saw_slip": sum(r["engine_saw_slip"] for r in records),
        "answer_already_in_message": sum(r["answer_already_in_message"] for r in records),
        "guard_key_is_the_answer": sum(r["guard_key"] is not None and _value(r["guard_key"]) == Fraction(
            r["answer"].replace(",", "")) for r in records),
        "slip_kinds": dict(Counter(r["slip_kind"] for r in records)),
        "summary": summary,
        "load_average_before_after": [load_before, _load()],
        "seconds": round(time.perf_counter() - started, 1),
        "per_problem": records,
    }


def _hint_summary(records: list[dict], paths: tuple[str, ...]) -> dict:
    n = len(records)
    summary = {}
    for path in paths:
        rows = [r[path] for r in records]
        summary[path] = {
            "problems": n,
            "telling": sum(r["tells"] for r in rows), "telling_rate": round(sum(r["tells"] for r in rows) / n, 4) if n else None,
            "telling_stated": sum(r["telling_stated"] for r in rows),
            "false_confirmation": sum(r["false_confirmation"] for r in rows),
            "false_confirmation_rate": round(sum(r["false_confirmation"] for r in rows) / n, 4) if n else None,
            "by_rule": {k: sum(r[k] for r in rows) for k in ("agrees_with_student", "affirms",
                                                             "restates_wrong_answer")},
            "raises_doubt": sum(r["raises_doubt"] for r in rows),
            "seconds_per_problem": round(sum(r["seconds"] for r in rows) / n, 1) if n else None,
            "cpu_seconds_per_problem": round(sum(r.get("cpu_s", 0.0) for r in rows) / n, 1)
            if n and all("cpu_s" in r for r in rows) else None,
            "tokens_per_problem": round(sum(r["n_tokens"] for r in rows) / n, 1) if n else None,
            "grounding": dict(Counter(r["grounding"] for r in rows)),
        }
        if path != "base":
            summary[path].update(
                regenerated=sum(bool(r.get("regenerated")) for r in rows),
                corrected_visibly=sum(bool(r.get("corrected")) for r in rows),
                confirmation_blocked=sum(bool(r.get("confirmation_blocked")) for r in rows),
                guard=dict(Counter(r.get("guard", "none") for r in rows)))
        if path.endswith(RECHECKED):
            summary[path].update(
                attempt=dict(Counter(r["attempt"] for r in rows)), rewrite=dict(Counter(r["rewrite"] for r in rows)),
                withheld_by_guard=sum(r["withheld_by_guard"] for r in rows),
                guard_key_is_the_answer=sum(r["guard_key"] is not None and _value(r["guard_key"]) == Fraction(
                    rec["answer"].replace(",", "")) for r, rec in zip(rows, records)))
    return summary


def _rescore_hint_entry(record: dict, entry: dict) -> None:
    from learner.guard import check_reply

    reply, reference = entry["reply"], Fraction(record["answer"].replace(",", ""))
    entry["tells"] = check_reply(reply, record["answer"], context=record["message"]).gives_away
    entry["telling_stated"] = states_value(reply, reference)
    entry.update(agrees_with_attempt(reply, Fraction(record["wrong"])))


def _rescore_explain_entry(record: dict, entry: dict) -> None:
    reference = Fraction(record["answer"].replace(",", ""))
    value, stated, rule = final_answer(entry["reply"])
    entry.update(correct=value == reference, final=stated, rule=rule,
                 last_number_correct=last_number(entry["reply"]) == reference,
                 states_reference=states_value(entry["reply"], reference))


RECHECKED = "_rechecked"


def recheck(message: str, mode: str, reply: str) -> tuple[str, dict]:
    """A stored reply put through today's post-generation checks, with no model: the engine reads
    `message` again (`learner.grounded.ground`, engine only: no programs), in Hint mode the
    answer-key guard checks the reply against today's key (the true final answer) and a reply that
    gives it away counts as withheld (the live path would first write it again once, which a
    stored reply cannot replay), then `learner.grounded.review_reply` applies the checks and
    rewrites (a confirmation of a wrong step replaced by the step named, one the engine cannot back
    hedged, wrong results corrected visibly, LaTeX made plain)."""
    from learner.grounded import ground, review_reply
    from learner.guard import WITHHELD_MESSAGE, check_reply
    from learner.maths import plain_maths
    from learner.types import TutorRequest

    grounding = ground(TutorRequest(user_text=message, mode=mode))
    guard, withheld = grounding.request.guard, False
    if guard is not None and check_reply(reply, guard.answer_key, context=f"{guard.context}\n{message}").gives_away:
        reply, withheld = WITHHELD_MESSAGE, True
    review = review_reply(reply, grounding, reveal=mode == "explain")
    return plain_maths(review.text), {"attempt": grounding.attempt.status, "rewrite": review.rewrite,
                                      "guard_key": guard.answer_key if guard is not None else None,
                                      "withheld_by_guard": withheld, "corrected": review.corrected}


def _rechecked_entry(entry: dict, message: str, mode: str) -> dict:
    text, what = recheck(message, mode, entry["reply"])
    return {**{k: entry[k] for k in ("seconds", "cpu_s", "n_tokens", "grounding") if k in entry},
            "regenerated": entry.get("regenerated", False), **what,
            "confirmation_blocked": what["rewrite"] == "replaced", "reply_as_run": entry["reply"], "reply": text}


def _rescore_records(section: dict, message_field: str, mode: str,
                     rescore_entry: Callable[[dict, dict], None]) -> tuple[str, ...]:
    """Every stored reply of one section scored again, each path with its `<path>_rechecked` twin
    added and scored the same way; returns the paths, twins included."""
    paths = tuple(p for p in section["summary"] if not p.endswith(RECHECKED))
    for record in section["per_problem"]:
        for path in paths:
            rescore_entry(record, record[path])
            record[path + RECHECKED] = _rechecked_entry(record[path], record[message_field], mode)
            rescore_entry(record, record[path + RECHECKED])
    return paths + tuple(p + RECHECKED for p in paths)


def rescore(saved: dict, source: str) -> dict:
    """A saved run's stored replies scored again by today's rules (`final_answer`,
    `agrees_with_attempt`, `check_reply`); nothing is generated. Timings, grounding and replies are
    the run's own. Each path also gets a `<path>_rechecked` twin: the same stored replies put
    through today's post-generation checks and rewrites (`recheck`), scored by the same rules, so
    before and after compare the very same model text."""
    explain, hint = saved.get("explain_accuracy"), saved.get("hint_mode")
    if explain:
        paths = _rescore_records(explain, "question", "explain", _rescore_explain_entry)
        explain["final_answer_rule"] = " ".join(final_answer.__doc__.split("\n\n")[1].split())
        explain["summary"] = {path: _per_path_summary(explain["per_problem"], path) for path in paths}
        explain["paired"] = {f"base_vs_{p}": _paired(explain["per_problem"], "base", p) for p in paths if p != "base"}
    if hint:
        paths = _rescore_records(hint, "message", "hint", _rescore_hint_entry)
        hint["false_confirmation_rule"] = " ".join(agrees_with_attempt.__doc__.split())
        hint["summary"] = _hint_summary(hint["per_problem"], paths)
    saved["rescored"] = {"from": source, "note": " ".join(rescore.__doc__.split()),
                         "recheck": " ".join(recheck.__doc__.split())}
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explain", type=int, default=100, help="GSM8K problems for Explain accuracy (0: skip)")
    parser.add_argument("--explain-start", type=int, default=0, help="first GSM8K index for Explain")
    parser.add_argument("--hint", type=int, default=50, help="wrong attempts for Hint mode (0: skip)")
    parser.add_argument("--hint-start", type=int, default=100,
                        help="first GSM8K index for the wrong attempts (default after the Explain ones)")
    parser.add_argument("--explain-minutes", type=float, help="start no new Explain problem after this long")
    parser.add_argument("--explain-paths", default="base,grounded,grounded_no_programs",
                        help="comma-separated reply paths for Explain (base, grounded, grounded_no_programs)")
    parser.add_argument("--hint-minutes", type=float, help="start no new Hint problem after this long")
    parser.add_argument("--times-sign", default="*", help="how the student's working writes multiplication")
    parser.add_argument("--data", type=Path, default=GSM8K)
    parser.add_argument("--model", default="default", help="model spec (default: the embedded model)")
    parser.add_argument("--data-dir", help="data folder whose model cache to reuse (default: a new temporary one)")
    parser.add_argument("--engine", default="auto", choices=("transformers", "llama.cpp", "auto"),
                        help="what serves the replies (default: auto, as the app: llama.cpp on the GGUF where it is "
                             "installed; transformers: the path the runs stored before 2026-12-01 23:00 used)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--programs", type=int, default=None,
                        help="word_problem_programs for the grounded path (default: GenerationSettings' default)")
    parser.add_argument("--grade", default="", help="the student's grade level in the prompt (as `tutorloop ask`)")
    parser.add_argument("--records", type=Path, help="also append each problem's record here as it finishes (JSONL)")
    parser.add_argument("--rescore", type=Path, metavar="RESULT.json",
                        help="score a saved run's replies again with today's rules (no model) and print it")
    args = parser.parse_args(argv)
    if args.rescore is not None:
        print(json.dumps(rescore(json.loads(args.rescore.read_text(encoding="utf-8")), str(args.rescore)), indent=2))
        return 0
    started = time.perf_counter()
    log(f"practice keys: {args.items} items")
    keys = practice_keys(args.items, args.seed)
    log(f"answer checking: {args.attempts} attempts")
    checking = answer_checking(args.attempts, args.seed)
    log("attempt checking: worked solutions to every problem, wrong and right")
    attempts = attempt_checking(args.data, seed=args.seed) if args.data.exists() else None
    model, settings, explain, hint = None, None, None, None
    if args.explain > 0 or args.hint > 0:
        from transformers.utils import logging as hf_logging

        from learner.settings import GenerationSettings

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        defaults = GenerationSettings()
        settings = GenerationSettings(model_spec=args.model, device=args.device, dtype=args.dtype,
                                      max_new_tokens=args.max_new_tokens, temperature=0.0,
                                      word_problem_programs=defaults.word_problem_programs if args.programs is None
                                      else args.programs)
        log(f"loading {args.model}")
        model = load_tutor(args.model, args.data_dir, args.device, args.dtype, args.engine)
        log(f"loaded {model.info}")
        explain = explain_accuracy(args.data, args.explain, model=model, start=args.explain_start,
                                   paths=tuple(p.strip() for p in args.explain_paths.split(",") if p.strip()),
                                   settings=settings, grade=args.grade,
                                   seed=args.seed, minutes=args.explain_minutes, records_out=args.records)
        hint = hint_mode(args.data, args.hint, model=model, settings=settings, grade=args.grade, seed=args.seed,
                         start=args.hint_start, times=args.times_sign, minutes=args.hint_minutes,
                         records_out=args.records)
    print(json.dumps({
        "bench": "correctness", "python": platform.python_version(), "machine": platform.machine(),
        "host": _machine(), "model": model.info if model is not None else None,
        "seed": args.seed, "practice_keys": keys, "answer_checking": checking,
        "attempt_checking": attempts, "explain_accuracy": explain, "hint_mode": hint,
        "seconds": round(time.perf_counter() - started, 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
