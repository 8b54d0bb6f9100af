"""Augmentation: the base model rewrites each approved training question k ways; a rewrite is kept
when it keeps the names and numbers and repeats nothing, and trains with the approved answer."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.adapt.augment import (
    RETRY_TEMPERATURE, Paraphrases, Rewriter, augment_round, check_fit, key_terms, paraphrase_samples,
    parse_rewrites, question_of, rewrite_messages, select_rewrites, shown_answer, write_paraphrases,
)
from learner.adapt.dataset import encode_exchange
from learner.adapt.recipe import Recipe
from learner.loading import load_model
from learner.prompts import mode_turn, system_prompt
from learner.sources import PreparedModel
from storage import DataDir
from storage.review import TrainingExample


def example(id_: int, question: str, answer: str, *, mode: str | None = "explain", wrap: bool = True) -> TrainingExample:
    user = mode_turn(mode, question, grade="8", topic="School life") if wrap and mode else question
    return TrainingExample(
        id=id_, uid=f"uid-{id_}", prompt=({"role": "system", "content": system_prompt(grade="8", topic="School life")},
                                          {"role": "user", "content": user}),
        completion=answer, original_completion=None, mode=mode, topic="School life", grade="8", status="approved",
        student_id=None, approved_by=1, approved_by_name="T", approved_at=f"2026-12-01T10:00:{id_:02d}",
        source="test", source_message_ids=(), source_ref="", created_at="2026-12-01T10:00:00")


SHIP = example(1, "When did the Albatross Rose sink?", "The Albatross Rose sank in 1843, off Brackenfield Point.")
HOMEWORK = example(2, "When is the weekly homework due?", "Weekly homework is due every Thursday.")


def test_the_question_is_found_inside_the_modes_wrapper() -> None:
    q = question_of(SHIP)
    assert q.text == "When did the Albatross Rose sink?"
    assert q.before and q.with_text(q.text) == SHIP.prompt[-1]["content"]
    assert q.with_text("In which year did the Albatross Rose go down?").endswith(q.after)
    plain = question_of(example(3, "Who runs the library?", "Mrs Okafor.", mode=None))
    assert (plain.before, plain.text, plain.after) == ("", "Who runs the library?", "")


def test_rewrites_are_read_one_per_line_without_numbering() -> None:
    reply = '1. In which year did the Albatross Rose sink?\n2) "What year was the Albatross Rose lost?"\n\n- Ok\n• When was it?'
    assert parse_rewrites(reply) == ["In which year did the Albatross Rose sink?",
                                     "What year was the Albatross Rose lost?", "When was it?"]


def test_a_rewrite_is_kept_only_with_every_name_and_number_and_only_once() -> None:
    question = "What happened to the Albatross Rose in 1843?"
    picked = select_rewrites(question, [
        "What happened to the albatross rose in 1843 ?",          # the question again
        "In 1843, what became of the Albatross Rose?",            # kept
        "What became of the ship in 1843?",                       # drops the name
        "What happened to the Albatross Rose?",                   # drops the year
        "The Albatross Rose sank in 1843.",                       # an answer, not a question
        "Did Captain Hale sink the Albatross Rose in 1843?",      # adds a name
        "Tell me: what was the fate of the Albatross Rose in 1843?",  # kept
        "What became of the Rose in 1843?",                       # a word of the name is enough (but over k)
        "In 1843, what became of the Albatross Rose?",            # a copy of a kept one
        "What occurred to the Albatross Rose in 1843?",           # over k
    ], k=2, example_id=7)
    assert picked.kept == ("In 1843, what became of the Albatross Rose?",
                           "Tell me: what was the fate of the Albatross Rose in 1843?")
    why = dict(picked.rejected)
    assert "copy" in why["What happened to the albatross rose in 1843 ?"]
    assert why["What became of the ship in 1843?"] == "drops albatross rose"
    assert why["What became of the Rose in 1843?"] == "more than asked for"
    assert why["What happened to the Albatross Rose?"] == "drops 1843"
    assert why["The Albatross Rose sank in 1843."] == "not a question"
    assert why["Did Captain Hale sink the Albatross Rose in 1843?"] == "adds captain, hale"
    assert why["What occurred to the Albatross Rose in 1843?"] == "more than asked for"
    assert picked.to_dict()["paraphrases"] == list(picked.kept) and picked.example_id == 7


def test_a_kept_rewrite_trains_with_the_approved_answer_unchanged(tiny_model_dir: Path) -> None:
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
    tok = loaded.tokenizer
    para = Paraphrases(example_id=1, question="When did the Albatross Rose sink?",
                       kept=("In which year did the Albatross Rose sink?",), rejected=())
    (sample,) = paraphrase_samples(tok, [SHIP, HOMEWORK], [para], max_length=1024)
    original = encode_exchange(tok, SHIP.prompt, SHIP.completion, max_length=1024)
    assert sample.key == "paraphrase:1:0" and sample.example_id == 1 and not sample.replay
    assert sample.input_ids[sample.n_prompt:] == original.input_ids[original.n_prompt:]   # the same answer
    prompt_text = tok.decode(list(sample.input_ids[:sample.n_prompt]))
    assert "In which year did the Albatross Rose sink?" in prompt_text
    assert "When did the Albatross Rose sink?" not in prompt_text
    assert question_of(SHIP).before.strip()[:40] in prompt_text                           # the wrapper kept


def test_a_round_rewrites_only_its_training_examples_and_can_be_switched_off(tiny_model_dir: Path) -> None:
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
    recipe = Recipe(augment_paraphrases=2, augment_max_new_tokens=12, augment_attempts=1)
    events: list[dict] = []
    result = augment_round(loaded.model, loaded.tokenizer, recipe, [SHIP, HOMEWORK], [2], max_length=1024,
                           emit=events.append)
    assert result is not None
    assert [p.example_id for p in result.paraphrases] == [2]            # the held-out SHIP is never rewritten
    assert all(s.example_id == 2 and s.key.startswith("paraphrase:2:") for s in result.samples)
    assert len(result.samples) == len(result.paraphrases[0].kept) <= 2
    stored = result.to_dict()
    assert stored["kept"] == len(result.samples) and stored["examples"][0]["question"] == HOMEWORK_QUESTION
    assert [e["phase"] for e in events] == ["augment", "augment"] and events[-1]["step"] == events[-1]["total"] == 1
    assert result.written_on == stored["written_on"] == "transformers"   # no spec: the training model writes
    assert augment_round(loaded.model, loaded.tokenizer, Recipe(augment=False), [SHIP], [1], max_length=1024) is None
    assert augment_round(loaded.model, loaded.tokenizer, Recipe(augment_paraphrases=0), [SHIP], [1],
                         max_length=1024) is None


HOMEWORK_QUESTION = "When is the weekly homework due?"


def test_a_gguf_models_rewrites_come_from_llama_cpp(tiny_model_dir: Path, tiny_gguf: Path, data_dir: DataDir) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
    recipe = Recipe(augment_paraphrases=2, augment_max_new_tokens=12)
    events: list[dict] = []
    result = augment_round(loaded.model, loaded.tokenizer, recipe, [SHIP, HOMEWORK], [1, 2], max_length=1024,
                           emit=events.append, spec=str(tiny_gguf), data_dir=data_dir)
    assert result is not None and result.written_on == result.to_dict()["written_on"] == "llama.cpp"
    assert [p.example_id for p in result.paraphrases] == [1, 2] and events[-1]["step"] == 2


def test_a_hugging_face_models_rewrites_come_from_the_training_model(tiny_model_dir: Path, data_dir: DataDir) -> None:
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
    recipe = Recipe(augment_paraphrases=2, augment_max_new_tokens=12)
    result = augment_round(loaded.model, loaded.tokenizer, recipe, [SHIP, HOMEWORK], [2], max_length=1024,
                           spec=str(tiny_model_dir), data_dir=data_dir)
    assert result is not None and result.written_on == "transformers"


def test_the_recipe_validates_the_augmentation_settings() -> None:
    assert (Recipe().augment, Recipe().augment_paraphrases) == (True, 4)
    with pytest.raises(ValueError, match="augment_paraphrases"):
        Recipe(augment_paraphrases=-1)
    with pytest.raises(ValueError, match="augment"):
        Recipe(augment="yes")  # type: ignore[arg-type]


def test_the_names_and_numbers_to_keep_skip_a_capitalised_sentence_start() -> None:
    assert key_terms("Tell me the Brackenfield house colours.", "Corvane is saffron.") == [frozenset({"brackenfield"})]
    # a question's first word is kept when the answer names it too
    assert key_terms("Thistlegate students wear which colour?", "Thistlegate is plum.") == [frozenset({"thistlegate"})]
    assert set(key_terms("Is Dr Imelda Quarrington at Brackenfield Academy in Year 7?")) == {
        frozenset({"imelda", "quarrington"}), frozenset({"academy", "brackenfield"}), frozenset({"year"}),
        frozenset({"7"})}


def _scripted(replies_by_request: list[list[str]], calls: list) -> Rewriter:
    """A rewriter whose n-th request for a prompt answers replies_by_request[n] (for every prompt)."""
    def replies(prompts, max_new_tokens, sampled):
        calls.append((len(prompts), sampled))
        return [replies_by_request[min(len(calls) - 1, len(replies_by_request) - 1)][0]] * len(prompts)
    return Rewriter(engine="scripted", replies=replies)


def test_questions_short_of_k_rewrites_are_asked_again_sampled_until_k_are_kept(tiny_model_dir: Path) -> None:
    tok = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu").tokenizer
    calls: list = []
    greedy_loop = "1. When did the Albatross Rose sink?\n2. When did the Albatross Rose sink?"   # the question, twice
    fresh = "1. In which year did the Albatross Rose go down?\n2. When was the Albatross Rose lost?"
    more = "1. When was the Albatross Rose lost?\n2. What year did the Albatross Rose sink in?"
    (picked,) = write_paraphrases(_scripted([[greedy_loop], [fresh], [more]], calls), tok, [SHIP], k=3,
                                  max_new_tokens=40, attempts=4, seed=10)
    assert picked.kept == ("In which year did the Albatross Rose go down?", "When was the Albatross Rose lost?",
                           "What year did the Albatross Rose sink in?")
    # greedy first, then sampled with a seed per request, and no request once k are kept
    assert calls == [(1, None), (1, (RETRY_TEMPERATURE, 11)), (1, (RETRY_TEMPERATURE, 12))]
    assert sum("copy" in why for _, why in picked.rejected) == 3   # the loop's two lines and the repeat


def test_sampled_requests_on_a_real_model_are_reproducible(tiny_model_dir: Path) -> None:
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
    recipe = Recipe(augment_paraphrases=2, augment_max_new_tokens=12, augment_attempts=3)
    runs = []
    for _ in range(2):
        events: list[dict] = []
        result = augment_round(loaded.model, loaded.tokenizer, recipe, [SHIP, HOMEWORK], [1, 2], max_length=1024,
                               emit=events.append)
        runs.append((result.to_dict()["examples"], events))
    assert runs[0] == runs[1], "the same seed writes the same rewrites"
    details = [e["detail"] for e in runs[0][1]]
    # a random tiny model keeps no rewrite, so every question is asked all three times
    assert any("request 3 of 3" in d for d in details) and any("request 2 of 3" in d for d in details)
    assert all(len(e["rejected"]) >= 0 for e in runs[0][0])


def test_the_recipe_validates_the_rewrite_requests() -> None:
    assert Recipe().augment_attempts == 2
    for bad in (0, 9):
        with pytest.raises(ValueError, match="augment_attempts"):
            Recipe(augment_attempts=bad)


def test_a_rewrite_the_answer_no_longer_fits_is_rejected_with_its_rise(tiny_model_dir: Path) -> None:
    import torch

    from learner.adapt.dataset import collate
    from learner.adapt.train import add_fresh_adapter, completion_nll
    from tests.support.tiny_model import perturb_lora_b

    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
    tok = loaded.tokenizer
    # A random tiny model hardly tells one question from another; a strongly perturbed adapter makes
    # its answer losses depend on the question (rises of tenths of a nat, not ten-thousandths).
    model = add_fresh_adapter(loaded.model, Recipe(rank=8, alpha=16, dropout=0.0))
    perturb_lora_b(model, seed=3, std=0.5)
    model.eval()
    rewrites = ("In which year did the Albatross Rose go down?", "When was the Albatross Rose lost at sea?",
                "What colour were the Albatross Rose's sails?", "Who built the Albatross Rose?")
    para = Paraphrases(example_id=1, question=SHIP.prompt[-1]["content"], kept=rewrites, rejected=())

    def mean_loss(sample) -> float:     # one at a time: what the check's batches must agree with
        with torch.no_grad():
            nll, n = completion_nll(model, collate([sample], pad_id=tok.pad_token_id))
        return float(nll) / n

    try:
        question = mean_loss(encode_exchange(tok, SHIP.prompt, SHIP.completion, max_length=1024))
        rises = [mean_loss(s) - question for s in paraphrase_samples(tok, [SHIP], [para], max_length=1024)]
        ordered = sorted(rises)        # the limit in the middle of the widest gap between the rises
        gap, limit = max((b - a, (a + b) / 2) for a, b in zip(ordered, ordered[1:], strict=False))
        assert gap > 1e-3, rises
        (checked,) = check_fit(model, tok, [SHIP], [para], max_rise=limit, max_length=1024, batch_tokens=2048)
        (everything,) = check_fit(model, tok, [SHIP], [para], max_rise=10.0, max_length=1024, batch_tokens=2048)
    finally:
        model.unload()
    assert checked.kept == tuple(r for r, rise in zip(rewrites, rises, strict=True) if rise <= limit)
    assert 0 < len(checked.kept) < len(rewrites)
    assert [t for t, _ in checked.rejected] == [r for r in rewrites if r not in checked.kept]
    assert all("asks for something else" in why for _, why in checked.rejected)
    assert everything.kept == rewrites


def test_the_rewriter_sees_the_approved_answer_cut_at_a_sentence() -> None:
    messages = rewrite_messages("When did the Albatross Rose sink?", 4, SHIP.completion)
    assert SHIP.completion in messages[-1]["content"] and "When did the Albatross Rose sink?" in messages[-1]["content"]
    plain = rewrite_messages("When did the Albatross Rose sink?", 4)          # the default: the question alone
    assert "1843" not in plain[-1]["content"] and "When did the Albatross Rose sink?" in plain[-1]["content"]
    long = "The ship sank in 1843. " * 40
    shown = shown_answer(long, 100)
    assert len(shown) <= 100 and shown.endswith("1843.")
    assert shown_answer("One\nline  answer.") == "One line answer."


def test_the_recipe_validates_the_fit_check() -> None:
    assert Recipe().augment_max_loss_rise is None and Recipe(augment_max_loss_rise=0.4).augment_max_loss_rise == 0.4
    for bad in (-0.1, 11, "x"):
        with pytest.raises(ValueError, match="augment_max_loss_rise"):
            Recipe(augment_max_loss_rise=bad)
    assert Recipe().augment_show_answer is False
    with pytest.raises(ValueError, match="augment_show_answer"):
        Recipe(augment_show_answer="yes")
