"""Hint, don't tell: the check in code, and the tutor run with it (the tiny model, real generation)."""
from __future__ import annotations

import threading

import pytest

from learner.guard import (
    WITHHELD_MESSAGE,
    answers_match,
    check_reply,
    key_core,
    normalise,
)

PIZZA = "Sam ate 1/4 of a pizza and Mia ate 2/4. What fraction of the pizza did they eat together?"
PIZZA_KEY = "3/4, because 1/4 + 2/4 = 3/4"
EQUATION = "Solve 2x + 3 = 7."

CASES = [
    # (name, reply, key, context, gives away?)
    ("hint only", "Both pieces are quarters. What do you get when you add the numerators?", PIZZA_KEY, PIZZA, False),
    ("repeats the question's numbers", "Start with 1/4 and add 2/4 to it — the denominators match.", PIZZA_KEY, PIZZA,
     False),
    ("states the key", "Together they ate 3/4 of the pizza.", PIZZA_KEY, PIZZA, True),
    ("decimal equivalent", "So the answer is 0.75 of the pizza.", PIZZA_KEY, PIZZA, True),
    ("percent equivalent", "They ate 75% of it.", PIZZA_KEY, PIZZA, True),
    ("words equivalent", "That makes three quarters!", PIZZA_KEY, PIZZA, True),
    ("'over' form", "You get 3 over 4.", PIZZA_KEY, PIZZA, True),
    ("key inside a question", "Is it 3/4, do you think?", PIZZA_KEY, PIZZA, True),
    ("half equals 0.5", "Think of it as 1/2 of the bar.", "0.5", "What is 3 - 2.5?", True),
    ("50% equals 1/2", "It is 50 percent.", "1/2", "What part of 8 is 4?", True),
    ("not a longer number", "Try x = 25 in the equation and see what happens.", "x = 2", EQUATION, False),
    ("equation answer", "Subtract 3, then divide by 2, so x = 2.", "x = 2", EQUATION, True),
    ("equation hint", "First subtract 3 from both sides. What is left?", "x = 2", EQUATION, False),
    ("word answer", "The capital of France is **Paris**.", "Paris", "What is the capital of France?", True),
    ("word answer hinted", "It is the city on the river Seine with the Eiffel Tower.", "Paris",
     "What is the capital of France?", False),
    ("key phrase", "Plants take in carbon dioxide and water from the air and soil.", "Carbon dioxide and water",
     "What two things do plants take in for photosynthesis?", True),
    ("half the key phrase", "One of them is water. What gas might the other be?", "Carbon dioxide and water",
     "What two things do plants take in for photosynthesis?", False),
    ("answer prefix in key", "The result is 132.", "The answer is 132, since 12 x 11 = 132", "What is 12 x 11?", True),
    ("yes/no key not triggered by 'yes'", "Yes, good question! Compare the denominators first.", "Yes",
     "Is 3/4 bigger than 2/3?", False),
    ("yes/no key stated", "The answer is yes.", "Yes", "Is 3/4 bigger than 2/3?", True),
    ("empty reply", "", PIZZA_KEY, PIZZA, False),
]


@pytest.mark.parametrize("name,reply,key,context,gives_away", CASES, ids=[c[0] for c in CASES])
def test_check_reply(name, reply, key, context, gives_away):
    check = check_reply(reply, key, context=context)
    assert check.gives_away is gives_away, check.reason
    assert bool(check.reason) is gives_away


@pytest.mark.parametrize("key,core", [
    ("3/4, because 1/4 + 2/4 = 3/4", "3/4"),
    ("The answer is 12 cm since 3 x 4 = 12", "12 cm"),
    ("Paris", "Paris"),
    ("**x = 2** (subtract 3, divide by 2)", "x = 2"),
    ("Carbon dioxide and water - both are taken in", "Carbon dioxide and water"),
])
def test_key_core(key, core):
    assert key_core(key) == core


@pytest.mark.parametrize("answer,key,match", [
    ("3/4", PIZZA_KEY, True), ("0.75", PIZZA_KEY, True), ("75%", PIZZA_KEY, True), ("x=2", "x = 2", True),
    (" paris ", "Paris", True), ("5/8", PIZZA_KEY, False), ("I think it's 3/4 or 1/2", PIZZA_KEY, False),
    ("Lyon", "Paris", False),
])
def test_answers_match(answer, key, match):
    assert answers_match(answer, key) is match


