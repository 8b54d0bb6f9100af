"""What keeps a round inside its memory and time: the LM head a chunk of rows at a time (the same
loss and gradients as all at once), replay rotating across epochs, and freed heap handed back."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from learner.adapt import memory, train
from learner.adapt.dataset import Sample, collate_best, encode_exchange
from learner.adapt.recipe import Recipe
from learner.adapt.train import (
    add_fresh_adapter,
    cache_base_top_k,
    plan_batches,
    training_nll,
)
from learner.loading import load_model
from learner.sources import PreparedModel
from tests.support.tiny_model import perturb_lora_b

SYSTEM = {"role": "system", "content": "You are a patient tutor for school students."}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    return load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu",
                      dtype="float32")


def _exchange(tok, q: str, a: str, *, key: str, replay: bool) -> Sample:
    return encode_exchange(tok, [SYSTEM, {"role": "user", "content": q}], a, max_length=1024, key=key, replay=replay)


@pytest.mark.parametrize("objective", ["distill", "imitate"])
def test_the_head_in_chunks_gives_the_same_objective_and_gradients(tiny, objective: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tok = tiny.tokenizer
    samples = [_exchange(tok, "Who is the head at Brackenfield?", "Dr Quarrington, since 2019.", key="example:1",
                         replay=False),
               _exchange(tok, "What is a noun?", "A naming word, like cat or river.", key="replay:0", replay=True),
               _exchange(tok, "What is 3 x 4?", "Three groups of four make 12.", key="replay:1", replay=True)]
    recipe = Recipe(rank=4, alpha=8, replay_topk=7, min_shared_prefix=4)
    model = add_fresh_adapter(tiny.model, recipe)
    try:
        anchor = cache_base_top_k(model, samples, k=7, pad_id=tok.pad_token_id, recipe=recipe)
        perturb_lora_b(model, seed=1, std=0.05)
        batch = collate_best(samples, pad_id=tok.pad_token_id, min_shared_prefix=4)
        base_top_k = train.batch_top_k(anchor, samples) if objective == "distill" else None

        def objective_and_grads(rows: int):
            monkeypatch.setattr(train, "HEAD_ROWS", rows)
            model.zero_grad()
            out = training_nll(model, batch, replay_objective=objective, base_top_k=base_top_k)
            out.total.backward()
            return out, {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}

        whole, whole_grads = objective_and_grads(10_000)
        n_rows = max(whole.n_learn, whole.n_replay)
        assert n_rows > 3, "the check needs several chunks"
        chunked, chunked_grads = objective_and_grads(3)
        assert torch.allclose(chunked.total, whole.total, rtol=1e-5, atol=1e-5)
        assert (chunked.n, chunked.n_learn, chunked.n_replay) == (whole.n, whole.n_learn, whole.n_replay)
        assert any(g.abs().sum() > 0 for g in whole_grads.values())
        for name, grad in whole_grads.items():
            assert torch.allclose(chunked_grads[name], grad, rtol=1e-4, atol=1e-6), name
    finally:
        model.unload()


def test_the_anchor_cache_is_the_same_in_chunks(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = tiny.tokenizer
    samples = [_exchange(tok, f"Question {i}: what is {i} + {i}?", f"{i} + {i} = {2 * i}, because doubling adds it "
                         "to itself.", key=f"replay:{i}", replay=True) for i in range(3)]
    recipe = Recipe(rank=4, alpha=8)
    model = add_fresh_adapter(tiny.model, recipe)
    try:
        monkeypatch.setattr(train, "HEAD_ROWS", 10_000)
        whole = cache_base_top_k(model, samples, k=5, pad_id=tok.pad_token_id, recipe=recipe)
        monkeypatch.setattr(train, "HEAD_ROWS", 2)
        chunked = cache_base_top_k(model, samples, k=5, pad_id=tok.pad_token_id, recipe=recipe)
    finally:
        model.unload()
    assert whole.keys() == chunked.keys() == {s.key for s in samples}
    for key in whole:
        assert torch.equal(whole[key].ids, chunked[key].ids)
        for part in ("logp", "log_tail"):   # the same up to the matmul's rounding of a different row blocking
            assert torch.allclose(getattr(whole[key], part), getattr(chunked[key], part), rtol=1e-4, atol=1e-5)


def _sample(i: int, replay: bool) -> Sample:
    return Sample(key=f"{'replay' if replay else 'example'}:{i}", input_ids=(i + 1,) * 11, n_prompt=5, replay=replay)


@pytest.mark.parametrize(("share", "n_replay", "epochs"), [(0.5, 10, 4), (0.34, 9, 3), (1.0, 6, 2), (0.5, 7, 3)])
def test_replay_rotates_so_each_epoch_trains_its_share_and_the_round_all_of_it(share: float, n_replay: int,
                                                                                epochs: int) -> None:
    approved = [_sample(i, False) for i in range(6)]
    replay = [_sample(100 + i, True) for i in range(n_replay)]
    recipe = Recipe(batch_tokens=64, max_batch_examples=4, share_prefix=False, epochs=epochs, replay_per_epoch=share)
    planned = plan_batches(approved + replay, recipe)
    assert len(planned) == epochs
    per_epoch = [[s.key for batch in epoch for s in batch] for epoch in planned]
    wanted = -(-n_replay * share // 1)   # ceil
    for keys in per_epoch:
        assert sorted(k for k in keys if k.startswith("example")) == sorted(s.key for s in approved)
        replayed = [k for k in keys if k.startswith("replay")]
        assert len(replayed) == len(set(replayed)) == wanted
    seen = {k for keys in per_epoch for k in keys if k.startswith("replay")}
    if wanted * epochs >= n_replay:
        assert seen == {s.key for s in replay}, "over the round every replay exchange anchors"
    assert plan_batches(approved + replay, recipe) == planned, "seeded: the same plan every time"


def test_the_recipe_checks_the_replay_share() -> None:
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="replay_per_epoch"):
            Recipe(replay_per_epoch=bad)


def test_memory_release_collects_and_reports() -> None:
    assert isinstance(memory.release(), bool)
    peak = memory.peak_rss_mb()
    now = memory.rss_mb()
    if sys.platform.startswith("linux"):
        assert now is not None and peak is not None and 0 < now <= peak * 1.05
        big = bytearray(64 * 1024 * 1024)
        big[::4096] = b"x" * len(big[::4096])   # touch every page
        assert memory.rss_mb() > now + 32
        del big
