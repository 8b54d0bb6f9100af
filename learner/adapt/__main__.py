"""`python -m learner.adapt` (and `tutorloop adapt`): one adaptation round from a terminal, a
scheduler (cron, systemd, Task Scheduler: `--trigger schedule --if-due`), or the app (QProcess).

Progress goes to stdout as JSON lines with --json ({"phase", "step", "total", "loss", "eta_s", ...},
ending with {"phase": "done", "version", "gate_passed", ...}), or as short lines of text without.
The round runs under the database's round lock (one round at a time across the app, the CLI and
OS schedulers), at low priority (nice 10), and SIGTERM (the app's Cancel) cancels it cleanly.

Multi-GPU: `accelerate launch -m learner.adapt --json` or `torchrun --nproc-per-node N -m learner.adapt`
trains data-parallel (the LoRA gradients are averaged across processes); process 0 holds the lock,
evaluates, saves and registers, the others only train.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learner.adapt.recipe import Recipe

TRIGGERS = ("manual", "schedule", "cli")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="progress as JSON lines on stdout")
    parser.add_argument("--trigger", choices=TRIGGERS, default=None,
                        help="who started it (recorded with the run; default: schedule with --if-due, else cli)")
    parser.add_argument("--model", default=None, metavar="SPEC",
                        help="the base model: default (embedded), a Hugging Face folder, a .gguf file or a hub id "
                             "(default: the one the chat's Settings chose, so the adapter fits the chat's model)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--replay", type=Path, metavar="FILE", help="the replay set (default: the shipped one)")
    parser.add_argument("--recipe", type=Path, metavar="FILE", help="a recipe JSON file (e.g. an adapter's recipe.json)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="recipe_overrides",
                        help="change one recipe field, e.g. --set epochs=3 --set learning_rate=3e-4 (repeatable)")
    parser.add_argument("--if-due", action="store_true",
                        help="run only when the teacher's schedule says a round is due (for OS schedulers)")
    parser.add_argument("--no-nice", action="store_true", help="do not lower the process priority")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    recipe = Recipe.load(args.recipe) if args.recipe else Recipe()
    changes: dict[str, Any] = {}
    for item in args.recipe_overrides:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set needs FIELD=VALUE, got {item!r}")
        try:
            changes[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            changes[name.strip()] = raw
    return recipe.replace(**changes) if changes else recipe


class _Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            try:
                self._print(event)
            except BrokenPipeError:
                # Whoever read our progress (the app, a terminal) went away: keep training, print nothing.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def _print(self, event: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(event, default=str), flush=True)
            return
        phase = event.get("phase")
        if phase == "train":
            loss = event.get("loss")
            print(f"train {event['step']}/{event['total']} loss {'–' if loss is None else f'{loss:.4f}'} "
                  f"eta {event['eta_s']:.0f}s",
                  flush=True)
        elif phase == "done":
            verdict = "passed the gate" if event.get("gate_passed") else "FAILED the gate"
            print(f"done: v{event['version']} {verdict}: {event.get('reason', '')}", flush=True)
        elif phase == "warning":
            print(f"warning: {event.get('message', '')}", flush=True)
        elif phase == "error":
            log = f" (log: {event['log']})" if event.get("log") else ""
            print(f"error: {event.get('message', '')}{log}", flush=True)
        elif phase == "schedule":  # the scheduler's own words: why it runs or not, the result, the log
            text = event.get("reason") or event.get("event", "")
            log = f" (log: {event['log']})" if event.get("log") and event.get("event") != "busy" else ""
            print(f"{text}{log}" if event.get("reason") else f"round {text}{log}", flush=True)
        else:
            rest = {k: v for k, v in event.items() if k != "phase"}
            print(f"{phase}: {rest}", flush=True)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def main(argv: Sequence[str] | None = None, *, data_dir_arg: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learner.adapt", description="Run one adaptation round.")
    parser.add_argument("--data-dir", metavar="DIR", default=data_dir_arg)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args)


def run_from_args(args: argparse.Namespace) -> int:
    if args.trigger is None:  # cron, systemd and Task Scheduler run `--if-due`: those are scheduled rounds
        args.trigger = "schedule" if args.if_due else "cli"
    emit = _Printer(args.json)
    try:
        recipe = recipe_from_args(args)
    except ValueError as exc:
        emit({"phase": "error", "message": str(exc)})
        return 2
    if not args.no_nice and hasattr(os, "nice"):
        try:
            os.nice(10)  # the chat (and the teacher's other work) keeps the CPU first
        except OSError:
            pass
    from storage import DatabaseLockedError, StorageError

    try:
        return _run(args, recipe, emit)
    except StorageError as exc:
        # A data folder that is a file or cannot be written, a damaged database, one locked by a long
        # import: one line (one JSON event with --json) and an exit status, never a traceback.
        emit({"phase": "error", "message": str(exc)})
        return 75 if isinstance(exc, DatabaseLockedError) else 1
    except OSError as exc:
        emit({"phase": "error", "message": f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)})
        return 1


def _run(args: argparse.Namespace, recipe: Recipe, emit: _Printer) -> int:
    from storage import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir).ensure()
    from learner.adapt import memory

    memory.give_back_large_blocks()   # the round's process: each phase's freed tensors go straight back
    if args.model is None:  # cron's `--if-due` has no --model: train for the model students chat with
        from learner.settings import saved_generation_settings
        from storage import Database

        Database(data_dir.db_path).close()  # a damaged database is refused here, in one line, not as a warning

        settings, problem = saved_generation_settings(data_dir)
        if problem:
            emit({"phase": "warning", "message": problem})
        args.model = settings.model_spec
    rank, world = _distributed()
    if rank > 0:
        return _train_only(data_dir, args, recipe)

    from learner.adapt import AdaptError, NothingToTrain, TrainingCancelled
    from learner.adapt.round import run_round
    from learner.scheduled_round import EXIT_FAILED, run_with_lock
    from storage import Database
    from storage import schedule

    def start_round(cancel: threading.Event) -> object:
        db = Database(data_dir.db_path)
        try:
            lock = schedule.current_round_lock(db)
        finally:
            db.close()
        log_path = Path(lock.log_path) if lock is not None and lock.log_path else None
        try:
            return run_round(data_dir, trigger=args.trigger, recipe=recipe, on_progress=emit, cancel=cancel,
                             model_spec=args.model, device=args.device, replay_path=args.replay, log_path=log_path)
        except TrainingCancelled:
            raise
        except (NothingToTrain, AdaptError, Exception) as exc:
            emit({"phase": "error", "message": str(exc) or type(exc).__name__,
                  "log": str(log_path) if log_path else None})
            raise

    def auto_promote(version: int) -> None:
        """Called only when a teacher allowed auto-promotion and the candidate passed its gate."""
        db = Database(data_dir.db_path)
        try:
            schedule.auto_promote_candidate(db, version)
        finally:
            db.close()

    cancel = threading.Event()
    try:
        code = run_with_lock(data_dir, trigger=args.trigger, start_round=start_round, if_due=args.if_due, emit=emit,
                             cancel=cancel, handle_sigterm=True, auto_promote=auto_promote)
    except KeyboardInterrupt:
        cancel.set()
        return 130
    return code if code is not None else EXIT_FAILED


def _train_only(data_dir: Any, args: argparse.Namespace, recipe: Recipe) -> int:
    """Ranks above 0 under torchrun/accelerate: the same data and model, training only (the gradient
    all-reduce pairs them with rank 0's loop)."""
    from learner.adapt.augment import augment_round
    from learner.adapt.dataset import round_data_for
    from learner.adapt.train import add_fresh_adapter, train_adapter, training_dtype
    from learner.loading import load_model, resolve_device
    from learner.replay import load_replay
    from learner.sources import prepare_model
    from storage import Database
    from storage.review import list_examples

    db = Database(data_dir.db_path)
    try:
        examples = list_examples(db)
    finally:
        db.close()
    device = resolve_device(args.device)
    prepared = prepare_model(args.model, data_dir)
    loaded = load_model(prepared, device=device, dtype=training_dtype(recipe, device))
    data = round_data_for(recipe, examples, load_replay(args.replay), loaded.tokenizer,
                          context_window=loaded.context_window)
    # The same paraphrases as rank 0 (greedy on the same engine, so identical), or the ranks' step
    # counts would differ.
    augmentation = augment_round(loaded.model, loaded.tokenizer, recipe, examples, data.train_example_ids,
                                 max_length=min(recipe.max_length, loaded.context_window), spec=args.model,
                                 data_dir=data_dir)
    model = add_fresh_adapter(loaded.model, recipe)
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else loaded.tokenizer.eos_token_id
    train_adapter(model, data.train + (augmentation.samples if augmentation is not None else []), recipe,
                  pad_id=pad_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
