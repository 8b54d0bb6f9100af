"""Greedy replies from prompt token ids, several prompts at a time, with plain `model.generate`.

Used inside the training subprocess (paraphrases before training, held-out answers for the
bleeding check after it), where the model is a transformers / PEFT model already in memory; chat
serving has its own engines (learner.engine). Prompts are left-padded so every row's reply starts
at the same column; a batch of 8 short prompts costs little more than one on a CPU.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from learner.adapt.dataset import end_of_turn_id


def stop_ids(tokenizer: Any) -> list[int]:
    ids = {end_of_turn_id(tokenizer)}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def greedy_replies(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                   batch_size: int = 8, sampled: tuple[float, int] | None = None) -> list[str]:
    """The greedy continuation of each prompt (token ids ending where the assistant's reply starts),
    decoded without special tokens, in the order given; with `sampled` = (temperature, seed),
    sampled instead (top-p 0.95), reproducibly: the seed is set before each batch."""
    return [tokenizer.decode(ids, skip_special_tokens=True).strip()
            for ids in greedy_token_ids(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                        batch_size=batch_size, sampled=sampled)]


@torch.inference_mode()
def greedy_token_ids(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                     batch_size: int = 8, sampled: tuple[float, int] | None = None) -> list[list[int]]:
    """The greedy (or `sampled`: see greedy_replies) continuations' token ids, up to and including a
    stop token, padding dropped."""
    if not prompts:
        return []
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))   # similar lengths share a batch
    stops = stop_ids(tokenizer)
    replies: dict[int, list[int]] = {}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(prompts[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                n = len(prompts[i])
                ids[row, width - n:] = torch.tensor(list(prompts[i]), dtype=torch.long)
                mask[row, width - n:] = 1
            if sampled is not None:
                torch.manual_seed(sampled[1])
                how = {"do_sample": True, "temperature": sampled[0], "top_p": 0.95, "top_k": None}
            else:
                how = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=pad, **how)
            for row, i in enumerate(chunk):
                ids_out = out[row, width:].tolist()
                end = next((j + 1 for j, t in enumerate(ids_out) if t in stops), len(ids_out))
                replies[i] = ids_out[:end]   # a finished row is padded while the others go on
    finally:
        model.train(was_training)
    return [replies[i] for i in range(len(prompts))]
