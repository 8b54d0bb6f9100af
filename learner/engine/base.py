"""The serving-engine seam: what the tutor needs from whatever runs the model.

An engine holds one loaded model and serves one generation at a time, on the thread that calls it
(the app's model worker, the CLI's main thread). `stream()` returns a `Generation`: iterate it for
the reply's text pieces as they are decoded; a `threading.Event` set from any other thread ends it
before the next token. Adapters swap between generations, on that same thread.

Torch-free on purpose: the llama.cpp engine and everything the chat needs import without the
training stack.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from learner.errors import GenerationError, LearnerError

Message = dict[str, str]                  # {"role": ..., "content": ...}
Prompt = Sequence[Message] | Sequence[int]  # chat messages, or token ids already rendered
FinishReason = Literal["end_of_turn", "length", "stopped"]


class EngineUnavailable(LearnerError):
    """This engine cannot run here (its package is missing or failed to build); the message says how
    to fix it. Callers fall back to another engine."""


@dataclass(frozen=True, kw_only=True)
class SamplingSettings:
    """How the next token is chosen. temperature 0 is greedy; the repetition penalty applies in both
    cases, to the prompt's tokens as well as the reply's (as transformers does)."""
    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0                    # 0: no top-k cut
    repetition_penalty: float = 1.0   # 1.0: off
    seed: int | None = None           # None: a fresh seed each reply

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens!r}).")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or more (got {self.temperature!r}).")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p!r}).")
        if self.top_k < 0:
            raise ValueError(f"top_k must be 0 (off) or more (got {self.top_k!r}).")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be above 0 (got {self.repetition_penalty!r}).")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(kw_only=True)
class Generation:
    """One reply being generated. Iterating yields text pieces (joined, they are the reply's text);
    once the iteration ends the figures below are final."""
    prompt_tokens: int
    pieces: Iterator[str] = field(repr=False)
    cached_tokens: int = 0    # prompt tokens taken from the KV cache (a conversation's shared start)
    token_ids: list[int] = field(default_factory=list)   # generated, the end-of-turn token excluded
    finish_reason: FinishReason | None = None
    started_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    finished_at: float | None = None

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    @property
    def ttft_s(self) -> float:
        """Seconds from the call to the first generated token (the prompt's prefill included)."""
        end = self.first_token_at or self.finished_at or time.perf_counter()
        return end - self.started_at

    @property
    def tokens_per_s(self) -> float:
        """Decoding speed after the first token."""
        n = len(self.token_ids) + (1 if self.finish_reason == "end_of_turn" else 0)
        if self.first_token_at is None or self.finished_at is None or n < 2:
            return 0.0
        elapsed = self.finished_at - self.first_token_at
        return (n - 1) / elapsed if elapsed > 0 else 0.0


@runtime_checkable
class ServingEngine(Protocol):
    """What the tutor needs from a loaded model. Engines are made by their own `load(...)`
    classmethod (each takes what its format needs: a GGUF file, a prepared Hugging Face folder)."""

    name: str                 # "llama.cpp", "transformers": shown in Settings and in bench output
    model_id: str
    context_window: int       # tokens (prompt + reply) one generation may use

    @property
    def adapter(self) -> Path | None:
        """The LoRA adapter applied now (None: the base model)."""

    def render(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the conversation through the model's chat template, ending where the
        assistant's reply starts."""

    def count_tokens(self, prompt: Prompt | str) -> int:
        """Tokens of a conversation (rendered as `render` does), or of a plain text."""

    def stream(self, prompt: Prompt, settings: SamplingSettings, stop: Any = None) -> Generation:
        """Generate a reply to `prompt` (messages, or token ids from `render`). `stop`, a
        `threading.Event`, is checked before every token."""

    def set_adapter(self, path: Path | None) -> None:
        """Apply the LoRA adapter in `path` (the engine's format, or a PEFT folder it exports), or go
        back to the base model with None, without reloading the base model."""

    def unload(self) -> None:
        """Free the model; the engine cannot be used afterwards."""


# -- chat templates ----------------------------------------------------------------------------

def compile_chat_template(template: str) -> Any:
    """A Jinja chat template compiled as transformers compiles it (sandboxed, trim_blocks,
    lstrip_blocks, loop controls, `tojson` without ASCII escapes, `raise_exception`,
    `strftime_now`), so both engines render the same text from the same template."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
               separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format: str) -> str:
        return time.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(template)


def plain_transcript(messages: Sequence[Message]) -> str:
    """A base model without a chat template gets a plain transcript (as learner.prompts does)."""
    return "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages) + "Assistant:"


class PromptTokenizer:
    """The two members of a Hugging Face tokenizer that `learner.prompts.build_prompt` uses
    (`chat_template`, `apply_chat_template`), answered by an engine, so prompts are trimmed by the
    serving engine's own token counts."""

    def __init__(self, engine: ServingEngine) -> None:
        self.engine = engine
        self.chat_template = "engine"   # truthy: build_prompt renders through the chat template

    def apply_chat_template(self, messages: Sequence[Message], **_: Any) -> dict[str, list[int]]:
        return {"input_ids": self.engine.render(messages)}


def is_token_ids(prompt: Prompt) -> bool:
    return len(prompt) > 0 and all(isinstance(t, int) for t in prompt)


def reply_budget(ids: Sequence[int], context_window: int, max_new_tokens: int) -> int:
    """How many tokens a reply to the prompt `ids` may have in the context window; GenerationError
    when the prompt alone fills it."""
    if len(ids) >= context_window:
        raise GenerationError(f"The prompt has {len(ids):,} tokens, more than the model's context window "
                              f"({context_window:,}); shorten the conversation.")
    return min(max_new_tokens, context_window - len(ids))
