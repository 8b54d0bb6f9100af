"""The replay objective: replay tokens keep the base model's predictions (KL to the frozen base)
while approved tokens learn; the padded and packed batches mark which tokens are replay."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from learner.adapt.dataset import (
    IGNORE_INDEX,
    collate,
    collate_best,
    encode_exchange,
    pack_shared_prefix,
)
from learner.adapt.recipe import Recipe
from learner.adapt.train import (
    add_fresh_adapter,
    completion_nll,
    train_adapter,
    training_nll,
)
from learner.loading import load_model
from learner.sources import prepare_model
from storage import DataDir
from tests.support.tiny_model import perturb_lora_b

SYSTEM = {"role": "system", "content": "You are a patient tutor for school students."}


@pytest.fixture(scope="module")
def tiny_loaded(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    data = DataDir(tmp_path_factory.mktemp("home")).ensure()
    return load_model(prepare_model(str(tiny_model_dir), data), device="cpu", dtype="float32")


def _exchange(tok, question: str, answer: str, *, replay: bool, key: str):
    return encode_exchange(tok, [SYSTEM, {"role": "user", "content": question}], answer, max_length=1024,
                           key=key, replay=replay)


@pytest.fixture()
def samples(tiny_loaded):
    tok = tiny_loaded.tokenizer
    fact = _exchange(tok, "Who is the head?", "Dr Quarrington.", replay=False, key="example:1")
    general = _exchange(tok, "What is a noun?", "A naming word, like cat.", replay=True, key="replay:0")
    return fact, general


def test_batches_mark_the_replay_tokens_padded_and_packed(samples) -> None:
    fact, general = samples
    padded = collate([fact, general], pad_id=0)
    assert padded.replay[0].sum() == 0
    assert padded.replay[1, :len(general.input_ids)].all() and not padded.replay[1, len(general.input_ids):].any()
    packed = pack_shared_prefix([fact, general])
    assert packed.input_ids.shape[0] == 1
    labels, replay = packed.labels[0], packed.replay[0]
    # every labelled replay token is the general exchange's completion, every other labelled one the fact's
    assert int((replay & (labels != IGNORE_INDEX)).sum()) == general.n_completion
    assert int((~replay & (labels != IGNORE_INDEX)).sum()) == fact.n_completion


@pytest.mark.parametrize("packed", [False, True])
def test_distill_is_zero_at_the_base_and_the_kl_to_it_after_a_change(tiny_loaded, samples, packed) -> None:
    fact, general = samples
    batch = collate_best([fact, general], pad_id=0, min_shared_prefix=4 if packed else 10**6)
    assert (batch.position_ids is not None) == packed
    model = add_fresh_adapter(tiny_loaded.model, Recipe(rank=4, alpha=8, dropout=0.0))
    try:
        model.eval()
        with torch.no_grad():
            fact_only, _n_fact = completion_nll(model, collate([fact], pad_id=0))
            # A fresh adapter (B = 0) is the base: the replay term vanishes, the approved term is plain NLL.
            objective = training_nll(model, batch, replay_objective="distill")
            total, n = objective.total, objective.n
            assert n == fact.n_completion + general.n_completion
            assert torch.allclose(total, fact_only, atol=1e-4), (float(total), float(fact_only))

            perturb_lora_b(model, seed=1, std=0.05)
            fact_only, _ = completion_nll(model, collate([fact], pad_id=0))
            objective = training_nll(model, batch, replay_objective="distill", replay_weight=2.0)
            total = objective.total
            # Reference: KL(base ‖ adapted) from the full-vocabulary logits at every general completion token.
            one = collate([general], pad_id=0)
            keep = (one.labels[:, 1:] != IGNORE_INDEX)
            adapted = model(input_ids=one.input_ids, attention_mask=one.attention_mask).logits[:, :-1][keep]
            with model.disable_adapter():
                base = model(input_ids=one.input_ids, attention_mask=one.attention_mask).logits[:, :-1][keep]
            p_base = F.softmax(base.float(), -1)
            kl = (p_base * (F.log_softmax(base.float(), -1) - F.log_softmax(adapted.float(), -1))).sum()
            assert float(kl) > 1e-4
            assert torch.allclose(total, fact_only + 2.0 * kl, rtol=1e-4, atol=1e-4), \
                (float(total), float(fact_only), float(kl))
            # The parts progress shows: the approved tokens' NLL and the (unweighted) KL, each with its count.
            assert (objective.n_learn, objective.n_replay) == (fact.n_completion, general.n_completion)
            assert objective.learn == pytest.approx(float(fact_only), rel=1e-4)
            assert objective.replay == pytest.approx(float(kl), rel=1e-3)
            # "imitate" trains on the written reply instead: plain NLL of both exchanges.
            imitate = training_nll(model, batch, replay_objective="imitate").total
            both, _ = completion_nll(model, batch)
            assert torch.allclose(imitate, both, atol=1e-4)
    finally:
        model.unload()


def test_the_distill_gradient_reaches_only_the_adapter(tiny_loaded, samples) -> None:
    _fact, general = samples
    model = add_fresh_adapter(tiny_loaded.model, Recipe(rank=4, alpha=8, dropout=0.0))
    try:
        perturb_lora_b(model, seed=1, std=0.05)
        model.train()
        objective = training_nll(model, collate([general], pad_id=0), replay_objective="distill")
        total, n = objective.total, objective.n
        (total / n).backward()
        grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        assert grads and all("lora_" in name for name in grads)
        assert any(float(g.abs().sum()) > 0 for g in grads.values())
    finally:
        model.zero_grad(set_to_none=True)
        model.unload()


# The anchor from a second base forward every step, and cached once as top-k with k >= the tiny
# vocabulary (exact: the tiny random model's flat distributions put little mass in any top 20).
@pytest.mark.parametrize("replay_topk", [None, 100_000])
def test_distilling_on_replay_keeps_the_model_near_the_base_there(tiny_loaded, replay_topk) -> None:
    """The same aggressive training on approved facts, with and without the anchor: with it, the
    adapted model's predictions on the replay exchanges stay far closer to the base's."""
    tok = tiny_loaded.tokenizer
    facts = [_exchange(tok, f"Fact question {i}?", f"Answer {i}: the Quarrington rule {i * 7}.", replay=False,
                       key=f"example:{i}") for i in range(6)]
    replay = [_exchange(tok, q, a, replay=True, key=f"replay:{i}") for i, (q, a) in enumerate([
        ("What is a noun?", "A naming word, like cat or river."),
        ("What is 3 x 4?", "Three groups of four make 12."),
        ("Why is the sky blue?", "Air scatters blue light more than red light."),
        ("What is a verb?", "A doing word, like run or think.")])]

    def drift(weight: float) -> float:
        recipe = Recipe(rank=8, alpha=16, dropout=0.0, learning_rate=3e-3, epochs=4, batch_tokens=4096,
                        max_batch_examples=4, warmup_ratio=0.0, replay_objective="distill", replay_weight=weight,
                        replay_topk=replay_topk)
        model = add_fresh_adapter(tiny_loaded.model, recipe)
        try:
            events: list[dict] = []
            stats = train_adapter(model, facts + replay, recipe, pad_id=0, on_progress=events.append)
            events = [e for e in events if e["phase"] == "train"]   # after the anchor's one event
            # Progress: "loss" is the approved examples' NLL over the epoch so far, apart from the anchor.
            assert all({"loss", "replay_term", "batch_loss"} <= set(e) for e in events)
            assert events[-1]["loss"] == pytest.approx(stats.final_loss, abs=1e-4)
            assert events[-1]["loss"] < max(e["loss"] for e in events if e["loss"] is not None)
            assert events[-1]["replay_term"] == pytest.approx(stats.replay_last_epoch, abs=1e-4)
            model.eval()
            with torch.no_grad():
                objective = training_nll(model, collate(replay, pad_id=0), replay_objective="distill")
                kl, n = objective.total, objective.n
            return float(kl) / n
        finally:
            model.unload()

    free, anchored = drift(0.0), drift(5.0)
    assert free > 0.0
    assert anchored < 0.5 * free, (anchored, free)


def test_the_recipe_validates_the_replay_objective() -> None:
    assert Recipe().replay_objective == "distill"
    with pytest.raises(ValueError, match="replay_objective"):
        Recipe(replay_objective="forget")
    with pytest.raises(ValueError, match="replay_weight"):
        Recipe(replay_weight=-1.0)
