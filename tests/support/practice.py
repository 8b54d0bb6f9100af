"""The one allowed stand-in for the model in practice tests: a deterministic generator at the
learner boundary (`generate_text(messages, settings) -> str`). No real model is small enough to
write parsable practice items in a unit test; the integration test uses the real one."""
from __future__ import annotations

from collections.abc import Iterable

from learner.settings import GenerationSettings


class ScriptedGenerator:
    """Returns the scripted replies in order and records every prompt it was given."""

    def __init__(self, replies: Iterable[str], *, model_id: str = "scripted-model",
                 adapter_version: int | None = None) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[dict[str, str]], GenerationSettings]] = []
        self.model_id = model_id
        self.adapter_version = adapter_version

    def __call__(self, messages: list[dict[str, str]], settings: GenerationSettings) -> str:
        self.calls.append((messages, settings))
        if not self.replies:
            raise AssertionError("the generator was called more often than the test scripted")
        return self.replies.pop(0)

    @property
    def prompts(self) -> list[str]:
        return [messages[-1]["content"] for messages, _ in self.calls]


GOOD_ITEM = ("Topic: Fractions\nDifficulty: easy\n"
             "Question: Sam ate 1/4 of a pizza and Mia ate 2/4. What fraction did they eat together?\n"
             "Answer key: 3/4, because 1/4 + 2/4 = 3/4")

# A topic no maths-engine generator covers, so the model writes its items (GOOD_ITEM's wording
# does not matter to the parser: the requested topic is stored).
MODEL_TOPIC = "Pizza sharing"

# The model's key disagrees with the computation the question asks for (the issue's "added the
# tops and the bottoms"); the engine recomputes it.
WRONG_KEY_ITEM = ("Topic: Fractions\nDifficulty: easy\nQuestion: What is 2/3 + 1/6?\n"
                  "Answer key: 3/9, because 2 + 1 = 3 and 3 + 6 = 9")
RIGHT_KEY_ITEM = "Topic: Fractions\nDifficulty: easy\nQuestion: What is 2/3 + 1/6?\nAnswer key: 5/6"
SIMPLEST_ITEM = ("Topic: Fractions\nDifficulty: easy\n"
                 "Question: What is 1/4 + 1/4? Give your answer in its simplest form.\nAnswer key: 1/2")
