"""`tutorloop explain MESSAGE_ID [--influence] [--json]`: where a tutor reply came from.

Anyone sees the model and adapter version that wrote it, that version's gate verdict, and when and by
whom it was promoted. A teacher (`--teacher NAME`, password from $TUTORLOOP_PASSWORD or a prompt)
also sees the adapter's closest approved training examples, labelled as similar, not as the cause;
`--influence` measures instead (TracIn-style gradient similarity over the adapter's weights, on the
top 20 retrieved examples), with a progress bar; Ctrl+C stops it with the examples scored so far.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import replace
from typing import Any

from app.cli.common import (
    EXIT_ERROR,
    UsageError,
    ctrl_c_sets,
    run_command,
    say,
    sign_in_teacher,
)
from storage import Database, example_search, resolve_data_dir
from storage.example_search import Explanation


def register(subparsers: argparse._SubParsersAction) -> None:
    ex = subparsers.add_parser(
        "explain", help="why this answer? the model, adapter, gate and (teachers) similar approved examples",
        description="Where a tutor reply came from: the model and adapter version that wrote it, the adapter's "
                    "gate figures and promotion. With --teacher: the adapter's approved training examples most "
                    "similar to the exchange (similar, not proven causes). With --influence: their measured "
                    "influence on the reply instead.")
    ex.add_argument("message_id", type=int, metavar="MESSAGE_ID", help="the tutor reply's message id")
    ex.add_argument("--teacher", metavar="NAME",
                    help="sign in as this teacher to see similar approved examples (optional when there is "
                         "only one teacher and --influence is given)")
    ex.add_argument("--influence", action="store_true",
                    help="measure each retrieved example's influence on the reply (loads the model; teachers)")
    ex.add_argument("--top", type=int, default=None, metavar="N",
                    help="examples to show (default 3), or to score with --influence (default 20)")
    ex.add_argument("--model", metavar="SPEC", help="with --influence: the base model (default: Settings')")
    ex.add_argument("--device", default="auto", help="with --influence: auto, cpu, cuda or mps")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(func=run_command(_explain))


class _Failed(Exception):
    """The influence could not be measured (the model or the adapter would not load): one line, exit 1."""


def _explain(db: Database, args: argparse.Namespace) -> int:
    try:
        return _explain_reply(db, args)
    except _Failed as exc:
        say(f"tutorloop: {exc}")
        return EXIT_ERROR


def _explain_reply(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args) if args.teacher or args.influence else None
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1.")
    found = example_search.explain(db, args.message_id, actor=teacher, limit=args.top or example_search.SHOWN)
    influence = _influence(db, args, teacher) if args.influence else None
    if args.json:
        data = found.to_dict()
        if influence is not None:
            data["influence"] = influence
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(_text(found, influence))
    return 0


def _influence(db: Database, args: argparse.Namespace, teacher: Any) -> dict[str, Any]:
    from tqdm import tqdm

    from learner.adapt.influence import TOP, InfluenceJob, influence_inputs
    from learner.adapt.registry import AdapterRegistry
    from learner.errors import LearnerError
    from learner.settings import load_generation_settings
    from storage import adapters

    data_dir = resolve_data_dir(args.data_dir).ensure()
    try:
        reply, examples = influence_inputs(db, teacher, args.message_id, top=args.top or TOP)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    version = example_search.explain(db, args.message_id).adapter_version
    assert version is not None   # influence_inputs refused a base-model reply
    adapter_path = AdapterRegistry(data_dir, db).path_of(version)
    settings = load_generation_settings(db)[0]
    if args.model:
        settings = replace(settings, model_spec=args.model)
    if mismatch := adapters.get_adapter(db, version).mismatch(_model_id(settings.model_spec, data_dir)):
        raise UsageError(f"{mismatch} Give --model with that model.")
    job = InfluenceJob(model_spec=settings.model_spec, data_dir=data_dir, adapter_path=adapter_path, reply=reply,
                       examples=tuple(examples), device=args.device)
    say(f"Measuring the influence of {len(examples)} approved examples of v{version} on reply {args.message_id}…")
    stop = threading.Event()
    with tqdm(total=len(examples) + 1, unit="gradient", file=sys.stderr, leave=False) as bar, ctrl_c_sets(stop):
        def progress(done: int, total: int, detail: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_description(detail[:40])
            bar.refresh()

        try:
            result = job.run(stop, on_progress=progress)
        except (LearnerError, FileNotFoundError, ValueError) as exc:
            raise _Failed(str(exc)) from None
    if result.stopped:
        say(f"Stopped after {len(result.scores)} of {len(examples)} examples.")
    return {"version": version, "stopped": result.stopped, "seconds": round(result.seconds, 1),
            "lora_parameters": result.n_parameters, "ranked_by": "cosine",
            "scores": [s.to_dict() for s in result.scores]}


def _model_id(spec: str, data_dir: Any) -> str:
    """The model id a spec resolves to, without loading it (prepare_model is quick once cached)."""
    from learner.errors import LearnerError
    from learner.sources import prepare_model

    try:
        return prepare_model(spec, data_dir).model_id
    except LearnerError as exc:
        raise _Failed(str(exc)) from None


def _text(found: Explanation, influence: dict[str, Any] | None) -> str:
    lines = [f"Reply {found.message_id} ({found.mode or 'no mode'}, {found.created_at[:16].replace('T', ' ')} UTC)",
             f"  Written by: {found.written_by}", f"  {found.promotion}"]
    if found.adapter is not None:
        verdict = "passed" if found.adapter.gate_passed else f"FAILED: {found.adapter.gate_reason}"
        lines.append(f"  Gate: {verdict}")
        lines += [f"    {line}" for line in found.gate_lines()]
    if found.adapter_version is None:
        return "\n".join(lines)
    if not found.examples_shown:
        lines.append("  Similar approved examples are shown to teachers: add --teacher NAME.")
    elif influence is None:
        lines.append(f"  {example_search.LABEL.capitalize()} (BM25; {example_search.CAVEAT})")
        if not found.similar:
            lines.append("    none share words with this exchange.")
        for s in found.similar:
            lines.append(f"    example {s.example_id}, approved by {s.approved_by_name} on {s.approved_at[:10]}"
                         f"{f' (review {s.review_key})' if s.review_key else ''}")
            lines.append(f"      Q: {_short(s.question)}")
            lines.append(f"      A: {_short(s.answer)}")
    if influence is not None:
        lines.append(f"  Measured influence on this reply (gradient similarity over {influence['lora_parameters']:,} "
                     f"adapter weights, {influence['seconds']} s{', stopped early' if influence['stopped'] else ''}):")
        for s in influence["scores"]:
            lines.append(f"    {s['cosine']:+.3f} (dot {s['influence']:+.3g})  example {s['example_id']}, approved by "
                         f"{s['approved_by']} on {s['approved_at'][:10]}: {_short(s['question'], 80)}")
    return "\n".join(lines)


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


__all__ = ["register"]
