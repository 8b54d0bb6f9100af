"""Dataset building, completion-only masking, the stable held-out split, length-grouped batches,
and the completion-only LM head against the model's own full loss."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import torch

from learner.adapt.dataset import (
    IGNORE_INDEX,
    Sample,
    build_round_data,
    collate,
    encode_exchange,
    end_of_turn_id,
    length_grouped_batches,
    split_for,
)
from learner.adapt.recipe import Recipe
from learner.adapt.train import (
    add_fresh_adapter,
    completion_nll,
    full_lm_loss,
    plan_batches,
    save_adapter,
)
from learner.loading import load_model
from learner.prompts import render_chat
from learner.replay import load_replay
from learner.sources import prepare_model
from storage import Database, DataDir
from storage.review import list_examples
from tests.support.tiny_model import perturb_lora_b


@pytest.fixture(scope="module")
def tiny_loaded(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    data = DataDir(tmp_path_factory.mktemp("home")).ensure()
    return load_model(prepare_model(str(tiny_model_dir), data), device="cpu", dtype="float32")


PROMPT = [{"role": "system", "content": "You are a tutor."}, {"role": "user", "content": "What is 2 + 2?"}]


def test_the_prompt_part_is_masked_and_the_completion_with_its_end_token_is_trained(tiny_loaded) -> None:
    tok = tiny_loaded.tokenizer
    sample = encode_exchange(tok, PROMPT, "2 + 2 = 4.", max_length=1024)
    prompt_ids = render_chat(tok, PROMPT)
    assert list(sample.input_ids[:sample.n_prompt]) == prompt_ids           # exactly what generation sees
    labels = sample.labels()
    assert labels[:sample.n_prompt] == [IGNORE_INDEX] * len(prompt_ids)
    completion = labels[sample.n_prompt:]
    assert IGNORE_INDEX not in completion
    assert completion[-1] == end_of_turn_id(tok)                            # it learns where to stop
    assert tok.decode(completion[:-1]) == "2 + 2 = 4."


def test_changing_a_prompt_token_does_not_change_which_positions_are_trained(tiny_loaded) -> None:
    tok = tiny_loaded.tokenizer
    a = encode_exchange(tok, PROMPT, "Four.", max_length=1024)
    b = encode_exchange(tok, [PROMPT[0], {"role": "user", "content": "What is 2 + 3?"}], "Four.", max_length=1024)
    assert a.input_ids != b.input_ids
    trained = lambda s: [i for i, v in enumerate(s.labels()) if v != IGNORE_INDEX]
    assert trained(a) == trained(b)
    assert [a.labels()[i] for i in trained(a)] == [b.labels()[i] for i in trained(b)]


def test_too_long_examples_lose_the_start_of_the_prompt_not_the_completion(tiny_loaded) -> None:
    tok = tiny_loaded.tokenizer
    long_prompt = [{"role": "user", "content": "word " * 400}]
    sample = encode_exchange(tok, long_prompt, "Short answer.", max_length=64)
    assert len(sample.input_ids) == 64
    assert tok.decode([t for t in sample.labels() if t != IGNORE_INDEX][:-1]) == "Short answer."


def test_the_split_is_stable_and_holds_out_about_fifteen_percent() -> None:
    uids = [str(uuid.UUID(int=i)) for i in range(1000)]
    first = [split_for(u) for u in uids]
    assert first == [split_for(u) for u in uids]                 # same uid, same split, every time
    share = first.count("heldout") / len(uids)
    assert 0.12 <= share <= 0.18, share
    assert split_for("x", 0.0) == "train"


def test_the_split_does_not_depend_on_the_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "from learner.adapt.dataset import split_for; print(''.join(split_for(str(i))[0] for i in range(200)))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=Path(__file__).parents[3]).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1   # Python's randomised hash() would differ between these


def _sample(n: int, key: str) -> Sample:
    return Sample(key=key, input_ids=tuple(range(n)), n_prompt=n // 2)


def test_length_grouped_batches_cover_every_sample_once_within_the_token_budget() -> None:
    samples = [_sample(n, f"s{i}") for i, n in enumerate([10, 300, 12, 280, 11, 290, 50, 60])]
    batches = length_grouped_batches(samples, batch_tokens=600, max_batch_examples=8, seed=1)
    flat = sorted(s.key for b in batches for s in b)
    assert flat == sorted(s.key for s in samples)
    for batch in batches:
        assert len(batch) * max(len(s.input_ids) for s in batch) <= 600
    padded = sum(len(b) * max(len(s.input_ids) for s in b) for b in batches)
    real = sum(len(s.input_ids) for s in samples)
    # Similar lengths together: far less padding than batching in arrival order (same batch sizes).
    in_order, i = 0, 0
    for b in batches:
        chunk = samples[i:i + len(b)]
        in_order += len(chunk) * max(len(s.input_ids) for s in chunk)
        i += len(b)
    assert padded / real < 1.2
    assert padded < in_order


def test_collate_pads_right_and_masks_padding(tiny_loaded) -> None:
    batch = collate([_sample(4, "a"), _sample(7, "b")], pad_id=0)
    assert batch.input_ids.shape == (2, 7)
    assert batch.attention_mask[0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert batch.labels[0, 4:].tolist() == [IGNORE_INDEX] * 3
    assert batch.n_tokens == 11 and batch.n_trained == 2 + 4


def test_completion_only_head_gives_the_same_loss_as_the_full_computation(tiny_loaded) -> None:
    tok = tiny_loaded.tokenizer
    samples = [encode_exchange(tok, PROMPT, "2 + 2 = 4.", max_length=1024),
               encode_exchange(tok, [{"role": "user", "content": "Name a fraction."}], "3/4 is a fraction; the "
                               "numerator counts parts.", max_length=1024)]
    batch = collate(samples, pad_id=tok.pad_token_id)
    model = add_fresh_adapter(tiny_loaded.model, Recipe(rank=4, alpha=8, dropout=0.0))
    try:
        # Make the adapter non-trivial (fresh LoRA starts at B = 0) so both paths include it.
        perturb_lora_b(model, seed=0, std=0.05)
        model.eval()
        nll, n = completion_nll(model, batch)
        fast = nll / n
        full = full_lm_loss(model, batch)
        assert n == batch.n_trained
        assert torch.allclose(fast, full, atol=1e-5), (float(fast), float(full))
        # and the gradients agree too (what training actually uses)
        fast.backward()
        grads_fast = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
        model.zero_grad()
        full_lm_loss(model, batch).backward()
        for k, p in model.named_parameters():
            if p.requires_grad:
                assert torch.allclose(grads_fast[k], p.grad, atol=1e-6), k
    finally:
        model.unload()


def test_round_data_splits_examples_and_measures_replay_on_unseen_exchanges(db: Database, approved: int,
                                                                            replay_file: Path, tiny_loaded) -> None:
    examples = list_examples(db)
    data = build_round_data(examples, load_replay(replay_file), tiny_loaded.tokenizer, max_length=2048,
                            heldout_fraction=0.15, replay_train_limit=None, replay_eval_limit=2)
    assert sorted(data.train_example_ids + data.heldout_example_ids) == sorted(e.id for e in examples)
    assert not set(data.train_example_ids) & set(data.heldout_example_ids)
    for e in examples:
        assert (e.id in data.heldout_example_ids) == (split_for(e.uid) == "heldout")
    replay_train = {s.key for s in data.train if s.key.startswith("replay:")}
    assert len(replay_train) == 2 and len(data.replay_eval) == 2      # 4 exchanges: 2 measured, 2 trained
    assert not replay_train & {s.key for s in data.replay_eval}      # forgetting is measured on unseen ones
    assert data.examples_approved_until == max(e.approved_at for e in examples)


def test_replay_trains_in_proportion_to_the_approved_examples(tiny_loaded) -> None:
    from types import SimpleNamespace

    examples = [SimpleNamespace(id=i, uid=f"u{i}", prompt=PROMPT, completion=f"Answer {i}.",
                                approved_at=f"2026-11-28T10:00:{i:02d}") for i in range(10)]
    replay = [SimpleNamespace(prompt_messages=PROMPT, completion=f"General reply {i}.") for i in range(40)]

    def replay_trained(**options) -> int:
        data = build_round_data(examples, replay, tiny_loaded.tokenizer, max_length=256, heldout_fraction=0.0,
                                replay_eval_limit=8, **options)
        assert sum(s.replay for s in data.train) == data.n_replay_train
        assert not any(s.replay for s in data.heldout)
        return data.n_replay_train

    assert replay_trained() == 32                                       # no cap: all but the 8 measured
    assert replay_trained(replay_per_example=2.0) == 20                 # 2 per approved example
    assert replay_trained(replay_per_example=0.5, replay_min=12) == 12  # never below the floor
    assert replay_trained(replay_per_example=2.0, replay_train_limit=15) == 15
    assert replay_trained(replay_per_example=10.0) == 32                # no more than there is


def test_the_recipe_validates_and_round_trips_as_sorted_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Recipe.rank"):
        Recipe(rank=0)
    with pytest.raises(ValueError, match="Recipe.learning_rate"):
        Recipe(learning_rate=2.0)
    with pytest.raises(ValueError, match="Unknown recipe field"):
        Recipe.from_dict({"rnak": 4})
    recipe = Recipe(rank=8, epochs=3)
    path = recipe.save(tmp_path)
    text = path.read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert Recipe.load(tmp_path) == recipe


@pytest.mark.parametrize(("n_approved", "epochs"), [(1, 8), (34, 8), (40, 7), (100, 3), (127, 2), (136, 2), (5000, 2)])
def test_auto_epochs_give_small_rounds_more_passes(n_approved: int, epochs: int) -> None:
    assert Recipe().epochs is None and Recipe().epochs_for(n_approved) == epochs
    assert Recipe(epochs=5).epochs_for(n_approved) == 5                   # a set value always wins
    with pytest.raises(ValueError, match="Recipe.epochs"):
        Recipe(epochs=0)


def test_auto_epochs_count_approved_examples_not_replay() -> None:
    def sample(i: int, replay: bool) -> Sample:
        return Sample(key=f"{'replay' if replay else 'example'}:{i}", input_ids=tuple(range(1, 12)), n_prompt=5,
                      replay=replay)

    approved = [sample(i, False) for i in range(100)]
    recipe = Recipe(batch_tokens=64, max_batch_examples=4, share_prefix=False)
    assert len(plan_batches(approved, recipe)) == 3                                   # 100 approved: 3 passes
    assert len(plan_batches(approved + [sample(i, True) for i in range(100)], recipe)) == 3   # replay adds none


def test_a_saved_adapter_is_a_plain_peft_folder_with_safetensors(tiny_loaded, tmp_path: Path) -> None:
    model = add_fresh_adapter(tiny_loaded.model, Recipe(rank=4, alpha=8))
    try:
        folder = save_adapter(model, tmp_path / "v1", Recipe(rank=4, alpha=8))
    finally:
        model.unload()
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "recipe.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)


def _class_examples(tok) -> list[Sample]:
    """Examples that start alike, as approved ones do: the same system prompt and mode wrapper."""
    from learner.prompts import mode_turn, system_prompt

    pairs = [("What are the houses?", "Corvane and Marrowby."), ("When is the first bell?", "At 8:47."),
             ("Who is the head?", "Dr Quarrington, since 2019."), ("What is the motto?", "Learn boldly."),
             ("What is the motto?", "Orun talé, vessa merin.")]   # the same prompt twice: packed apart all the same
    return [encode_exchange(tok, [{"role": "system", "content": system_prompt(grade="7")},
                                  {"role": "user", "content": mode_turn("explain", q, grade="7")}], a,
                            max_length=2048, key=f"k{i}") for i, (q, a) in enumerate(pairs)]


@pytest.mark.parametrize(("attn", "which"), [("sdpa", "all"), ("eager", "all"), ("sdpa", "same prompt")])
def test_shared_prefix_packing_gives_the_same_loss_and_gradients_as_separate_examples(tiny_loaded, attn,
                                                                                     which) -> None:
    from learner.adapt.dataset import pack_shared_prefix, shared_prefix

    samples = _class_examples(tiny_loaded.tokenizer)
    if which == "same prompt":       # two answers to one question: the prefix is all but the prompt's last token
        samples = samples[-2:]
        assert samples[0].input_ids[:samples[0].n_prompt] == samples[1].input_ids[:samples[1].n_prompt]
    p = shared_prefix(samples)
    assert p >= 100                                         # the system prompt and wrapper are shared
    packed = pack_shared_prefix(samples)
    padded = collate(samples, pad_id=tiny_loaded.tokenizer.pad_token_id)
    assert packed.n_trained == padded.n_trained
    assert packed.n_tokens == p + sum(len(s.input_ids) - p for s in samples) < padded.n_tokens
    model = add_fresh_adapter(tiny_loaded.model, Recipe(rank=4, alpha=8, dropout=0.0))
    previous = model.config._attn_implementation
    model.config._attn_implementation = attn
    try:
        perturb_lora_b(model, seed=0, std=0.05)
        model.eval()
        grads = []
        losses = []
        for batch in (packed, padded):
            model.zero_grad()
            nll, n = completion_nll(model, batch)
            (nll / n).backward()
            losses.append(nll / n)
            grads.append({k: q.grad.clone() for k, q in model.named_parameters() if q.requires_grad})
        assert torch.allclose(losses[0], losses[1], atol=1e-5), [float(x) for x in losses]
        for k in grads[0]:
            assert torch.allclose(grads[0][k], grads[1][k], atol=1e-5), k
        if attn == "sdpa":   # and the model's own full loss agrees on the packed layout
            assert torch.allclose(full_lm_loss(model, packed), losses[1], atol=1e-5)
    finally:
        model.config._attn_implementation = previous
        model.unload()


def test_sample_losses_in_batches_equal_one_sample_at_a_time(tiny_loaded) -> None:
    from learner.adapt.evaluate import sample_losses

    tok = tiny_loaded.tokenizer
    samples = _class_examples(tok) + [
        encode_exchange(tok, [{"role": "user", "content": f"Question {i}?"}], "An answer " * (i + 1), max_length=2048,
                        key=f"o{i}") for i in range(3)]
    model = add_fresh_adapter(tiny_loaded.model, Recipe(rank=4, alpha=8, dropout=0.0))
    try:
        perturb_lora_b(model, seed=1, std=0.05)
        model.eval()
        found = sample_losses(model, samples, pad_id=tok.pad_token_id, batch_tokens=4096, min_shared_prefix=100)
        with torch.no_grad():
            alone = {s.key: completion_nll(model, collate([s], pad_id=tok.pad_token_id)) for s in samples}
    finally:
        model.unload()
    assert set(found) == {s.key for s in samples}
    for key, (nll, n) in alone.items():
        assert found[key][1] == n
        assert found[key][0] == pytest.approx(float(nll), rel=1e-4), key


def test_shared_prefix_batches_pack_alike_examples_and_cover_every_sample_once(tiny_loaded) -> None:
    from learner.adapt.dataset import shared_prefix_batches

    alike = _class_examples(tiny_loaded.tokenizer)
    other = [encode_exchange(tiny_loaded.tokenizer, [{"role": "user", "content": f"Q{i}"}], "A.", max_length=2048,
                             key=f"o{i}") for i in range(3)]
    batches = shared_prefix_batches(alike + other, batch_tokens=4096, max_batch_examples=8, min_shared_prefix=100,
                                    seed=0)
    assert sorted(s.key for b in batches for s in b) == sorted(s.key for s in alike + other)
    assert any({s.key for s in b} == {s.key for s in alike} for b in batches)
