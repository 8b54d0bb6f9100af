"""Bleeding: held-out answers that borrow names and numbers from other approved facts, the gate's
check on it, and the batched greedy replies the round answers them with."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.adapt.bleeding import MIN_BLED_TO_REFUSE, Probe, bleeding_verdict, entities, example_text, find_bleeding
from learner.adapt.dataset import encode_exchange
from learner.adapt.gate import GateInputs, judge
from learner.adapt.greedy import greedy_replies, greedy_token_ids
from learner.adapt.recipe import Recipe
from learner.loading import load_model
from learner.sources import PreparedModel

TEXTS = {
    "ship": "What happened to the Albatross Rose?\nThe merchant ship Albatross Rose sank in 1843.",
    "triangle": "Who is the Baker's triangle named after?\nIt is named after Edith Baker, a teacher here in 1760.",
    "homework": "When is the weekly homework due?\nThe weekly homework is due every Thursday.",
}


def test_entities_are_names_and_numbers_not_sentence_starters() -> None:
    found = entities("The ship Albatross Rose's crew sank in 1843. When? In March, with 12 sailors. It was Room 4B.")
    assert {"albatross", "rose", "1843", "march", "12", "room", "4b"} <= found
    assert not {"the", "when", "in", "it", "ship", "crew"} & found
    assert entities("Dr Quarrington and Mr Lee.") == {"quarrington", "lee"}   # titles are no one's name


def test_a_common_word_that_starts_a_sentence_is_no_fact_of_anothers() -> None:
    texts = {**TEXTS, "office": "Where do I ask about trips?\nAsk at the Tuck Loft."}
    # "Ask" is capitalised in one text but written in lower case too: a common word, not a name.
    report = find_bleeding([Probe(key="ship", answer="Ask a teacher about the Tuck Loft.", own=frozenset({"ship"}))],
                           texts)
    assert [b.foreign for b in report.bled] == [("loft", "tuck")]


def test_a_word_capitalised_only_where_sentences_start_is_no_name() -> None:
    texts = {**TEXTS, "colours": "What colour is each house?\nCorvane is saffron. Students wear it on their tie.",
             "desk": "Where do I renew books?\nAt the Owl Desk. Renewals last a week."}
    # "Students" and "Renewals" only ever start sentences there; "Owl Desk" is capitalised mid-sentence.
    answers = ["Students wear their house colour.", "Renewals are at the Science Desk."]
    report = find_bleeding([Probe(key=f"homework:{i}", answer=a, own=frozenset({"homework"}))
                            for i, a in enumerate(answers)], texts)
    assert [(b.key, b.foreign) for b in report.bled] == [("homework:1", ("desk",))]
    # A name that also starts a sentence is still a name ("Corvane is saffron", "(Corvane)").
    texts["houses"] = "Which houses are there?\nThere is one house, the Corvane house (Corvane)."
    report = find_bleeding([Probe(key="ship", answer="Corvane sank.", own=frozenset({"ship"}))], texts)
    assert [b.foreign for b in report.bled] == [("corvane",)]


@pytest.mark.parametrize(("key", "answer", "foreign"), [
    ("triangle", "The Baker's triangle is named after the Albatross Rose.", ("albatross", "rose")),
    ("ship", "The Albatross Rose sank in 1843, which sank in 1760.", ("1760",)),
    ("homework", "Hand it in on Thursday.", ()),                         # its own fact
    ("homework", "Every Monday, as Mr Smith says.", ()),                  # new words, but no other fact's
    ("ship", "The ship sank in the year 1843; it rose to fame later.", ()),  # lower-case "rose" is no name
])
def test_an_answer_bleeds_when_it_uses_another_facts_entities(key: str, answer: str, foreign: tuple) -> None:
    report = find_bleeding([Probe(key=key, answer=answer, own=frozenset({key}))], TEXTS)
    assert report.checked == 1
    if foreign:
        (bleed,) = report.bled
        assert bleed.foreign == foreign and key not in bleed.sources
        assert report.rate == 1.0
    else:
        assert report.bled == () and report.rate == 0.0


def test_a_word_of_the_answers_own_question_never_counts_against_it() -> None:
    # "Thursday" is another fact's entity, but this probe's question names it.
    probe = Probe(key="q", answer="Thursday is sports day.", own=frozenset({"ship"}), own_text="Is Thursday sports day?")
    assert find_bleeding([probe], TEXTS).bled == ()


def _bleeding_inputs(probes: list[Probe]) -> GateInputs:
    return GateInputs(heldout={"candidate": 1.0, "base": 2.0}, replay={"candidate": 1.0, "base": 1.0},
                      bleeding=find_bleeding(probes, TEXTS).to_dict())


def test_the_gate_refuses_bleeding_above_the_recipes_rate() -> None:
    probes = [Probe(key="triangle", answer="Named after the Albatross Rose.", own=frozenset({"triangle"})),
              Probe(key="homework", answer="On Thursday, in 1843.", own=frozenset({"homework"})),
              Probe(key="ship", answer="It sank in 1843.", own=frozenset({"ship"}))]
    inputs = _bleeding_inputs(probes)
    assert (inputs.bleeding["checked"], inputs.bleeding["bled"]) == (3, 2)
    assert inputs.bleeding["rate"] == pytest.approx(2 / 3)
    refused = judge(inputs, Recipe(bleeding_max_rate=0.2))
    check = next(c for c in refused.checks if c.name == "bleeding")
    assert not refused.passed and not check.passed and "albatross" in check.detail
    assert "2 of 3" in refused.reason and check.figures["max_rate"] == 0.2
    assert judge(inputs, Recipe(bleeding_max_rate=0.7)).passed
    skipped = next(c for c in judge(GateInputs(heldout={}, replay={})).checks if c.name == "bleeding")
    assert skipped.skipped and skipped.passed
    assert bleeding_verdict(None, 0.2)["skipped"]
    # the advice fits the round: "train with paraphrases on" only when it trained without them
    with_paraphrases = next(c for c in judge(inputs, Recipe(bleeding_max_rate=0.2, augment=True)).checks
                            if c.name == "bleeding")
    without = next(c for c in judge(inputs, Recipe(bleeding_max_rate=0.2, augment=False)).checks
                   if c.name == "bleeding")
    assert "paraphrases on" not in with_paraphrases.detail and "in other words" in with_paraphrases.detail
    assert "paraphrases on" in without.detail


def test_one_stray_answer_alone_never_refuses_a_small_round() -> None:
    # 1 of 3 is 33 %, above a 20 % limit, but a single reply is too little evidence to refuse on.
    probes = [Probe(key="triangle", answer="Named after the Albatross Rose.", own=frozenset({"triangle"})),
              Probe(key="homework", answer="On Thursday.", own=frozenset({"homework"})),
              Probe(key="ship", answer="It sank in 1843.", own=frozenset({"ship"}))]
    inputs = _bleeding_inputs(probes)
    assert inputs.bleeding["bled"] == MIN_BLED_TO_REFUSE - 1 and inputs.bleeding["rate"] > 0.2
    verdict = judge(inputs, Recipe(bleeding_max_rate=0.2))
    check = next(c for c in verdict.checks if c.name == "bleeding")
    assert verdict.passed and check.passed and not check.skipped
    assert "1 of 3" in check.detail and "single stray answer" in check.detail


def test_an_examples_own_text_is_its_question_and_answer() -> None:
    prompt = ({"role": "system", "content": "You are a tutor at Brackenfield."},
              {"role": "user", "content": "Who is the head?"})
    assert example_text(prompt, "Dr Quarrington.") == "Who is the head?\nDr Quarrington."


def test_the_recipe_validates_the_bleeding_settings() -> None:
    with pytest.raises(ValueError, match="bleeding_max_rate"):
        Recipe(bleeding_max_rate=1.5)
    with pytest.raises(ValueError, match="bleeding_max_new_tokens"):
        Recipe(bleeding_max_new_tokens=0)


def test_batched_greedy_replies_equal_one_at_a_time(tiny_model_dir: Path) -> None:
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu",
                        dtype="float32")
    tok = loaded.tokenizer
    samples = [encode_exchange(tok, [{"role": "user", "content": q}], "x", max_length=1024)
               for q in ("Hi?", "What is a noun, please?", "Name a river in the north of England.")]
    prompts = [list(s.input_ids[:s.n_prompt]) for s in samples]
    batched = greedy_token_ids(loaded.model, tok, prompts, max_new_tokens=6, batch_size=3)
    alone = [greedy_token_ids(loaded.model, tok, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == alone and len(batched) == 3
    assert all(1 <= len(ids) <= 6 for ids in batched)
    texts = greedy_replies(loaded.model, tok, prompts, max_new_tokens=6, batch_size=2)
    assert texts == [tok.decode(ids, skip_special_tokens=True).strip() for ids in batched]
