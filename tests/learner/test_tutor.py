from __future__ import annotations

import threading

import pytest
import torch

from learner.loading import LoadedModel
from learner.settings import GenerationSettings
from learner.tutor import Tutor, _VisibleText, split_answer_key
from learner.types import TutorRequest

SAMPLING = GenerationSettings(max_new_tokens=40, temperature=1.0)


@pytest.fixture(params=["transformers", "llama.cpp"])
def tutor(request: pytest.FixtureRequest, tiny_loaded: LoadedModel) -> Tutor:
    """The same tests on both serving engines (the tiny model, and the same model as a GGUF file)."""
    torch.manual_seed(1234)
    if request.param == "transformers":
        return Tutor(tiny_loaded)
    engine = request.getfixturevalue("tiny_llama_engine")
    engine.set_adapter(None)
    return Tutor(engine)


def test_streamed_pieces_join_to_the_reply_text(tutor: Tutor) -> None:
    pieces: list[str] = []
    reply = tutor.reply(TutorRequest(user_text="What is a fraction?", mode="explain", grade="4"), SAMPLING,
                        on_text=pieces.append)
    assert len(pieces) >= 2, "text should arrive in several pieces, not at the end"
    assert "".join(pieces) == reply.text and reply.text
    assert 0 < reply.n_tokens <= 40
    assert reply.ttft_s > 0 and reply.tokens_per_s > 0
    assert reply.model_id == tutor.model_id and reply.adapter_version is None
    assert not reply.stopped and reply.answer_key is None and reply.notice is None


def test_stop_from_another_thread_ends_generation_early(tutor: Tutor) -> None:
    first_piece = threading.Event()
    stop = threading.Event()

    def press_stop() -> None:
        first_piece.wait(timeout=30)
        stop.set()

    presser = threading.Thread(target=press_stop, name="stop-presser")
    presser.start()
    try:
        reply = tutor.reply(TutorRequest(user_text="Tell me a long story about fractions.", mode="explain"),
                            GenerationSettings(max_new_tokens=3000, temperature=1.0),
                            on_text=lambda _piece: first_piece.set(), stop=stop)
    finally:
        first_piece.set()
        presser.join()
    assert reply.stopped
    assert reply.n_tokens < 3000


def test_stop_already_set_generates_at_most_one_token(tutor: Tutor) -> None:
    stop = threading.Event()
    stop.set()
    reply = tutor.reply(TutorRequest(user_text="Hi", mode="explain"), SAMPLING, stop=stop)
    assert reply.stopped and reply.n_tokens <= 1


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_empty_messages_are_refused(tutor: Tutor, text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        tutor.reply(TutorRequest(user_text=text, mode="explain"), SAMPLING)


def test_unknown_mode_is_refused(tutor: Tutor) -> None:
    with pytest.raises(ValueError, match="mode"):
        tutor.reply(TutorRequest(user_text="Hi", mode="lecture"), SAMPLING)  # type: ignore[arg-type]


def test_a_100k_character_paste_is_accepted_trimmed_and_noticed(tutor: Tutor) -> None:
    paste = ("Photosynthesis turns light into sugar. " * 3000)[:100_000]
    reply = tutor.reply(TutorRequest(user_text=paste, mode="explain"), GenerationSettings(max_new_tokens=8))
    assert reply.notice is not None and "trimmed" in reply.notice
    assert 0 < reply.n_tokens <= 8


def test_max_new_tokens_is_respected(tutor: Tutor) -> None:
    reply = tutor.reply(TutorRequest(user_text="Count to ten.", mode="explain"),
                        GenerationSettings(max_new_tokens=5, temperature=0))
    assert 0 < reply.n_tokens <= 5


@pytest.mark.parametrize(("raw", "question", "key"), [
    ("What is 3/4 + 1/8?\nAnswer key: 7/8", "What is 3/4 + 1/8?", "7/8"),
    ("What is 3/4 + 1/8?\n\n**Answer key:** 7/8 because 6/8 + 1/8 = 7/8.", "What is 3/4 + 1/8?",
     "7/8 because 6/8 + 1/8 = 7/8."),
    ("Q: Name the gas plants release.\n### Answer Key - Oxygen", "Q: Name the gas plants release.", "Oxygen"),
    ("Solve 2x + 3 = 7.\n  answer key:   x = 2  \n", "Solve 2x + 3 = 7.", "x = 2"),
    ("Solve 2x + 3 = 7.", "Solve 2x + 3 = 7.", None),
    ("The answer key: is inside the sentence, not a line of its own.",
     "The answer key: is inside the sentence, not a line of its own.", None),
    ("Which is larger, 2/3 or 3/5?\nAnswer key:", "Which is larger, 2/3 or 3/5?", None),
])
def test_answer_key_parsing(raw: str, question: str, key: str | None) -> None:
    assert split_answer_key(raw) == (question, key)


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_practice_stream_never_shows_the_answer_key(chunk: int) -> None:
    raw = "  Which fraction is bigger: 2/3 or 3/5?\nAnswers should compare them.\n**Answer key:** 2/3 (10/15 > 9/15)\n"
    shown: list[str] = []
    visible = _VisibleText(hide_answer_key=True, emit=shown.append)
    for start in range(0, len(raw), chunk):
        visible.feed(raw[start:start + chunk])
    visible.finish()
    assert "".join(shown) == visible.shown == "Which fraction is bigger: 2/3 or 3/5?\nAnswers should compare them."
    assert all("10/15" not in piece and "Answer key" not in piece for piece in shown)


def test_explain_stream_shows_everything_but_outer_whitespace() -> None:
    shown: list[str] = []
    visible = _VisibleText(hide_answer_key=False, emit=shown.append)
    for piece in ["\n", "Half ", "means ", "\n", "two equal parts.", "\n\n"]:
        visible.feed(piece)
    visible.finish()
    assert "".join(shown) == "Half means \ntwo equal parts."
