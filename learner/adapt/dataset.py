"""From approved examples and the replay set to token batches.

Each exchange becomes the prompt's token ids exactly as the tutor renders them at generation time
(learner.prompts.render_chat: the chat template up to "<|im_start|>assistant\\n") followed by the
completion's ids and the end-of-turn token. Only the completion (and that end token, so the model
learns where to stop) is trained: labels are -100 on every prompt position.

Batches are length-grouped: exchanges of similar length share a batch, filled up to a token budget,
so almost no compute goes to padding.
"""
from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from learner.prompts import render_chat

IGNORE_INDEX = -100  # what torch's cross_entropy (and HF's loss) skip
Split = Literal["train", "heldout"]


def split_for(uid: str, heldout_fraction: float = 0.15) -> Split:
    """A stable split: the same uid lands in the same split in every round and on every machine
    (a hash, not Python's randomised hash()), so a held-out example never trains."""
    digest = hashlib.sha256(f"tutorloop-split:{uid}".encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "heldout" if position < heldout_fraction else "train"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One tokenised exchange. `n_prompt` leading tokens are context; the rest is trained."""
    key: str                       # "example:12" or "replay:7": for logs and per-slice losses
    input_ids: tuple[int, ...]
    n_prompt: int
    example_id: int | None = None
    replay: bool = False           # a replay exchange: may train as an anchor to the base (Recipe.replay_objective)

    @property
    def n_completion(self) -> int:
        return len(self.input_ids) - self.n_prompt

    def labels(self) -> list[int]:
        return [IGNORE_INDEX] * self.n_prompt + list(self.input_ids[self.n_prompt:])


def end_of_turn_id(tokenizer: Any) -> int:
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id and im_end is not None:
        return im_end
    if tokenizer.eos_token_id is None:
        raise ValueError("The tokenizer has neither <|im_end|> nor an end-of-sequence token.")
    return int(tokenizer.eos_token_id)


def encode_exchange(tokenizer: Any, prompt: Sequence[dict[str, str]], completion: str, *, max_length: int,
                    key: str = "", example_id: int | None = None, replay: bool = False) -> Sample:
    """Prompt ids as generation sees them + completion ids + end of turn; too long → the start of the
    prompt goes first (the system prompt is the least specific part), then the completion's tail."""
    prompt_ids = render_chat(tokenizer, [dict(m) for m in prompt])
    completion_ids = list(tokenizer.encode(completion, add_special_tokens=False)) + [end_of_turn_id(tokenizer)]
    if len(completion_ids) > max_length - 1:
        completion_ids = completion_ids[:max_length - 1]
    room = max_length - len(completion_ids)
    if len(prompt_ids) > room:
        prompt_ids = prompt_ids[len(prompt_ids) - room:]
    return Sample(key=key, input_ids=tuple(prompt_ids + completion_ids), n_prompt=len(prompt_ids),
                  example_id=example_id, replay=replay)


def length_grouped_batches(samples: Sequence[Sample], *, batch_tokens: int, max_batch_examples: int,
                           seed: int | None = None) -> list[list[Sample]]:
    """Sort by length, cut into batches whose padded size (n × longest) stays within `batch_tokens`,
    then shuffle the batch order (seeded) so training does not see short-to-long every epoch."""
    ordered = sorted(samples, key=lambda s: len(s.input_ids))
    batches: list[list[Sample]] = []
    current: list[Sample] = []
    for sample in ordered:
        longest = len(sample.input_ids)  # sorted ascending: the newcomer is the longest
        if current and ((len(current) + 1) * longest > batch_tokens or len(current) >= max_batch_examples):
            batches.append(current)
            current = []
        current.append(sample)
    if current:
        batches.append(current)
    if seed is not None:
        random.Random(seed).shuffle(batches)
    return batches


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    input_ids: torch.Tensor       # [B, T] right-padded (or [1, T] packed)
    attention_mask: torch.Tensor  # [B, T]; packed: [1, 1, T, T] boolean (True = may attend)
    labels: torch.Tensor          # [B, T], IGNORE_INDEX on prompt and padding
    n_tokens: int                 # tokens actually computed (padding excluded)
    n_trained: int                # completion tokens (positions with a loss)
    position_ids: torch.Tensor | None = None   # packed batches restart positions per segment
    replay: torch.Tensor | None = None         # [B, T] bool: the token belongs to a replay sample

    def to(self, device: str | torch.device) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Batch(input_ids=self.input_ids.to(device), attention_mask=self.attention_mask.to(device),
                     labels=self.labels.to(device), n_tokens=self.n_tokens, n_trained=self.n_trained,
                     position_ids=move(self.position_ids), replay=move(self.replay))


def collate(samples: Sequence[Sample], *, pad_id: int) -> Batch:
    width = max(len(s.input_ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE_INDEX, dtype=torch.long)
    replay = torch.zeros((len(samples), width), dtype=torch.bool)
    for row, sample in enumerate(samples):
        n = len(sample.input_ids)
        ids[row, :n] = torch.tensor(sample.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(sample.labels())
        replay[row, :n] = sample.replay
    return Batch(input_ids=ids, attention_mask=mask, labels=labels,
                 n_tokens=sum(len(s.input_ids) for s in samples), n_trained=sum(s.n_completion for s in samples),
                 replay=replay)


# -- shared-prefix packing -------------------------------------------------------------------------
# Approved examples of one class share a long start: the system prompt and the mode's instructions
# (~150 tokens) before a ~15-token question and a ~30-token answer. Packing them as
#     [shared prefix][question 1 + answer 1][question 2 + answer 2]...
# with a mask that lets each segment see the prefix and itself only (and positions that continue
# from the prefix in every segment) computes exactly what separate examples would, but runs the
# prefix once per batch instead of once per example.

def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def shared_prefix(samples: Sequence[Sample]) -> int:
    """Tokens all samples share at the start, short of every sample's whole prompt: each packed
    segment keeps at least its prompt's last token, from which its first answer token is predicted
    (two samples with the same prompt would otherwise predict it from the segment before)."""
    p = min(s.n_prompt for s in samples) - 1
    first = samples[0].input_ids
    for s in samples[1:]:
        p = min(p, common_prefix_length(first, s.input_ids))
    return p


def pack_shared_prefix(samples: Sequence[Sample], *, prefix: int | None = None) -> Batch:
    p = shared_prefix(samples) if prefix is None else prefix
    ids: list[int] = list(samples[0].input_ids[:p])
    labels: list[int] = [IGNORE_INDEX] * p
    positions: list[int] = list(range(p))
    replay: list[bool] = [False] * p   # the prefix carries no labels
    spans: list[tuple[int, int]] = []
    for s in samples:
        start = len(ids)
        ids += s.input_ids[p:]
        labels += s.labels()[p:]
        positions += range(p, len(s.input_ids))
        replay += [s.replay] * (len(s.input_ids) - p)
        spans.append((start, len(ids)))
    total = len(ids)
    allowed = torch.zeros((total, total), dtype=torch.bool)
    allowed[:p, :p] = torch.ones((p, p), dtype=torch.bool).tril()
    for start, end in spans:
        allowed[start:end, :p] = True
        allowed[start:end, start:end] = torch.ones((end - start, end - start), dtype=torch.bool).tril()
    return Batch(input_ids=torch.tensor([ids]), attention_mask=allowed[None, None], labels=torch.tensor([labels]),
                 n_tokens=total, n_trained=sum(s.n_completion for s in samples),
                 position_ids=torch.tensor([positions]), replay=torch.tensor([replay]))


def collate_best(samples: Sequence[Sample], *, pad_id: int, min_shared_prefix: int) -> Batch:
    """Packed when the samples share a long enough prefix (and there are several), else padded."""
    if len(samples) > 1 and shared_prefix(samples) >= min_shared_prefix:
        return pack_shared_prefix(samples)
    return collate(samples, pad_id=pad_id)


def shared_prefix_batches(samples: Sequence[Sample], *, batch_tokens: int, max_batch_examples: int,
                          min_shared_prefix: int, seed: int | None = None) -> list[list[Sample]]:
    """Samples sorted by their tokens (shared starts become neighbours) are packed greedily while the
    packed length stays within `batch_tokens`; the ones that share nothing are length-grouped."""
    ordered = sorted(samples, key=lambda s: s.input_ids)
    groups: list[list[Sample]] = []
    current: list[Sample] = []
    prefix = 0
    for sample in ordered:
        if current:
            p = min(prefix, common_prefix_length(current[0].input_ids, sample.input_ids), sample.n_prompt - 1)
            packed = p + sum(len(x.input_ids) - p for x in current) + len(sample.input_ids) - p
            if p >= min_shared_prefix and packed <= batch_tokens and len(current) < max_batch_examples:
                current.append(sample)
                prefix = p
                continue
            groups.append(current)
        current, prefix = [sample], sample.n_prompt - 1
    if current:
        groups.append(current)
    packed_groups = [g for g in groups if len(g) > 1]
    alone = [g[0] for g in groups if len(g) == 1]
    batches = packed_groups + length_grouped_batches(alone, batch_tokens=batch_tokens,
                                                     max_batch_examples=max_batch_examples)
    if seed is not None:
        random.Random(seed).shuffle(batches)
    return batches


def _evenly(samples: list[Sample], limit: int | None) -> list[Sample]:
    """At most `limit` samples, evenly spaced, so every subject and mode (in file order) is represented."""
    if limit is None or limit >= len(samples):
        return list(samples)
    step = len(samples) / limit
    return [samples[int(i * step)] for i in range(limit)]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundData:
    train: list[Sample]                  # approved (train split) + replay (training share)
    heldout: list[Sample]                # approved, held-out split: never trained
    replay_eval: list[Sample]            # replay exchanges the replay loss is measured on
    train_example_ids: list[int]
    heldout_example_ids: list[int]
    n_replay_train: int
    examples_approved_until: str | None


def build_round_data(examples: Iterable[Any], replay: Sequence[Any], tokenizer: Any, *, max_length: int,
                     heldout_fraction: float, replay_train_limit: int | None = None,
                     replay_eval_limit: int | None = None, replay_per_example: float | None = None,
                     replay_min: int = 0) -> RoundData:
    """`examples`: storage.review.TrainingExample rows (uid, prompt, completion, approved_at, id);
    `replay`: learner.replay.ReplayExample (prompt_messages, completion)."""
    train: list[Sample] = []
    heldout: list[Sample] = []
    train_ids: list[int] = []
    heldout_ids: list[int] = []
    newest: str | None = None
    for ex in examples:
        sample = encode_exchange(tokenizer, ex.prompt, ex.completion, max_length=max_length,
                                 key=f"example:{ex.id}", example_id=ex.id)
        if split_for(ex.uid, heldout_fraction) == "heldout":
            heldout.append(sample)
            heldout_ids.append(ex.id)
        else:
            train.append(sample)
            train_ids.append(ex.id)
        newest = max(newest or ex.approved_at, ex.approved_at)
    replay_samples = [encode_exchange(tokenizer, r.prompt_messages, r.completion, max_length=max_length,
                                      key=f"replay:{i}", replay=True) for i, r in enumerate(replay)]
    # The replay loss measures forgetting on exchanges this round does not train on: an evenly spaced
    # `replay_eval_limit` is set aside first, the rest trains: all of it, or at most
    # `replay_train_limit`, and at most `replay_per_example` per approved training example (but at
    # least `replay_min`), so a small round is not drowned in (and slowed by) replay.
    # With no limit every exchange is measured, and (nothing being left) every exchange also trains.
    replay_eval = _evenly(replay_samples, replay_eval_limit)
    eval_keys = {s.key for s in replay_eval}
    rest = [s for s in replay_samples if s.key not in eval_keys] or replay_samples
    limit = replay_train_limit
    if replay_per_example is not None:   # in proportion to what this round learns, at least replay_min
        share = max(replay_min, math.ceil(replay_per_example * len(train)))
        limit = share if limit is None else min(limit, share)
    replay_train = _evenly(rest, limit)
    return RoundData(train=train + replay_train, heldout=heldout, replay_eval=replay_eval,
                     train_example_ids=train_ids, heldout_example_ids=heldout_ids, n_replay_train=len(replay_train),
                     examples_approved_until=newest)


def round_data_for(recipe: Any, examples: Iterable[Any], replay: Sequence[Any], tokenizer: Any, *,
                   context_window: int) -> RoundData:
    """build_round_data with a Recipe's settings (learner.adapt.recipe.Recipe)."""
    return build_round_data(examples, replay, tokenizer, max_length=min(recipe.max_length, context_window),
                            heldout_fraction=recipe.heldout_fraction, replay_train_limit=recipe.replay_train_limit,
                            replay_eval_limit=recipe.replay_eval_limit,
                            replay_per_example=recipe.replay_per_example, replay_min=recipe.replay_min)
