"""LoRA training on the frozen base, with the loss and the LM head on completion tokens only.

Why the LM head only on completion positions: Qwen2.5's vocabulary has 151,936 entries, so the
head is a 896 × 151,936 matrix (136 M weights, over a quarter of the model) applied at every
position, and its logits (T × 151,936 floats) dominate activation memory. Prompt positions carry
no loss, so we run the decoder body, gather the hidden states of the positions that predict a
completion token, and apply the head to those alone. The loss is identical (tests check it with
torch.allclose against the model's own full computation); the work is not.

Why a bf16 base with fp32 LoRA weights: the base is frozen, so bf16 halves its memory (1 GB
instead of 2 for 0.5B weights) and runs its matmuls in oneDNN's bf16 kernels on AVX-512 CPUs
(natively where they have AVX512-BF16 or AMX);
PEFT keeps the adapter's weights in fp32 (`autocast_adapter_dtype`) and computes the LoRA branch
in fp32, and AdamW's state is fp32, so small updates are not rounded away. Only where bf16 is
native, though (`training_dtype`): on an AVX2-only CPU torch multiplies bf16 on slow paths, and a
backward pass's gradient product most of all, so there the base trains in fp32.

Sections: model (base + fresh LoRA) · loss · anchor cache · optimiser/schedule · loop (progress,
cancel) · save.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from learner.adapt import TrainingCancelled, memory
from learner.adapt.anchor import TopK, batch_top_k, top_k_kl, top_k_of
from learner.adapt.dataset import (
    IGNORE_INDEX, Batch, Sample, collate, collate_best, length_grouped_batches, shared_prefix_batches,
)
from learner.adapt.recipe import Recipe

Progress = Callable[[dict[str, Any]], None]


# -- model ----------------------------------------------------------------------------------------

def training_dtype(recipe: Recipe, device: str) -> str:
    """The frozen base's dtype name on `device` (a resolved one: cpu, cuda or mps) for
    learner.loading.load_model: Recipe.base_dtype, where "auto" (the default) means bf16 where the
    device multiplies bf16 natively (a CUDA GPU that supports it; a CPU with oneDNN's bf16 kernels,
    AVX-512 and up) and fp32 elsewhere. The LoRA weights stay fp32 whatever the base (add_fresh_adapter).

    Measured on a 2-core AVX2-only EPYC (torch 2.13): a [448, 896] × [896, 4864] product took 0.33 s
    in bf16 against 0.06 in fp32, and the backward pass's [448, 4864] × [4864, 896] 3.6 s against
    0.06; the demo round (bench/demo_school_facts.py) trained at 1 token/s in bf16, at 55 in fp32
    (bench/adapt.py). fp32 costs memory: that demo round peaked at 5.31 GB, against 3.85 GB for
    the same round with a bf16 base on an AVX-512 CPU."""
    if recipe.base_dtype != "auto":
        return recipe.base_dtype
    if device == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if device == "cpu" and cpu_multiplies_bf16():
        return "bfloat16"
    return "float32"


def cpu_multiplies_bf16() -> bool:
    """Whether torch's CPU kernels have native bf16 (oneDNN's check: AVX-512 core and up)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):   # a build without oneDNN: no fast bf16 either
        return False


