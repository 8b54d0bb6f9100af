"""Safeguarding screen benchmark: prints ONE JSON object on stdout (progress goes to stderr).

    python bench/safeguarding.py [--set assets/safeguarding/labelled.jsonl] [--judge [--model SPEC]]

The labelled set holds student-like messages marked `risk` true (self-harm, abuse, bullying,
danger, in English, Spanish, French and German) or false (benign look-alikes: "this homework is
killing me"), and a `split`: "tuning" messages were read while the lexicon was corrected, so their
figures flatter it; "heldout" messages were written after the last correction and never used to
change it. Stage 1 (the lexicon, no model) is always measured: precision, recall, F1, the confusion
counts, by split, language and category, and every miss and false alarm by text.

With --judge, the whole screen as the chat runs it (learner.safeguarding.check_message: stage 1, then
the local model as a yes/no judge on ambiguous hits) is measured too, with the judge's verdicts and
seconds per judged message. The model is `--model` (default: the embedded one, prepared into
--data-dir or $TUTORLOOP_HOME).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from learner.safeguarding import check_message, default_lexicon, screen

DEFAULT_SET = ROOT / "assets" / "safeguarding" / "labelled.jsonl"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scores(rows: list[dict], predicted: list[bool]) -> dict:
    tp = sum(p and r["risk"] for r, p in zip(rows, predicted))
    fp = sum(p and not r["risk"] for r, p in zip(rows, predicted))
    fn = sum(not p and r["risk"] for r, p in zip(rows, predicted))
    tn = len(rows) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 3) if precision is not None else None,
            "recall": round(recall, 3) if recall is not None else None,
            "f1": round(f1, 3) if f1 is not None else None}


def breakdown(rows: list[dict], predicted: list[bool], key: str) -> dict:
    groups = sorted({r[key] or "-" for r in rows})
    return {g: scores([r for r in rows if (r[key] or "-") == g],
                      [p for r, p in zip(rows, predicted) if (r[key] or "-") == g]) for g in groups}


def report(rows: list[dict], predicted: list[bool]) -> dict:
    return {**scores(rows, predicted), "by_split": breakdown(rows, predicted, "split"),
            "by_language": breakdown(rows, predicted, "language"),
            "by_category": breakdown([r for r in rows if r["risk"]], [p for r, p in zip(rows, predicted) if r["risk"]],
                                     "category"),
            "missed": [r["text"] for r, p in zip(rows, predicted) if r["risk"] and not p],
            "false_alarms": [r["text"] for r, p in zip(rows, predicted) if p and not r["risk"]]}


def load_tutor(spec: str, data_dir_arg: str | None):
    """The tutor as the window loads it (learner.engine.select: llama.cpp where installed)."""
    from learner.engine.select import load_engine
    from learner.settings import GenerationSettings
    from learner.tutor import Tutor
    from storage import resolve_data_dir

    data_dir = resolve_data_dir(data_dir_arg).ensure()
    loaded = load_engine(GenerationSettings(model_spec=spec, temperature=0.0), data_dir,
                         on_progress=lambda p: log(f"  {p.fraction:4.0%} {p.step}"))
    if loaded.notice:
        log(loaded.notice)
    return Tutor(loaded.engine, notice=loaded.notice)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default=str(DEFAULT_SET), help="the labelled JSONL file")
    parser.add_argument("--judge", action="store_true", help="also run stage 2 with the local model")
    parser.add_argument("--judge-all", action="store_true",
                        help="also ask the judge about every message, hit or not: how good a judge it is alone")
    parser.add_argument("--model", default="default", help="model spec for --judge (default: the embedded model)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    rows = [json.loads(line) for line in Path(args.set).read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    screenings = [screen(r["text"]) for r in rows]
    stage1_s = time.perf_counter() - started
    stage1 = [s.flagged for s in screenings]
    lexicon = default_lexicon()
    result: dict = {
        "set": str(Path(args.set).resolve().relative_to(ROOT)) if Path(args.set).resolve().is_relative_to(ROOT)
        else args.set,
        "messages": len(rows), "risk": sum(r["risk"] for r in rows),
        "lookalikes": sum(not r["risk"] for r in rows),
        "lexicon": {"patterns": len(lexicon.patterns), "exclusions": len(lexicon.exclusions),
                    "languages": sorted({p.language for p in lexicon.patterns})},
        "stage1": {**report(rows, stage1), "ms_per_message": round(1000 * stage1_s / len(rows), 3),
                   "ambiguous_only_hits": sum(s.flagged and not s.explicit for s in screenings)},
    }
    if args.judge:
        from learner.settings import GenerationSettings

        tutor = load_tutor(args.model, args.data_dir)
        settings = GenerationSettings(temperature=0.0)
        verdicts: Counter[str] = Counter()
        predicted: list[bool] = []
        judged_s: list[float] = []
        for row, found in zip(rows, screenings):
            began = time.perf_counter()
            flag = check_message(tutor, row["text"], settings)
            if found.flagged and not found.explicit:
                judged_s.append(time.perf_counter() - began)
                verdicts[flag.judge if flag else "no"] += 1
                log(f"  judged {len(judged_s)}: {flag.judge if flag else 'no'} ({judged_s[-1]:.1f} s) {row['text'][:60]}")
            predicted.append(flag is not None)
        result["stage1_and_judge"] = {**report(rows, predicted), "model": tutor.model_id,
                                      "engine": tutor.engine_name,
                                      "judged": len(judged_s), "verdicts": dict(verdicts),
                                      "s_per_judged_message": round(sum(judged_s) / len(judged_s), 2)
                                      if judged_s else None}
    if args.judge_all:
        from learner.safeguarding import judge
        from learner.settings import GenerationSettings

        tutor = tutor if args.judge else load_tutor(args.model, args.data_dir)
        began = time.perf_counter()
        answers = []
        for i, row in enumerate(rows):
            answers.append(judge(tutor, row["text"], GenerationSettings(temperature=0.0)))
            log(f"  judge {i + 1}/{len(rows)}: {answers[-1]}")
        result["judge_alone"] = {"says_yes": report(rows, [a == "yes" for a in answers]),
                                 "not_no": report(rows, [a != "no" for a in answers]),
                                 "verdicts": dict(Counter(answers)), "model": tutor.model_id,
                                 "s_per_message": round((time.perf_counter() - began) / len(rows), 2)}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
