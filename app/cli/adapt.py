"""`tutorloop adapt` (one adaptation round; the same code as `python -m learner.adapt`) and
`tutorloop adapters list|promote|rollback|use-base|discard|compare|must-pass`.

`adapt` only makes candidates and needs no credentials (so an OS scheduler can run it). Promote,
roll back, use-base, discard and must-pass edits are teacher actions: `--teacher NAME` and the
password from $TUTORLOOP_PASSWORD or a prompt, as for `tutorloop review`; storage checks the role
again. `adapters list` and `compare` only read.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.cli.classroom import publish_to_class
from app.cli.common import (EXIT_ERROR, ctrl_c_sets, run_command, run_guarded, say, sign_in_teacher,
                            teacher_options)
from learner.adapt.fairness import describe_gaps
from storage import Database, resolve_data_dir
from storage import adapters


def register(subparsers: argparse._SubParsersAction) -> None:
    from learner.adapt.__main__ import add_arguments

    adapt = subparsers.add_parser(
        "adapt", help="run one adaptation round: train a candidate adapter on approved examples, gate it",
        description="Train a fresh LoRA adapter on every approved example (train split) plus the replay set, "
                    "evaluate it against the active adapter and the base, and register it as a candidate. "
                    "Promoting it is a separate teacher action (tutorloop adapters promote).")
    add_arguments(adapt)
    adapt.add_argument("--class-folder", metavar="FOLDER",
                       help="train on the approved examples the teacher published to this class folder (this "
                            "machine joined the class) and write the candidate back for the teacher")
    adapt.set_defaults(func=run_guarded(_adapt))

    teacher_opts = teacher_options()
    ad = subparsers.add_parser("adapters", help="adapter versions: list, promote, roll back, compare",
                               description="The adapter versions the tutor can use, and which one students get.")
    sub = ad.add_subparsers(dest="adapters_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="every version with its status, examples and gate verdict")
    ls.add_argument("--json", action="store_true", help="print JSON (one array, every gate figure)")
    ls.set_defaults(func=run_command(_list))

    pr = sub.add_parser("promote", parents=[teacher_opts], help="make a version the one students get")
    pr.add_argument("version", type=_version, metavar="VERSION", help="e.g. 3 or v3")
    pr.set_defaults(func=run_command(_promote))

    rb = sub.add_parser("rollback", parents=[teacher_opts],
                        help="go back to an earlier version (default: the one active before this one)")
    rb.add_argument("version", type=_version, nargs="?", metavar="VERSION")
    rb.set_defaults(func=run_command(_rollback))

    base = sub.add_parser("use-base", parents=[teacher_opts], help="use no adapter: students get the base model")
    base.set_defaults(func=run_command(_use_base))

    dc = sub.add_parser("discard", parents=[teacher_opts], help="mark a candidate as discarded")
    dc.add_argument("version", type=_version, metavar="VERSION")
    dc.set_defaults(func=run_command(_discard))

    cp = sub.add_parser("compare", help="answers of the active adapter (or base) and VERSION, side by side")
    cp.add_argument("version", type=_version, metavar="VERSION")
    cp.add_argument("--prompts", type=Path, metavar="FILE",
                    help="prompts to ask (one per line, or JSON lines {\"prompt\", \"mode\"}); default: the "
                         "version's held-out examples and the must-pass prompts")
    cp.add_argument("--limit", type=int, default=6, metavar="N", help="held-out examples to use (default 6)")
    cp.add_argument("--model", metavar="SPEC",
                    help="the base model (default: the one the chat's Settings chose)")
    cp.add_argument("--max-new-tokens", type=int, default=160, metavar="N")
    cp.add_argument("--json", action="store_true")
    cp.set_defaults(func=run_command(_compare_guarded))

    mp = sub.add_parser("must-pass", help="teachers' must-pass prompts that every candidate must pass")
    mp_sub = mp.add_subparsers(dest="must_pass_command", metavar="ACTION", required=True)
    mls = mp_sub.add_parser("list", help="list them")
    mls.add_argument("--json", action="store_true")
    mls.set_defaults(func=run_command(_mp_list))
    madd = mp_sub.add_parser("add", parents=[teacher_opts], help="add one")
    madd.add_argument("prompt")
    madd.add_argument("--must-match", action="append", default=[], metavar="REGEX")
    madd.add_argument("--must-not-match", action="append", default=[], metavar="REGEX")
    madd.add_argument("--mode", choices=adapters.MODES, default="explain")
    madd.set_defaults(func=run_command(_mp_add))
    mdel = mp_sub.add_parser("delete", parents=[teacher_opts], help="delete one")
    mdel.add_argument("id", type=int)
    mdel.set_defaults(func=run_command(_mp_delete))


def _version(text: str) -> int:
    try:
        value = int(text.lower().removeprefix("v"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number (e.g. 3 or v3)") from None
    if value < 1:
        raise argparse.ArgumentTypeError("versions start at 1")
    return value


def _adapt(args: argparse.Namespace) -> int:
    from learner.adapt.__main__ import run_from_args

    if args.class_folder:
        from app.cli.classroom import adapt_for_class

        return adapt_for_class(args)
    return run_from_args(args)


def _sweep(db: Database, args: argparse.Namespace) -> None:
    """Show a killed run as failed (not forever running) before listing."""
    from learner.adapt.registry import AdapterRegistry

    AdapterRegistry(resolve_data_dir(args.data_dir), db).sweep()


def adapter_dict(a: adapters.AdapterVersion) -> dict[str, Any]:
    return {"version": a.version, "status": a.status, "created_at": a.created_at, "n_examples": a.n_examples,
            "n_heldout": a.n_heldout, "n_replay": a.n_replay, "base_model_id": a.base_model_id, "path": a.path,
            "folder_exists": a.folder_exists, "gate_passed": a.gate_passed, "gate_reason": a.gate_reason,
            "gate": a.gate, "metrics": a.metrics, "recipe": a.recipe, "promoted_at": a.promoted_at,
            "promoted_by": a.promoted_by_name, "problem": adapters.adapter_problem(a),
            "fairness": a.metrics.get("fairness")}


def _fmt_loss(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def _list(db: Database, args: argparse.Namespace) -> int:
    _sweep(db, args)
    versions = adapters.list_adapters(db)
    # Recent runs that failed or are still going, to stderr (so --json output stays one array).
    for run in [r for r in adapters.list_runs(db, limit=5) if r.status in ("failed", "running")]:
        say(f"run {run.id} ({run.trigger}, {run.started_at[:19]}): {run.status}"
             f"{' – ' + run.error if run.error else ''}{' – log: ' + run.log_path if run.log_path else ''}")
    # The active version checked file by file: missing or changed files mean students get the base model.
    if (active := adapters.check_active(db)) is not None and active.notice:
        say(active.notice)
    if args.json:
        print(json.dumps([adapter_dict(a) for a in versions], indent=2))
        return 0
    if not versions:
        say("No adapter versions yet: run `tutorloop adapt` after approving some examples.")
    else:
        print(f"{'ver':>4}  {'status':<9}  {'created (UTC)':<19}  {'ex':>4}  {'held-out c/a/b':<20}  "
              f"{'replay c/a/b':<20}  gate")
        for a in versions:
            h, r = a.metrics.get("heldout_loss", {}), a.metrics.get("replay_loss", {})
            held = "/".join(_fmt_loss(h.get(k)) for k in ("candidate", "active", "base"))
            rep = "/".join(_fmt_loss(r.get(k)) for k in ("candidate", "active", "base"))
            verdict = "passed" if a.gate_passed else f"FAILED: {a.gate_reason}"
            print(f"{'v' + str(a.version):>4}  {a.status:<9}  {a.created_at[:19]:<19}  {a.n_examples:>4}  "
                  f"{held:<20}  {rep:<20}  {verdict}")
            if a.metrics.get("fairness"):
                print(f"      fairness gap (new/base): {describe_gaps(a.metrics['fairness'])}")
            if problem := adapters.adapter_problem(a):
                print(f"      ! files: {problem}")
    return 0


def _promote(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    try:
        adapter = adapters.promote(db, teacher, args.version)
    except adapters.GateNotPassed as exc:
        say(f"tutorloop: {exc}")
        return EXIT_ERROR
    say(f"v{adapter.version} is now active; a running tutorloop switches to it before its next answer.")
    publish_to_class(db)
    return 0


def _rollback(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    adapter = adapters.rollback(db, teacher, args.version)
    say(f"v{adapter.version} is active again." if adapter else "No earlier version: students get the base model.")
    publish_to_class(db)
    return 0


def _use_base(db: Database, args: argparse.Namespace) -> int:
    adapters.use_base(db, sign_in_teacher(db, args))
    say("No adapter is active: students get the base model.")
    publish_to_class(db)
    return 0


def _discard(db: Database, args: argparse.Namespace) -> int:
    adapter = adapters.discard(db, sign_in_teacher(db, args), args.version)
    say(f"v{adapter.version} discarded.")
    return 0


def _compare_guarded(db: Database, args: argparse.Namespace) -> int:
    from learner.errors import LearnerError

    try:
        return _compare(db, args)
    except (FileNotFoundError, ValueError, LearnerError) as exc:
        say(f"tutorloop: {exc}")
        return EXIT_ERROR


def _compare(db: Database, args: argparse.Namespace) -> int:
    from learner.adapt.compare import compare, prompts_for, prompts_from_file
    from learner.adapt.registry import AdapterRegistry
    from app.cli.chat import load_tutor
    from learner.settings import load_generation_settings

    data_dir = resolve_data_dir(args.data_dir).ensure()
    registry = AdapterRegistry(data_dir, db)
    right = (registry.path_of(args.version), args.version)
    prompts = prompts_from_file(args.prompts) if args.prompts else prompts_for(db, args.version, limit=args.limit)
    if not prompts:
        say("Nothing to compare on: this version has no held-out examples and there are no must-pass prompts. "
             "Give prompts with --prompts FILE.")
        return EXIT_ERROR
    settings = load_generation_settings(db)[0]
    if args.model:
        settings = replace(settings, model_spec=args.model)
    stop = threading.Event()
    with ctrl_c_sets(stop):
        tutor = load_tutor(settings, data_dir, stop)
    if mismatch := adapters.get_adapter(db, args.version).mismatch(tutor.model_id):
        tutor.engine.unload()
        say(f"{mismatch} Compare it with --model set to that model.")
        return EXIT_ERROR
    active = adapters.active_adapter(db)
    left = (registry.path_of(active.version), active.version) if active is not None \
        and active.version != args.version and not active.mismatch(tutor.model_id) else (None, None)
    say(f"Comparing {'v' + str(left[1]) if left[1] else 'the base model'} with "
        f"v{args.version} on {len(prompts)} prompts ({tutor.engine_name})…")
    results = compare(tutor, prompts, left=left, right=right, max_new_tokens=args.max_new_tokens,
                      on_answer=lambda done, total: say(f"  {done}/{total}"))
    if args.json:
        print(json.dumps({"left": left[1], "right": args.version, "answers": [r.to_dict() for r in results]},
                         indent=2))
        return 0
    left_name = f"v{left[1]}" if left[1] else "base"
    for r in results:
        print(f"── {r.prompt.label}: {r.prompt.question[-300:]}")
        if r.prompt.reference:
            print(f"   approved: {r.prompt.reference}")
        print(f"   {left_name}: {r.left}{'  ✗ ' + ', '.join(r.left_failures) if r.left_failures else ''}")
        print(f"   v{args.version}: {r.right}{'  ✗ ' + ', '.join(r.right_failures) if r.right_failures else ''}")
    return 0


def _mp_list(db: Database, args: argparse.Namespace) -> int:
    items = adapters.list_must_pass(db)
    if args.json:
        print(json.dumps([{"id": m.id, "prompt": m.prompt, "mode": m.mode, "must_match": list(m.must_match),
                           "must_not_match": list(m.must_not_match), "created_by": m.created_by_name}
                          for m in items], indent=2))
        return 0
    for m in items:
        print(f"{m.id:>3}  [{m.mode}] {m.prompt}  must: {list(m.must_match)}  must not: {list(m.must_not_match)}")
    return 0


def _mp_add(db: Database, args: argparse.Namespace) -> int:
    item = adapters.add_must_pass(db, sign_in_teacher(db, args), args.prompt, must_match=args.must_match,
                               must_not_match=args.must_not_match, mode=args.mode)
    say(f"must-pass prompt {item.id} added.")
    return 0


def _mp_delete(db: Database, args: argparse.Namespace) -> int:
    adapters.delete_must_pass(db, sign_in_teacher(db, args), args.id)
    say(f"must-pass prompt {args.id} deleted.")
    return 0


if __name__ == "__main__":
    sys.exit("use: tutorloop adapt | tutorloop adapters …")