def lora_config(recipe: Recipe, model: torch.nn.Module) -> Any:
    from peft import LoraConfig

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in recipe.target_modules if t in present]
    if not targets:
        raise ValueError(f"None of the recipe's target modules ({', '.join(recipe.target_modules)}) exist in "
                         "this model; set Recipe.target_modules to its linear layers.")
    return LoraConfig(r=recipe.rank, lora_alpha=recipe.alpha, lora_dropout=recipe.dropout, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")


def add_fresh_adapter(model: torch.nn.Module, recipe: Recipe, *, adapter_name: str = "default") -> Any:
    """Wrap the frozen base in a PeftModel with a freshly initialised LoRA adapter (B = 0, so the
    adapted model starts exactly at the base)."""
    from peft import get_peft_model

    torch.manual_seed(recipe.seed)
    # autocast_adapter_dtype: LoRA weights in fp32 even on a bf16 base (the PEFT default, said here
    # because training depends on it); the forward casts the LoRA branch's input to fp32.
    peft_model = get_peft_model(model, lora_config(recipe, model), adapter_name=adapter_name,
                                autocast_adapter_dtype=True)
    for param in peft_model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
    return peft_model


def _causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The *ForCausalLM module under any PEFT wrapper."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


# -- loss -----------------------------------------------------------------------------------------

# Rows of logits computed at once: 256 × 151,936 fp32 is 156 MB, where a whole batch's completion
# positions at once (often 600+) would be several such tensors, each kept for the backward pass.
HEAD_ROWS = 256


def head_sum(fn: Callable[..., torch.Tensor], head: torch.nn.Module, hidden: torch.Tensor,
             *per_row: torch.Tensor) -> torch.Tensor:
    """Σ over row chunks of fn(head(hidden[chunk]).float(), *(t[chunk] for t in per_row)): the LM
    head and its logits one chunk of HEAD_ROWS rows at a time.

    When gradients flow, each chunk runs under activation checkpointing: the backward pass
    recomputes the chunk's logits (one head matmul, ~5 % of a step) instead of every chunk's
    N × vocab tensors staying alive between forward and backward. The result equals the
    unchunked sum (tests check it, and its gradient, with torch.allclose)."""
    from torch.utils.checkpoint import checkpoint

    def chunk_sum(h: torch.Tensor, *rows: torch.Tensor) -> torch.Tensor:
        return fn(head(h).float(), *rows)

    grad = torch.is_grad_enabled() and hidden.requires_grad
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], HEAD_ROWS):
        rows = [t[start:start + HEAD_ROWS] for t in (hidden, *per_row)]
        part = checkpoint(chunk_sum, *rows, use_reentrant=False) if grad else chunk_sum(*rows)
        total = total + part
    return total


def _cross_entropy_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets, reduction="sum")


def _top_k_kl_rows(logits: torch.Tensor, ids: torch.Tensor, logp: torch.Tensor, log_tail: torch.Tensor) -> torch.Tensor:
    return top_k_kl(logits, TopK(ids=ids, logp=logp, log_tail=log_tail))


