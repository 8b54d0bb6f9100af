"""Program-aided solving bench: prints ONE JSON object on stdout (progress goes to stderr).

For GSM8K word problems (../shared/data/gsm8k-300.jsonl: measure on it, never train on it), the
model writes `def solution()` the way the chat does (`learner.prompts.program_messages`, the worked
examples in assets/prompts/solve_program.md), `--samples` times (the first greedy, the rest sampled
at `learner.grounded.PROGRAM_TEMPERATURE`); the engine's restricted interpreter runs each. Then every
voting rule is scored on the same programs: how often it gives the right answer, a wrong one, or
none (the reply is then left to the model), and how many programs it needs when writing stops as
soon as more cannot change the vote (`learner.maths.recognise.votes_settled`). This is how
`PROGRAMS_AGREEING` and `GenerationSettings.word_problem_programs` were chosen.

    .venv/bin/python bench/programs.py [--model SPEC] [--data-dir DIR] [--start 20] [--problems 40]
                                       [--samples 5]

Measured 2026-12-02 (0.5B, llama.cpp, 2 cores; bench/results/programs-2026-12-02-*): GSM8K 20-59,
greedy program right 13/40; three of five agreeing: 11 right, 4 wrong, 25 none, 4.4 programs each;
two of three: 11 right, 7 wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from correctness import (  # bench/ is on the path first, as for the other benches
    GSM8K,
    log,
)

RULES = ((1, 1), (3, 2), (5, 2), (5, 3), (4, 3), (5, 4))   # (programs at most, agreeing needed)


def reference(answer: object) -> Fraction:
    return Fraction(str(answer).replace(",", ""))


def settled_vote(values: list[Fraction | None], *, samples: int, agreeing: int) -> tuple[Fraction | None, int]:
    """The value the chat would use and the programs it would write, writing them in order and
    stopping as `learner.grounded.program_writer` does."""
    from learner.maths.recognise import chosen_value, votes_settled

    written = values[:samples]
    for i in range(len(written)):
        if votes_settled(written[:i + 1], remaining=samples - i - 1, min_agreeing=agreeing):
            written = written[:i + 1]
            break
    return chosen_value(written, min_agreeing=agreeing)[0], len(written)


def score_rules(rows: list[dict]) -> dict[str, dict]:
    scores = {}
    for samples, agreeing in RULES:
        right = wrong = none = written = 0
        for row in rows:
            values = [None if v is None else Fraction(v) for v in row["values"]]
            if len(values) < samples:
                continue
            value, n = settled_vote(values, samples=samples, agreeing=agreeing)
            written += n
            if value is None:
                none += 1
            elif value == reference(row["answer"]):
                right += 1
            else:
                wrong += 1
        counted = right + wrong + none
        if counted:
            scores[f"{agreeing}_of_{samples}"] = {
                "right": right, "wrong": wrong, "none": none, "problems": counted,
                "right_when_used": round(right / (right + wrong), 3) if right + wrong else None,
                "programs_per_problem": round(written / counted, 2)}
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model spec (default: the embedded model)")
    parser.add_argument("--data-dir", help="data folder whose model cache to reuse (default: a new temporary one)")
    parser.add_argument("--engine", default="llama.cpp", choices=("llama.cpp", "transformers", "auto"))
    parser.add_argument("--data", type=Path, default=GSM8K)
    parser.add_argument("--start", type=int, default=20, help="first GSM8K index")
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--samples", type=int, default=5, help="programs per problem (the first greedy)")
    args = parser.parse_args(argv)

    from correctness import _rows, load_tutor

    from learner.grounded import PROGRAM_MAX_NEW_TOKENS, PROGRAM_TEMPERATURE
    from learner.maths import program_from_reply
    from learner.maths.recognise import program_value
    from learner.practice import ModelTextGenerator
    from learner.prompts import program_messages
    from learner.settings import GenerationSettings

    loaded = load_tutor(args.model, args.data_dir, "cpu", "bfloat16", engine=args.engine)
    generate = ModelTextGenerator.from_tutor(loaded.tutor)
    settings = GenerationSettings(model_spec=args.model, max_new_tokens=PROGRAM_MAX_NEW_TOKENS)
    problems = _rows(args.data, args.start, args.problems)
    rows, started = [], time.perf_counter()
    for n, problem in enumerate(problems, start=args.start):
        values: list[Fraction | None] = []
        for i in range(args.samples):
            sample = replace(settings, temperature=0.0 if i == 0 else PROGRAM_TEMPERATURE)
            program = program_from_reply(generate(program_messages(problem["question"]), sample))
            values.append(program_value(program, problem["question"]) if program else None)
        rows.append({"index": n, "answer": str(problem["answer"]),
                     "values": [None if v is None else str(v) for v in values]})
        log(f"#{n}: answer {problem['answer']}; programs {[None if v is None else str(v) for v in values]}")
    print(json.dumps({
        "bench": "programs", "model": loaded.info, "data": str(args.data.name), "start": args.start,
        "problems": len(rows), "samples": args.samples, "temperature_after_the_first": PROGRAM_TEMPERATURE,
        "prompt": "learner.prompts.program_messages (assets/prompts/solve_program.md)",
        "rules": score_rules(rows), "seconds": round(time.perf_counter() - started, 1), "rows": rows,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
