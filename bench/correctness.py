"""Correctness bench: prints ONE JSON object on stdout (progress goes to stderr).

    python bench/correctness.py [--items 200] [--attempts 200] [--seed 0]

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
- explain_accuracy, hint_mode: model-dependent; null here until they are filled in
  (`explain_accuracy()` and `hint_mode()` below say what each measures and on which data).
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections import Counter
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


# -- model-dependent parts (to be filled in with the reply path) ----------------------------------

def explain_accuracy(data: Path = GSM8K, limit: int = 100) -> dict | None:
    """Final-answer accuracy of Explain replies on `data` (question, answer) through the app's own
    reply path, base model vs grounded replies (program-aided solving with self-consistency,
    `learner.maths.computation_from_programs`, and the checked result in the prompt). Compare the
    reply's final number with `answer` using `learner.maths.check.stated_results` and
    `learner.maths.equivalent`. Needs a loaded model: not measured here yet."""
    return None


def hint_mode(data: Path = GSM8K, limit: int = 50) -> dict | None:
    """On problems with a wrong student attempt (a `learner.maths` wrong answer or a corrupted step
    of the reference solution), the telling rate (the reply states the true final answer) and the
    false-confirmation rate (the reply calls the wrong attempt right). Needs a loaded model: not
    measured here yet."""
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    log(f"practice keys: {args.items} items")
    keys = practice_keys(args.items, args.seed)
    log(f"answer checking: {args.attempts} attempts")
    checking = answer_checking(args.attempts, args.seed)
    print(json.dumps({
        "bench": "correctness", "python": platform.python_version(), "machine": platform.machine(),
        "seed": args.seed, "practice_keys": keys, "answer_checking": checking,
        "explain_accuracy": explain_accuracy(), "hint_mode": hint_mode(),
        "seconds": round(time.perf_counter() - started, 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