def completion_nll(model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood of the completion tokens, and their count.

    Position t predicts token t+1, so the hidden state at t is gathered where labels[t+1] is a
    completion token. The head runs on those N rows only (N × vocab logits instead of
    B × T × vocab), HEAD_ROWS at a time (head_sum).
    """
    lm = _causal_lm(model)
    hidden = lm.model(input_ids=batch.input_ids, attention_mask=_mask_for(lm, batch.attention_mask),
                      position_ids=batch.position_ids).last_hidden_state
    targets = batch.labels[:, 1:]
    trained = targets != IGNORE_INDEX
    picked = hidden[:, :-1][trained]                       # [N, hidden]
    nll = head_sum(_cross_entropy_sum, lm.get_output_embeddings(), picked, targets[trained])
    return nll, int(trained.sum())


def completion_token_nlls(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Each completion token's NLL, in batch order (row by row, segment by segment when packed),
    without gradients: per-sample figures are split from it (learner.adapt.evaluate.sample_losses)."""
    lm = _causal_lm(model)
    hidden = lm.model(input_ids=batch.input_ids, attention_mask=_mask_for(lm, batch.attention_mask),
                      position_ids=batch.position_ids).last_hidden_state
    targets = batch.labels[:, 1:]
    trained = targets != IGNORE_INDEX
    picked, wanted = hidden[:, :-1][trained], targets[trained]
    head = lm.get_output_embeddings()
    parts = [F.cross_entropy(head(picked[i:i + HEAD_ROWS]).float(), wanted[i:i + HEAD_ROWS], reduction="none")
             for i in range(0, picked.shape[0], HEAD_ROWS)]
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


@dataclass(frozen=True, slots=True)
class Objective:
    """One batch's training objective, summed over its completion tokens, and its two parts (so
    progress can show the loss on the approved examples apart from the replay anchor)."""
    total: torch.Tensor      # what backward() runs on, after dividing by n
    n: int                   # completion tokens: approved + replay
    learn: float             # NLL summed over approved completion tokens
    n_learn: int
    replay: float            # the replay term (KL to the base, or NLL), unweighted, summed over replay tokens
    n_replay: int


def training_nll(model: torch.nn.Module, batch: Batch, *, replay_objective: str = "distill",
                 replay_weight: float = 1.0, base_top_k: TopK | None = None) -> Objective:
    """The training objective, summed over completion tokens, with their count and its parts.

    Approved completion tokens: negative log-likelihood, as in `completion_nll`. Replay completion
    tokens (batch.replay), weighted by `replay_weight`:
    - "distill": KL(base ‖ adapted) between the frozen base's next-token distribution (one extra
      forward with the adapter disabled, no gradient) and the adapter's. It is zero where the adapter
      changes nothing, so the adapter is free to learn the approved facts but pays for every shift
      it causes on general tutoring: learning without forgetting, and the replay loss stays put.
      With `base_top_k` (the base's distribution at this batch's replay positions, cached once per
      round: learner.adapt.anchor) there is no second forward; without it the base runs here.
    - "imitate": negative log-likelihood of the written replay reply, like an approved example.
    """
    lm = _causal_lm(model)
    targets = batch.labels[:, 1:]
    trained = targets != IGNORE_INDEX
    replay = trained & batch.replay[:, 1:] if batch.replay is not None else torch.zeros_like(trained)
    if not bool(replay.any()):
        nll, n = completion_nll(model, batch)
        return Objective(total=nll, n=n, learn=float(nll.detach()), n_learn=n, replay=0.0, n_replay=0)
    inputs = {"input_ids": batch.input_ids, "attention_mask": _mask_for(lm, batch.attention_mask),
              "position_ids": batch.position_ids}
    head = lm.get_output_embeddings()
    hidden = lm.model(**inputs).last_hidden_state[:, :-1]
    learn = trained & ~replay
    total = hidden.new_zeros((), dtype=torch.float32)
    if bool(learn.any()):
        total = total + head_sum(_cross_entropy_sum, head, hidden[learn], targets[learn])
    if replay_objective == "imitate":
        term = head_sum(_cross_entropy_sum, head, hidden[replay], targets[replay])
    elif base_top_k is not None:
        if len(base_top_k) != int(replay.sum()):
            raise ValueError(f"The cached base distribution has {len(base_top_k)} positions but the batch has "
                             f"{int(replay.sum())} replay tokens; cache it from the same samples.")
        base = base_top_k.to(hidden.device)
        term = head_sum(_top_k_kl_rows, head, hidden[replay], base.ids, base.logp, base.log_tail)
    else:
        logits = head(hidden[replay]).float()
        disable = getattr(model, "disable_adapter", None)
        if disable is None:
            raise ValueError("replay_objective 'distill' needs a PEFT model (the base is the model with its "
                             "adapter disabled).")
        with torch.no_grad(), disable():
            base_hidden = lm.model(**inputs).last_hidden_state[:, :-1][replay]
            base_logp = F.log_softmax(head(base_hidden).float(), dim=-1)
        term = F.kl_div(F.log_softmax(logits, dim=-1), base_logp, log_target=True, reduction="sum")
    return Objective(total=total + replay_weight * term, n=int(trained.sum()), learn=float(total.detach()),
                     n_learn=int(learn.sum()), replay=float(term.detach()), n_replay=int(replay.sum()))


def _mask_for(lm: torch.nn.Module, mask: torch.Tensor) -> torch.Tensor:
    """A packed batch's 4-D boolean mask goes to the attention as is (SDPA and flex read booleans);
    eager attention adds its mask to the scores, so it gets 0 / -inf instead."""
    if mask.dim() == 4 and getattr(lm.config, "_attn_implementation", "sdpa") == "eager":
        dtype = next(lm.parameters()).dtype
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    return mask


def full_lm_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """The model's own loss (head at every position): the reference the fast path must equal."""
    return model(input_ids=batch.input_ids, attention_mask=_mask_for(_causal_lm(model), batch.attention_mask),
                 position_ids=batch.position_ids, labels=batch.labels).loss


# -- anchor cache ---------------------------------------------------------------------------------

@torch.inference_mode()
def cache_base_top_k(model: torch.nn.Module, samples: list[Sample], *, k: int, pad_id: int,
                     recipe: Recipe) -> dict[str, TopK]:
    """The base's top-k (learner.adapt.anchor) at every completion position of each replay sample,
    keyed by sample key: one forward per packed batch with the adapter disabled, before training."""
    wanted = [s for s in samples if s.replay]
    if not wanted:
        return {}
    lm = _causal_lm(model)
    head = lm.get_output_embeddings()
    device = next(model.parameters()).device
    disable = getattr(model, "disable_adapter", None)
    was_training = model.training
    model.eval()   # no dropout: the anchor is the base itself
    cache: dict[str, TopK] = {}
    try:
        with disable() if disable is not None else contextlib.nullcontext():
            for group in shared_prefix_batches(wanted, batch_tokens=recipe.batch_tokens,
                                               max_batch_examples=recipe.max_batch_examples,
                                               min_shared_prefix=recipe.min_shared_prefix):
                batch = collate_best(group, pad_id=pad_id, min_shared_prefix=recipe.min_shared_prefix).to(device)
                hidden = lm.model(input_ids=batch.input_ids, attention_mask=_mask_for(lm, batch.attention_mask),
                                  position_ids=batch.position_ids).last_hidden_state[:, :-1]
                trained = batch.labels[:, 1:] != IGNORE_INDEX
                rows = hidden[trained]
                summary = TopK.cat([top_k_of(head(rows[i:i + HEAD_ROWS]), k).to("cpu")
                                    for i in range(0, rows.shape[0], HEAD_ROWS)])
                # The masked rows come row by row (padded) or segment by segment (packed): sample order.
                for sample, part in zip(group, summary.split([s.n_completion for s in group]), strict=True):
                    cache[sample.key] = part
    finally:
        model.train(was_training)
    return cache


# -- loop -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class TrainStats:
    steps: int
    epochs: int
    final_loss: float            # NLL per approved completion token over the last epoch
    mean_loss_last_epoch: float  # the whole objective, mean over the last epoch's batches
    replay_last_epoch: float     # the replay term per replay token over the last epoch (nan: none)
    tokens: int                  # real tokens run through the model (prompt + completion)
    trained_tokens: int          # completion tokens with a loss
    seconds: float               # the loop, after the anchor cache
    anchor_seconds: float = 0.0  # computing the base's top-k on the replay samples (0: none cached)
    anchor_positions: int = 0    # replay positions cached

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def plan_batches(samples: list[Sample], recipe: Recipe) -> list[list[list[Sample]]]:
    """Batches for every epoch (a new seeded order each epoch), cut to max_steps.

    Every approved sample trains in every epoch. With Recipe.replay_per_epoch below 1 the replay
    samples rotate: each epoch takes the next slice of a seeded order of them, so over the round
    every one anchors while an epoch pays for only its share (replay exchanges are several times
    longer than approved ones: at a share of 1 they are most of a small round's tokens)."""
    approved = [s for s in samples if not s.replay]
    replay = [s for s in samples if s.replay]
    n_epochs = recipe.epochs_for(len(approved))
    random.Random(recipe.seed).shuffle(replay)
    share = min(len(replay), math.ceil(len(replay) * recipe.replay_per_epoch))

    def batches(epoch: int) -> list[list[Sample]]:
        start = (epoch * share) % len(replay) if replay else 0
        rotated = (replay[start:] + replay[:start])[:share]
        chosen = approved + rotated
        if recipe.share_prefix:
            return shared_prefix_batches(chosen, batch_tokens=recipe.batch_tokens,
                                         max_batch_examples=recipe.max_batch_examples,
                                         min_shared_prefix=recipe.min_shared_prefix, seed=recipe.seed + epoch)
        return length_grouped_batches(chosen, batch_tokens=recipe.batch_tokens,
                                      max_batch_examples=recipe.max_batch_examples, seed=recipe.seed + epoch)

    epochs = [batches(epoch) for epoch in range(n_epochs)]
    if recipe.max_steps is not None:
        remaining = recipe.max_steps
        cut = []
        for epoch_batches in epochs:
            if remaining <= 0:
                break
            cut.append(epoch_batches[:remaining])
            remaining -= len(cut[-1])
        epochs = cut
    return epochs


def train_adapter(model: torch.nn.Module, samples: list[Sample], recipe: Recipe, *, pad_id: int,
                  on_progress: Progress | None = None, cancel: threading.Event | None = None) -> TrainStats:
    """Train the PEFT model's active adapter in place. Raises TrainingCancelled when `cancel` is set.

    Under `accelerate launch` / `torchrun` (torch.distributed initialised, several processes) each
    process takes every world-th batch and the LoRA gradients (a few MB) are averaged with one
    all-reduce per step: data parallelism without wrapping the model, so the completion-only loss
    path stays the same on one CPU and on eight GPUs.
    """
    if not samples:
        raise ValueError("There is nothing to train on.")
    emit = on_progress or (lambda event: None)
    device = next(p for p in model.parameters()).device
    rank, world = distributed_rank_world()
    epochs = plan_batches(samples, recipe)
    if world > 1:  # equal step counts on every rank, or the all-reduce would wait forever
        epochs = [b[rank:len(b) - len(b) % world:world] if len(b) >= world else b[:1] for b in epochs]
    total = sum(len(b) for b in epochs)
    anchor_started = time.perf_counter()
    anchor: dict[str, TopK] = {}
    if recipe.replay_objective == "distill" and recipe.replay_topk is not None:
        emit({"phase": "anchor", "step": 0, "total": 1, "detail": "the base model's predictions on the replay set"})
        anchor = cache_base_top_k(model, samples, k=recipe.replay_topk, pad_id=pad_id, recipe=recipe)
        memory.release()   # the anchor's logits are gone; hand their pages back before training's own
    anchor_seconds = time.perf_counter() - anchor_started if anchor else 0.0
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    warmup = int(total * recipe.warmup_ratio)

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to 10 %
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor)
    model.train()
    step = tokens = trained_tokens = 0
    epoch_losses: list[float] = []
    learn_loss = replay_term = float("nan")   # per token, over the epoch so far (the last epoch, at the end)
    started = time.perf_counter()
    for epoch, batches in enumerate(epochs):
        epoch_losses = []
        learn_sum = replay_sum = 0.0           # over this epoch: summed per token, and the token counts
        n_learn = n_replay = 0
        for samples_in_batch in batches:
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled("Training was cancelled; no adapter was saved.")
            batch = (collate_best(samples_in_batch, pad_id=pad_id, min_shared_prefix=recipe.min_shared_prefix)
                     if recipe.share_prefix else collate(samples_in_batch, pad_id=pad_id)).to(device)
            objective = training_nll(model, batch, replay_objective=recipe.replay_objective,
                                     replay_weight=recipe.replay_weight,
                                     base_top_k=batch_top_k(anchor, samples_in_batch) if anchor else None)
            loss = objective.total / max(objective.n, 1)
            loss.backward()
            if world > 1:
                _average_gradients(trainable, world)
            torch.nn.utils.clip_grad_norm_(trainable, recipe.max_grad_norm)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad(set_to_none=True)
            step += 1
            tokens += batch.n_tokens
            trained_tokens += batch.n_trained
            epoch_losses.append(float(loss.detach()))
            learn_sum, n_learn = learn_sum + objective.learn, n_learn + objective.n_learn
            replay_sum, n_replay = replay_sum + objective.replay, n_replay + objective.n_replay
            if n_learn:
                learn_loss = learn_sum / n_learn
            if n_replay:
                replay_term = replay_sum / n_replay
            elapsed = time.perf_counter() - started
            # "loss" is what a teacher watches fall: the approved examples' NLL, averaged over the epoch
            # so far (one batch alone jumps with its length; a pure-replay batch has none).
            emit({"phase": "train", "step": step, "total": total, "epoch": epoch + 1, "epochs": len(epochs),
                  "loss": _rounded(learn_loss), "replay_term": _rounded(replay_term),
                  "batch_loss": _rounded(epoch_losses[-1]), "eta_s": round(elapsed / step * (total - step), 1),
                  "tokens_per_s": round(tokens / elapsed, 1) if elapsed > 0 else None})
    model.eval()
    return TrainStats(steps=step, epochs=len(epochs), final_loss=learn_loss,
                      mean_loss_last_epoch=sum(epoch_losses) / len(epoch_losses) if epoch_losses else float("nan"),
                      replay_last_epoch=replay_term, tokens=tokens, trained_tokens=trained_tokens,
                      seconds=time.perf_counter() - started, anchor_seconds=anchor_seconds,
                      anchor_positions=sum(len(t) for t in anchor.values()))


def _rounded(value: float) -> float | None:
    """JSON has no NaN: None until there is a value."""
    return round(value, 5) if math.isfinite(value) else None


def distributed_rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= world


# -- save -----------------------------------------------------------------------------------------

def save_adapter(model: Any, folder: Path, recipe: Recipe, *, adapter_name: str = "default") -> Path:
    """adapter_config.json + adapter_model.safetensors (never a pickle) + recipe.json, fsynced, in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True, selected_adapters=[adapter_name])
    # save_pretrained puts a non-default adapter in a sub-folder named after it; keep the layout flat.
    nested = folder / adapter_name
    if adapter_name != "default" and nested.is_dir():
        for item in nested.iterdir():
            item.replace(folder / item.name)
        nested.rmdir()
    recipe.save(folder)
    for item in folder.iterdir():
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
    return folder