def test_normalise_folds_markdown_case_and_spacing():
    assert normalise("**X=2**.  Done!") == "x = 2 done"
    assert normalise("½ is 0.5") == "1 / 2 is 0.5"


# -- the tutor with the guard, on the tiny random model ---------------------------------------------
# Sampling from a fixed torch seed makes the tiny model's text reproducible, so keys can be chosen
# from what it will say: real generation and streaming, no stand-in.

@pytest.fixture(scope="module")
def tiny_tutor(tiny_model_dir):
    from learner.loading import load_model
    from learner.sources import PreparedModel
    from learner.tutor import Tutor

    return Tutor(load_model(PreparedModel(model_id="tiny", path=tiny_model_dir), device="cpu", dtype="float32"))


def _settings():
    from learner.settings import GenerationSettings

    return GenerationSettings(model_spec="tiny", device="cpu", temperature=1.0, max_new_tokens=40)


def _request(text: str = "How do I add 1/4 and 2/4?"):
    from learner.types import TutorRequest

    return TutorRequest(user_text=text, mode="hint", topic="Fractions")


def _seeded_texts(tutor, seed: int) -> tuple[str, str]:
    """What the guard's first and (firmer) second generation will say, drawn in the same order."""
    import torch

    from learner.guard import FIRMER_INSTRUCTION

    torch.manual_seed(seed)
    first = tutor.reply(_request(), _settings()).text
    second = tutor.reply(_request(_request().user_text + FIRMER_INSTRUCTION), _settings()).text
    return first, second


def _key_word(text: str, *, also_in: str | None = None, not_in: str = "") -> str | None:
    """A word of `text` after its last sentence end (so the streaming gate cannot stop the first
    reply early, which would change the random draws), present in / absent from another text."""
    import re

    from learner.guard import _SENTENCE_END, _words

    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    tail = text[ends[-1]:] if ends else text
    context_words = set(_words(normalise(PIZZA + " " + _request().user_text)))
    others = set(_words(normalise(also_in if also_in is not None else not_in)))
    for word in _words(normalise(tail)):
        if len(word) >= 4 and word not in context_words and re.fullmatch(r"[a-z]+", word) \
                and (word in others) == (also_in is not None):
            return word
    return None


def _find_case(tutor, *, both: bool) -> tuple[int, str, str, str]:
    """A seed and a key that the first reply says and the second says too (both) or not."""
    for seed in range(40):
        first, second = _seeded_texts(tutor, seed)
        key = _key_word(first, also_in=second) if both else _key_word(first, not_in=second)
        if key is not None:
            return seed, key, first, second
    raise AssertionError("no seed gave a usable key; the tiny model changed?")


def _guarded_reply(tutor, seed: int, key: str):
    """The guarded tutor's reply to the pizza hint request from this seed, and all the text it streamed."""
    import torch

    from learner.guard import guarded_request, reply_with_guard

    pieces: list[str] = []
    torch.manual_seed(seed)
    reply = reply_with_guard(tutor, guarded_request(_request(), key, context=PIZZA), _settings(),
                             on_text=pieces.append)
    return reply, "".join(pieces)


def test_guard_passes_a_clean_reply_and_streams_all_of_it(tiny_tutor):
    reply, streamed = _guarded_reply(tiny_tutor, 0, "zzqx never said")
    assert reply.guard is not None
    assert (reply.guard.caught, reply.guard.outcome) == (False, "passed")
    assert reply.text and streamed == reply.text


@pytest.mark.parametrize("both,outcome", [(True, "withheld"), (False, "regenerated")],
                         ids=["withholds-when-both-replies-tell", "regenerates-when-the-second-is-clean"])
def test_guard_catches_a_giveaway_and_never_streams_it(tiny_tutor, both: bool, outcome: str):
    seed, key, _first, second = _find_case(tiny_tutor, both=both)
    reply, streamed = _guarded_reply(tiny_tutor, seed, key)
    assert (reply.guard.caught, reply.guard.outcome) == (True, outcome)
    assert reply.text == (WITHHELD_MESSAGE if both else second)
    assert key not in normalise(streamed), "a giveaway was streamed"


def test_unguarded_requests_pass_straight_through(tiny_tutor):
    import torch

    from learner.guard import reply_with_guard

    torch.manual_seed(1)
    reply = reply_with_guard(tiny_tutor, _request(), _settings(), stop=threading.Event())
    torch.manual_seed(1)
    assert reply.guard is None and reply.text == tiny_tutor.reply(_request(), _settings()).text
