"""One adaptation round, start to finish, recorded as a training_runs row.

    sweep crashes ─▶ run row 'running' ─▶ data (approved train split + replay; held-out split)
    ─▶ base + fresh LoRA ─▶ train ─▶ measure candidate / active / base ─▶ must-pass ─▶ gate
    ─▶ save to adapters/.partial-vN-<pid> ─▶ rename to adapters/vN ─▶ register row ─▶ run 'succeeded'

Any failure (or cancel) marks the run failed (cancelled), removes the partial folder and registers
nothing; a kill -9 leaves a 'running' row whose pid is dead and a partial folder, both swept by
the next round or `tutorloop adapters list`.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learner.adapt import AdaptError, NothingToTrain, TrainingCancelled, memory
from learner.adapt.recipe import Recipe
from storage import DataDir, Database
from storage import adapters

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundResult:
    version: int
    gate_passed: bool
    gate_reason: str
    run_id: int
    adapter_path: Path
    log_path: Path | None
    n_examples: int
    n_heldout: int
    metrics: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled("The round was cancelled; no adapter was registered.")


def run_round(data_dir: DataDir, *, trigger: str = "manual", recipe: Recipe | None = None,
              on_progress: Progress | None = None, cancel: threading.Event | None = None,
              model_spec: str = "default", device: str = "auto", replay_path: Path | None = None,
              log_path: Path | None = None) -> RoundResult:
    """Train, evaluate and register one candidate. Raises NothingToTrain, TrainingCancelled or
    AdaptError (and records the run as failed/cancelled)."""
    recipe = recipe or Recipe()
    emit = on_progress or (lambda event: None)
    data_dir.ensure()
    db = Database(data_dir.db_path)
    handler = None
    if log_path is None:
        log_path = data_dir.logs_dir / f"adapt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("learner").addHandler(handler)
        if logging.getLogger("learner").level in (logging.NOTSET,) or logging.getLogger("learner").level > logging.INFO:
            logging.getLogger("learner").setLevel(logging.INFO)
    from learner.adapt.registry import AdapterRegistry

    registry = AdapterRegistry(data_dir, db)
    partial: Path | None = None
    try:
        sweep = registry.sweep()
        if sweep.runs_failed or sweep.partials_removed:
            log.info("recovered after a crash: runs marked failed %s, folders removed %s",
                     list(sweep.runs_failed), list(sweep.partials_removed))
        run = adapters.start_run(db, trigger=trigger, log_path=str(log_path))
        log.info("round %s started (trigger=%s, pid=%s, model=%s)", run.id, trigger, os.getpid(), model_spec)
        try:
            version = registry.next_version()
            partial = registry.partial_folder(version, run_id=run.id)
            result = _round(db, data_dir, registry, run.id, version, partial, recipe=recipe, emit=emit, cancel=cancel,
                            model_spec=model_spec, device=device, replay_path=replay_path, log_path=log_path)
        except TrainingCancelled as exc:
            log.info("round %s cancelled", run.id)
            adapters.finish_run(db, run.id, status="cancelled", error=str(exc))
            raise
        except BaseException as exc:  # KeyboardInterrupt too: the row must not stay 'running'
            log.exception("round %s failed", run.id)
            adapters.finish_run(db, run.id, status="failed", error=str(exc) or type(exc).__name__)
            raise
        adapters.finish_run(db, run.id, status="succeeded", version=result.version)
        pruned = registry.prune(recipe.keep_versions)
        if pruned:
            log.info("pruned adapter folders of versions %s (keeping %s)", pruned, recipe.keep_versions)
        emit({"phase": "done", "version": result.version, "gate_passed": result.gate_passed,
              "reason": result.gate_reason, "run_id": run.id, "log": str(log_path), "path": str(result.adapter_path)})
        return result
    finally:
        if partial is not None and partial.exists():
            registry.discard_partial(partial)
        if handler is not None:
            logging.getLogger("learner").removeHandler(handler)
            handler.close()
        db.close()


def _round(db: Database, data_dir: DataDir, registry: Any, run_id: int, version: int, partial: Path, *,
           recipe: Recipe, emit: Progress, cancel: threading.Event | None, model_spec: str, device: str,
           replay_path: Path | None, log_path: Path) -> RoundResult:
    import torch

    from learner.adapt import evaluate as ev
    from learner.adapt.augment import augment_round
    from learner.adapt.dataset import round_data_for
    from learner.adapt.fairness import fairness_gaps, measure_fairness
    from learner.adapt.gate import GateInputs, judge
    from learner.adapt.serving_gate import candidate_on_serving_engine
    from learner.adapt.train import add_fresh_adapter, save_adapter, train_adapter, training_dtype
    from learner.loading import load_model, resolve_device
    from learner.replay import load_replay
    from learner.sources import prepare_model
    from storage.review import list_examples

    started = time.perf_counter()
    phase_memory = _PhaseMemory()
    examples = list_examples(db)
    replay = load_replay(replay_path)
    must_pass = adapters.list_must_pass(db)

    emit({"phase": "prepare", "detail": f"preparing model {model_spec}"})
    prepared = prepare_model(model_spec, data_dir, cancel=cancel)
    _check_cancel(cancel)
    device = resolve_device(device)
    dtype = training_dtype(recipe, device)
    emit({"phase": "load", "detail": f"loading {prepared.model_id} on {device} ({dtype})"})
    loaded = load_model(prepared, device=device, dtype=dtype)
    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    data = round_data_for(recipe, examples, replay, tokenizer, context_window=loaded.context_window)
    if not data.train_example_ids:
        raise NothingToTrain("There are no approved examples to learn from yet (held-out ones never train). "
                             "Approve some replies in the review queue first.")
    emit({"phase": "data", "n_train": len(data.train_example_ids), "n_heldout": len(data.heldout_example_ids),
          "n_replay_train": data.n_replay_train, "n_replay_eval": len(data.replay_eval),
          "train_tokens": sum(len(s.input_ids) for s in data.train)})
    log.info("data: %s approved train, %s held out, %s replay train, %s replay eval", len(data.train_example_ids),
             len(data.heldout_example_ids), data.n_replay_train, len(data.replay_eval))

    # The rewrites come from llama.cpp where the chat serves from it (loaded and unloaded inside).
    augmentation = augment_round(loaded.model, tokenizer, recipe, examples, data.train_example_ids,
                                 max_length=min(recipe.max_length, loaded.context_window), emit=emit,
                                 spec=model_spec, data_dir=data_dir)
    train_samples = data.train + (augmentation.samples if augmentation is not None else [])
    if augmentation is not None:
        log.info("augmentation: %s paraphrases kept, %s rejected, %.1f s on %s", len(augmentation.samples),
                 sum(len(p.rejected) for p in augmentation.paraphrases), augmentation.seconds,
                 augmentation.written_on)
    _check_cancel(cancel)
    model = add_fresh_adapter(loaded.model, recipe)
    phase_memory.done("augment")
    stats = train_adapter(model, train_samples, recipe, pad_id=pad_id, on_progress=emit, cancel=cancel)
    phase_memory.done("train")
    log.info("trained %s steps, %.1f tokens/s, loss on approved examples %.4f, replay term %.4f", stats.steps,
             stats.tokens_per_s, stats.final_loss, stats.replay_last_epoch)

    # -- evaluate: candidate, active (when it was trained on this base), base ---------------------
    active = adapters.active_adapter(db)
    active_note = None
    if active is not None:
        if active.base_model_id != prepared.model_id:
            active_note = f"the active v{active.version} was trained on another base ({active.base_model_id})"
            active = None
        else:
            try:
                ev.load_active(model, registry.path_of(active.version))
            except (FileNotFoundError, OSError, ValueError) as exc:
                active_note = f"the active v{active.version} could not be loaded: {exc}"
                active = None
    contenders = ["candidate", "base"] + (["active"] if active is not None else [])
    losses: dict[str, dict[str, Any]] = {}
    for i, which in enumerate(contenders, start=1):
        _check_cancel(cancel)
        emit({"phase": "evaluate", "step": i, "total": len(contenders), "detail": which})
        with ev.using(model, which):
            losses[which] = {
                "heldout": ev.measure(model, data.heldout, pad_id=pad_id, batch_tokens=recipe.batch_tokens),
                "replay": ev.measure(model, data.replay_eval, pad_id=pad_id, batch_tokens=recipe.batch_tokens),
            }
    phase_memory.done("evaluate")
    earlier: dict[int, dict[str, float | None]] = {}
    reference = "active" if active is not None else "base"
    for previous in adapters.list_adapters(db):
        keys = [f"example:{i}" for i in adapters.example_ids(db, previous.version, "heldout")]
        cand = losses["candidate"]["heldout"].mean_over(keys)
        if cand is not None:
            earlier[previous.version] = {"candidate": cand, "reference": losses[reference]["heldout"].mean_over(keys)}

    # Generated answers come from the engine students use: llama.cpp with the candidate applied to the
    # GGUF base where the chat runs there (learner.adapt.serving_gate), else the training model.
    must_results = []
    bleeding = None
    answering = candidate_on_serving_engine(model, recipe, model_spec, data_dir, adapter_name=ev.CANDIDATE) \
        if must_pass or data.heldout or recipe.fairness_groups != 0 else nullcontext(None)
    with answering as served:
        for i, item in enumerate(must_pass, start=1):
            _check_cancel(cancel)
            emit({"phase": "must_pass", "step": i, "total": len(must_pass)})
            must_results.extend(ev.run_must_pass(model, tokenizer, [item], max_new_tokens=recipe.must_pass_max_new_tokens,
                                                 context_window=loaded.context_window, tutor=served))
        if data.heldout:
            _check_cancel(cancel)
            emit({"phase": "bleeding", "step": 1, "total": 1, "detail": "the candidate answers the held-out examples"})
            with ev.using(model, "candidate"):
                bleeding = ev.held_out_bleeding(model, tokenizer, data.heldout, examples,
                                                max_new_tokens=recipe.bleeding_max_new_tokens, tutor=served)
            log.info("bleeding: %s of %s held-out answers borrow from other examples", len(bleeding.bled),
                     bleeding.checked)
        _check_cancel(cancel)
        fairness = measure_fairness(model, tokenizer, recipe, emit=emit, cancel=cancel, tutor=served)
        served_by = served.engine_name if served is not None else "transformers"
    phase_memory.done("gate")

    def mean(which: str, part: str) -> float | None:
        return losses[which][part].mean if which in losses else None

    inputs = GateInputs(heldout={w: mean(w, "heldout") for w in ("candidate", "active", "base")},
                        replay={w: mean(w, "replay") for w in ("candidate", "active", "base")},
                        earlier_slices=earlier, must_pass=[r.to_dict() for r in must_results],
                        bleeding=bleeding.to_dict() if bleeding is not None else None, fairness=fairness)
    verdict = judge(inputs, recipe)
    log.info("gate: %s — %s", "passed" if verdict.passed else "FAILED", verdict.reason)
    emit({"phase": "gate", "passed": verdict.passed, "reason": verdict.reason})

    # -- save: partial folder, then one rename, then the row ------------------------------------
    _check_cancel(cancel)
    emit({"phase": "save", "version": version})
    if active is not None:
        model.delete_adapter(ev.ACTIVE)
    save_adapter(model, partial, recipe)
    from learner.engine.gguf_source import export_for_serving

    if exported := export_for_serving(partial, model_spec, data_dir):   # hashed into the manifest with the rest
        log.info("wrote the adapter's GGUF form for llama.cpp (%s pairs, sha256 %s)", exported.tensor_pairs,
                 exported.sha256[:12])
    final = registry.commit(partial, version, run_id=run_id)
    metrics = {
        "heldout_loss": inputs.heldout, "replay_loss": inputs.replay,
        "train": {"steps": stats.steps, "epochs": stats.epochs, "final_loss": _finite(stats.final_loss),
                  "mean_loss_last_epoch": _finite(stats.mean_loss_last_epoch),
                  "replay_last_epoch": _finite(stats.replay_last_epoch), "tokens": stats.tokens,
                  "trained_tokens": stats.trained_tokens, "seconds": round(stats.seconds, 1),
                  "tokens_per_s": round(stats.tokens_per_s, 1), "anchor_seconds": round(stats.anchor_seconds, 1),
                  "anchor_positions": stats.anchor_positions},
        "peak_rss_mb": memory.peak_rss_mb(),
        "rss_mb_after": phase_memory.after,   # resident size at the end of each phase, before trimming
        "augmentation": augmentation.to_dict() if augmentation is not None else None,
        "bleeding": {k: v for k, v in bleeding.to_dict().items() if k != "answers"} if bleeding is not None else None,
        "fairness": fairness_gaps(fairness),
        "n_replay_eval": len(data.replay_eval), "device": device, "dtype": dtype,
        "torch_threads": torch.get_num_threads(), "round_seconds": round(time.perf_counter() - started, 1),
        "compared_with_active": active.version if active is not None else None,
        "generated_on": served_by,   # the engine the gate's generated answers came from
    }
    if active_note:
        metrics["active_note"] = active_note
    registered = adapters.register_adapter(
        db, version=version, base_model_id=prepared.model_id, path=str(final), n_examples=len(data.train_example_ids),
        n_heldout=len(data.heldout_example_ids), n_replay=data.n_replay_train,
        examples_approved_until=data.examples_approved_until, recipe=recipe.to_dict(), metrics=metrics,
        gate=verdict.to_dict(), gate_passed=verdict.passed, gate_reason=verdict.reason, run_id=run_id,
        train_ids=data.train_example_ids, heldout_ids=data.heldout_example_ids)
    log.info("registered v%s (%s) at %s", version, registered.status, final)
    return RoundResult(version=version, gate_passed=verdict.passed, gate_reason=verdict.reason, run_id=run_id,
                       adapter_path=final, log_path=log_path, n_examples=len(data.train_example_ids),
                       n_heldout=len(data.heldout_example_ids), metrics=metrics, gate=verdict.to_dict())


class _PhaseMemory:
    """The resident size at the end of each phase (the round's metrics and log), after which freed
    heap is handed back (learner.adapt.memory.release) so the next phase starts lean."""

    def __init__(self) -> None:
        self.after: dict[str, float | None] = {}

    def done(self, phase: str) -> None:
        self.after[phase] = memory.rss_mb()
        memory.release()
        log.info("memory after %s: %s MB resident (peak so far %s MB)", phase, self.after[phase],
                 memory.peak_rss_mb())


def _finite(value: float) -> float | None:
    """Stored metrics are JSON, which has no NaN (a round with no replay has no replay term)."""
    return value if math.isfinite(value) else None


__all__ = ["AdaptError", "NothingToTrain", "RoundResult", "TrainingCancelled", "run_round"]
