"""Practice generators: every key recomputed independently from the question text; wrong answers
never accepted; the key accepted in its equivalent forms."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest

from learner.maths import TOPICS, equivalent, generate, generator_for
from learner.maths.answers import parse_answer
from learner.maths.numbers import show_decimal, show_mixed, terminates
from tests.maths.recompute import recompute

ITEMS_PER_TOPIC = 200


def _items(name: str):
    generator = TOPICS[name]
    for seed in range(ITEMS_PER_TOPIC):
        yield generator(random.Random(seed), ("easy", "medium", "hard")[seed % 3])


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_every_key_matches_an_independent_recomputation(name: str) -> None:
    wrong = []
    for item in _items(name):
        truth = recompute(item.question)
        key = parse_answer(item.answer_key)
        if truth is None or key is None or truth != item.values or key.values != truth:
            wrong.append((item.question, item.answer_key, truth))
    assert wrong == []


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_listed_wrong_answers_are_never_judged_correct(name: str) -> None:
    for item in _items(name):
        for wrong in item.wrong_answers:
            verdict = equivalent(wrong.answer, item.answer_key, tolerance=item.tolerance,
                                 require_simplest=item.require_simplest)
            assert not verdict.correct, (item.question, item.answer_key, wrong.answer)


def _equivalent_forms(answer_key: str, value: Fraction) -> list[str]:
    forms = [answer_key, f"  {answer_key}. ", f"The answer is {answer_key}"]
    if answer_key.startswith("x = "):
        forms += [answer_key.replace(" ", ""), answer_key[4:]]
    elif answer_key.endswith("%"):
        forms += [answer_key[:-1], f"{answer_key[:-1]} percent", show_decimal(value) if terminates(value) else None]
    elif ":" not in answer_key:
        if value.denominator != 1:
            forms += [f"{value.numerator}/{value.denominator}", show_mixed(value)]
            if terminates(value):
                forms.append(show_decimal(value))
        else:
            forms += [f"{value.numerator}.0", f"{value.numerator * 2}/2"]
    return [f for f in forms if f]


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_the_key_is_accepted_in_its_equivalent_forms(name: str) -> None:
    for item in _items(name):
        value = item.values[0]
        for form in _equivalent_forms(item.answer_key, value):
            verdict = equivalent(form, item.answer_key, tolerance=item.tolerance)
            assert verdict.correct, (item.question, item.answer_key, form, verdict)
        assert equivalent(item.answer_key, item.answer_key, require_simplest=item.require_simplest).correct


def test_simplest_form_items_take_the_unsimplified_form_as_partly_right() -> None:
    candidates = (TOPICS["Fractions"](random.Random(seed), "medium") for seed in range(100))
    item = next(i for i in candidates if i.require_simplest and i.value is not None and i.value.denominator > 1)
    assert item.value is not None
    doubled = f"{item.value.numerator * 2}/{item.value.denominator * 2}"
    assert equivalent(doubled, item.answer_key, require_simplest=True).practice_verdict == "partly"


def test_items_are_reproducible_from_their_seed() -> None:
    assert generate("Fractions", seed=7, difficulty="hard") == generate("Fractions", seed=7, difficulty="hard")
    with pytest.raises(ValueError, match="difficulty"):
        generate("Fractions", seed=1, difficulty="impossible")


def test_generated_items_come_with_their_working_and_misconceptions() -> None:
    item = generate("Two-step equations", seed=2, difficulty="medium")
    assert item is not None and item.checked and item.worked_steps and item.wrong_answers
    assert item.answer_key.startswith("x = ")


@pytest.mark.parametrize("topic, name", [
    ("Fractions", "Fractions"),
    ("adding fractions", "Fractions"),
    ("Equivalent fractions", "Equivalent fractions"),
    ("Simplifying fractions", "Equivalent fractions"),
    ("Decimals", "Decimals"),
    ("Rounding numbers", "Rounding"),
    ("Percentages", "Percentages"),
    ("percent", "Percentages"),
    ("Ratio and proportion", "Ratio"),
    ("Order of operations", "Order of operations"),
    ("BIDMAS", "Order of operations"),
    ("PEMDAS", "Order of operations"),
    ("One-step equations", "One-step equations"),
    ("two step equations", "Two-step equations"),
    ("Solving linear equations", "Equations"),
    ("Algebra", "Equations"),
    ("Word problems", "Word problems"),
    ("Times tables", "Arithmetic"),
    ("Long division", "Arithmetic"),
])
def test_topics_map_to_generators(topic: str, name: str) -> None:
    assert generator_for(topic) is TOPICS[name]


@pytest.mark.parametrize("topic", ["Photosynthesis", "French verbs", "", "   ", "The Tudors"])
def test_topics_without_a_generator_give_none(topic: str) -> None:
    assert generator_for(topic) is None
    assert generate(topic, seed=1) is None
