"""A stand-in for learner.tutor.Tutor that answers with scripted texts, for tests of what happens
around a reply (the answer-key guard, the maths engine's checks). It records every request, so a
test can see what the model was told. The real Tutor is tested with the tiny model elsewhere."""
from __future__ import annotations

import threading
from collections.abc import Callable

from learner.settings import GenerationSettings
from learner.types import TutorReply, TutorRequest


class ScriptedTutor:
    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self.requests: list[TutorRequest] = []
        self.completions: list[list[dict[str, str]]] = []   # the messages complete() was given
        self.model_id = "scripted"
        self.adapter_version: int | None = None

    def reply(self, request: TutorRequest, settings: GenerationSettings, *,
              on_text: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> TutorReply:
        self.requests.append(request)
        if not self.texts:
            raise AssertionError(f"the script has no reply left for {request.user_text!r}")
        text = self.texts.pop(0)
        if on_text is not None:
            for piece in text.split(" "):
                on_text(piece + " ")
        return TutorReply(text=text, answer_key=None, stopped=False, notice=None, n_tokens=len(text.split()),
                          ttft_s=0.0, tokens_per_s=0.0, model_id=self.model_id, adapter_version=None,
                          messages=({"role": "user", "content": request.user_text + request.facts},))

    def complete(self, messages: list[dict[str, str]], settings: GenerationSettings, *,
                 max_new_tokens: int | None = None, temperature: float | None = None,
                 stop: threading.Event | None = None) -> str:
        self.completions.append([dict(m) for m in messages])
        if not self.texts:
            raise AssertionError(f"the script has no completion left for {messages[-1]['content']!r}")
        return self.texts.pop(0)
