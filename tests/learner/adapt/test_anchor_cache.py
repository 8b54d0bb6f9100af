"""The replay anchor cached once per round as the base's top-k per position, and training with a
bf16 base (where the CPU multiplies bf16 natively, else fp32) and fp32 LoRA weights."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from learner.adapt import train as train_module
from learner.adapt.anchor import TopK, batch_top_k, top_k_kl, top_k_of
from learner.adapt.dataset import collate, collate_best, encode_exchange
from learner.adapt.recipe import Recipe
from learner.adapt.train import (
    add_fresh_adapter,
    cache_base_top_k,
    cpu_multiplies_bf16,
    train_adapter,
    training_dtype,
    training_nll,
)
from learner.loading import load_model
from learner.sources import PreparedModel
from tests.support.tiny_model import perturb_lora_b

SYSTEM = {"role": "system", "content": "You are a patient tutor for school students."}


def _load(model_dir: Path, dtype: str):
    return load_model(PreparedModel(model_id=model_dir.name, path=model_dir), device="cpu", dtype=dtype)


@pytest.fixture(scope="module")
def fp32(tiny_model_dir: Path):
    return _load(tiny_model_dir, "float32")


def _samples(tok):
    def one(q: str, a: str, *, replay: bool, key: str):
        return encode_exchange(tok, [SYSTEM, {"role": "user", "content": q}], a, max_length=1024, key=key,
                               replay=replay)

    return [one("Who is the head?", "Dr Quarrington.", replay=False, key="example:1"),
            one("What is a noun?", "A naming word, like cat.", replay=True, key="replay:0"),
            one("What is 3 x 4?", "Three groups of four make 12.", replay=True, key="replay:1")]


def _full_kl(base_logits: torch.Tensor, adapted_logits: torch.Tensor) -> torch.Tensor:
    base = F.log_softmax(base_logits.float(), -1)
    return F.kl_div(F.log_softmax(adapted_logits.float(), -1), base, log_target=True, reduction="sum")


def test_top_k_kl_is_exact_at_k_vocab_and_a_lower_bound_below() -> None:
    torch.manual_seed(0)
    base, adapted = torch.randn(7, 50) * 3, torch.randn(7, 50) * 3
    full = _full_kl(base, adapted)
    assert torch.allclose(top_k_kl(adapted, top_k_of(base, 50)), full, rtol=1e-5, atol=1e-5)
    bounds = [float(top_k_kl(adapted, top_k_of(base, k))) for k in (1, 5, 20, 49)]
    assert all(b <= float(full) + 1e-5 for b in bounds), (bounds, float(full))
    assert bounds[-1] > bounds[0]                           # more of the distribution, closer to the full KL
    summary = top_k_of(base, 5)
    mass = summary.logp.exp().sum(-1) + summary.log_tail.exp()
    assert torch.allclose(mass, torch.ones(7), atol=1e-5)   # top k + tail = the whole distribution
    assert torch.isinf(top_k_of(base, 50).log_tail).all()   # no tail at k = vocab


def test_the_top_k_kl_gradient_is_finite_and_matches_the_full_kl_at_k_vocab() -> None:
    torch.manual_seed(0)
    base = torch.randn(4, 30)
    adapted = torch.randn(4, 30, requires_grad=True)
    top_k_kl(adapted, top_k_of(base, 30)).backward()
    cached = adapted.grad.clone()
    adapted.grad = None
    _full_kl(base, adapted).backward()
    assert torch.isfinite(cached).all() and torch.allclose(cached, adapted.grad, atol=1e-5)


@pytest.mark.parametrize("packed", [False, True])
def test_the_cached_anchor_equals_the_second_forward_at_k_vocab(fp32, packed) -> None:
    samples = _samples(fp32.tokenizer)
    vocab = fp32.model.get_output_embeddings().weight.shape[0]
    recipe = Recipe(rank=4, alpha=8, dropout=0.0, min_shared_prefix=4 if packed else 10**6)
    model = add_fresh_adapter(fp32.model, recipe)
    try:
        cache = cache_base_top_k(model, samples, k=vocab, pad_id=0, recipe=recipe)
        assert set(cache) == {"replay:0", "replay:1"}
        assert [len(cache[s.key]) for s in samples[1:]] == [s.n_completion for s in samples[1:]]
        perturb_lora_b(model, seed=1, std=0.05)
        model.eval()
        batch = collate_best(samples, pad_id=0, min_shared_prefix=recipe.min_shared_prefix)
        assert (batch.position_ids is not None) == packed
        with torch.no_grad():
            forward = training_nll(model, batch, replay_objective="distill")
            cached = training_nll(model, batch, replay_objective="distill", base_top_k=batch_top_k(cache, samples))
            top20 = training_nll(model, batch, replay_objective="distill",
                                 base_top_k=batch_top_k(cache_base_top_k(model, samples, k=20, pad_id=0,
                                                                         recipe=recipe), samples))
        assert forward.replay > 1e-4
        assert cached.replay == pytest.approx(forward.replay, rel=1e-3, abs=1e-5)
        assert float(cached.total) == pytest.approx(float(forward.total), rel=1e-4)
        assert 0.0 <= top20.replay <= forward.replay + 1e-5     # the top-20 summary bounds it from below
    finally:
        model.unload()


def test_a_cache_that_does_not_fit_the_batch_is_refused(fp32) -> None:
    samples = _samples(fp32.tokenizer)
    model = add_fresh_adapter(fp32.model, Recipe(rank=4, alpha=8, dropout=0.0))
    try:
        wrong = TopK(ids=torch.zeros((3, 2), dtype=torch.long), logp=torch.zeros((3, 2)), log_tail=torch.zeros(3))
        with torch.no_grad(), pytest.raises(ValueError, match="replay tokens"):
            training_nll(model, collate(samples, pad_id=0), base_top_k=wrong)
    finally:
        model.unload()


def test_a_bf16_base_trains_fp32_lora_weights_with_the_cached_anchor(tiny_model_dir: Path) -> None:
    recipe = Recipe(rank=4, alpha=8, dropout=0.0, learning_rate=3e-3, epochs=3, warmup_ratio=0.0,
                    base_dtype="bfloat16")
    assert training_dtype(recipe, "cpu") == "bfloat16"
    loaded = _load(tiny_model_dir, training_dtype(recipe, "cpu"))
    model = add_fresh_adapter(loaded.model, recipe)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert trainable and all("lora_" in n and p.dtype == torch.float32 for n, p in trainable.items())
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    events: list[dict] = []
    stats = train_adapter(model, _samples(loaded.tokenizer), recipe, pad_id=0, on_progress=events.append)
    assert any(e["phase"] == "anchor" for e in events)
    assert stats.anchor_positions == sum(s.n_completion for s in _samples(loaded.tokenizer) if s.replay)
    assert all(p.dtype == torch.float32 for p in trainable.values())
    assert any(not torch.equal(before[n], p) for n, p in trainable.items() if "lora_B" in n)
    assert stats.final_loss == stats.final_loss and stats.replay_last_epoch >= 0.0   # finite, not NaN


def test_the_recipe_validates_the_anchor_and_dtype_settings() -> None:
    assert Recipe().replay_topk == 20 and Recipe().base_dtype == "auto"
    assert Recipe(replay_topk=None).replay_topk is None
    with pytest.raises(ValueError, match="replay_topk"):
        Recipe(replay_topk=0)
    with pytest.raises(ValueError, match="base_dtype"):
        Recipe(base_dtype="float16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_base_dtype_is_bf16_only_where_the_cpu_multiplies_it_natively(monkeypatch, native: bool) -> None:
    # On an AVX2-only CPU torch's bf16 backward products run 50x slower than fp32: a round there
    # trained at 1 token/s. An explicit base_dtype is kept whatever the CPU.
    monkeypatch.setattr(train_module, "cpu_multiplies_bf16", lambda: native)
    assert training_dtype(Recipe(), "cpu") == ("bfloat16" if native else "float32")
    assert training_dtype(Recipe(), "mps") == "float32"
    assert training_dtype(Recipe(base_dtype="bfloat16"), "cpu") == "bfloat16"
    assert training_dtype(Recipe(base_dtype="float32"), "cpu") == "float32"


def test_the_cpu_check_agrees_with_torch_own_capability() -> None:
    # oneDNN's bf16 kernels need AVX-512 (bw, vl, dq): an AVX2 or plainer x86 CPU never has them.
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("DEFAULT", "AVX2"):
        assert cpu_multiplies_bf16() is False
    elif capability.startswith("AVX512"):
        assert cpu_multiplies_bf16() is True
    else:
        pytest.skip(f"no expectation for CPU capability {capability}")
