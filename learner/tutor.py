"""The tutor: turns a student's message into a streamed reply from the serving engine.

The tutor owns what a reply means (the mode's prompt, trimming to the context window, hiding a
practice item's answer key while it streams); the engine (learner.engine: llama.cpp on the GGUF
file, or transformers) owns how tokens are made. Generation runs on the calling thread (the app's
model worker, or the CLI's main thread); text pieces reach `on_text` as they are decoded, and a
`threading.Event` set from any other thread stops generation at the next token.

Importing this module never imports torch: a tutor on the llama.cpp engine needs none.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from learner.engine.base import PromptTokenizer, SamplingSettings, ServingEngine
from learner.errors import GenerationError
from learner.prompts import MODES, build_prompt
from learner.settings import GenerationSettings
from learner.types import TutorReply, TutorRequest

if TYPE_CHECKING:
    from learner.loading import LoadedModel

# The practice prompt asks for a final line "Answer key: ...". Models decorate it at times
# ("**Answer key:**", "### Answer Key -"), so match loosely but only at the start of a line.
_ANSWER_KEY_LINE = re.compile(r"^[ \t>#*_-]*answer[ \t]*key[ \t*_]*[:：\-–—][ \t*_]*", re.IGNORECASE | re.MULTILINE)
_ANSWER_KEY_WORDS = "answer key:"
_PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
_MESSAGE_MARK = "\u2063tutorloop-message\u2063"   # where a message goes, found again in the rendered prompt


def split_answer_key(text: str) -> tuple[str, str | None]:
    """Split a practice reply into (question shown to the student, answer key or None)."""
    match = _ANSWER_KEY_LINE.search(text)
    if match is None:
        return text.strip(), None
    key = text[match.end():].strip().strip("*_").strip()
    return text[:match.start()].rstrip(), key or None


class _VisibleText:
    """Decides which part of the raw stream the student may see yet.

    Leading and trailing whitespace is held back (so the pieces join to exactly the final text),
    and in practice mode a line that may be turning into "Answer key:" is held back until it
    is clear, and everything from that line on is never shown.
    """

    def __init__(self, *, hide_answer_key: bool, emit: Callable[[str], None] | None) -> None:
        self.hide_answer_key = hide_answer_key
        self.emit = emit
        self.raw = ""
        self.shown = ""

    def feed(self, piece: str) -> None:
        self.raw += piece
        self._flush(final=False)

    def finish(self) -> None:
        self._flush(final=True)

    def _visible(self, final: bool) -> str:
        text = self.raw
        if self.hide_answer_key:
            match = _ANSWER_KEY_LINE.search(text)
            if match is not None:
                text = text[:match.start()]
            elif not final:
                last_line_start = text.rfind("\n") + 1
                last_line = text[last_line_start:].lstrip(" \t>#*_-").lower()
                if _could_become_key_line(last_line):
                    text = text[:last_line_start]
        return text.strip()

    def _flush(self, *, final: bool) -> None:
        visible = self._visible(final)
        if len(visible) > len(self.shown) and visible.startswith(self.shown):
            piece = visible[len(self.shown):]
            self.shown = visible
            if self.emit is not None:
                self.emit(piece)


def _could_become_key_line(line: str) -> bool:
    squeezed = re.sub(r"[\s*_]+", " ", line).strip()
    return _ANSWER_KEY_WORDS.startswith(squeezed) or (squeezed.startswith("answer key") and len(squeezed) <= 14)


def as_engine(model: ServingEngine | LoadedModel) -> ServingEngine:
    """An engine as it is, or a model loaded with transformers (training, the gate, tests) behind
    the transformers engine."""
    if isinstance(model, ServingEngine):
        return model
    from learner.engine.transformers_engine import TransformersEngine

    return TransformersEngine(model)


class Tutor:
    def __init__(self, engine: ServingEngine | LoadedModel, *, notice: str | None = None) -> None:
        self.engine = as_engine(engine)
        self.model_id = self.engine.model_id
        self.adapter_version: int | None = None
        self.adapter_path: Path | None = None      # the LoRA folder in use (None: the base model)
        self.notice = notice                       # said once when the model loads (e.g. the fallback engine)

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def set_adapter(self, path: Path | None, version: int | None) -> None:
        """Hot-swap the LoRA adapter (a PEFT folder: adapter_config.json + adapter_model.safetensors,
        with its GGUF form beside them for the llama.cpp engine, exported on first use) on the loaded
        model, or go back to the base model with `path=None`. Call it from the thread that generates
        (between replies); later replies record `version` as their adapter_version. The base model is
        never reloaded."""
        if path is not None:
            path = Path(path)
            missing = [name for name in _PEFT_FILES if not (path / name).is_file()]
            if missing:
                raise GenerationError(f"{path} is not a complete LoRA adapter ({' and '.join(missing)} "
                                      f"{'is' if len(missing) == 1 else 'are'} missing).")
        try:
            self.engine.set_adapter(path)
        except GenerationError:
            raise
        except (OSError, ValueError) as exc:   # e.g. the GGUF export could not be written
            raise GenerationError(f"Could not load the adapter in {path}: {exc}") from exc
        self.adapter_version = version if path is not None else None
        self.adapter_path = path

    def sampling(self, settings: GenerationSettings, *, max_new_tokens: int | None = None,
                 temperature: float | None = None) -> SamplingSettings:
        """The engine's sampling defaults (the model's own, e.g. Qwen's repetition penalty), with the
        user's temperature and reply length."""
        defaults = getattr(self.engine, "sampling_defaults", None) or SamplingSettings()
        return replace(defaults, max_new_tokens=max_new_tokens or settings.max_new_tokens,
                       temperature=settings.temperature if temperature is None else temperature)

    def complete(self, messages: Sequence[dict[str, str]], settings: GenerationSettings, *,
                 max_new_tokens: int | None = None, temperature: float | None = None,
                 stop: threading.Event | None = None) -> str:
        """The whole reply to `messages` as one text (practice items, verdicts, comparisons, programs):
        the chat template and stop tokens are the chat's, nothing streams."""
        generation = self.engine.stream(list(messages), self.sampling(settings, max_new_tokens=max_new_tokens,
                                                                      temperature=temperature), stop)
        return "".join(generation).strip()

    def prefill(self, request: TutorRequest, settings: GenerationSettings, *,
                stop: threading.Event | None = None) -> int:
        """Prefill the prompt `request` will have while the student is still typing: the system prompt,
        the conversation, the mode's instructions and the whole words of `request.user_text` written so
        far (the last, maybe unfinished word is left for the reply). The reply then prefills only the
        rest. Returns the tokens cached (0 on an engine that keeps no cache between calls)."""
        warm_text = getattr(self.engine, "warm_text", None)
        render_text = getattr(self.engine, "render_text", None)
        if warm_text is None or render_text is None or request.mode not in MODES:
            return 0
        written = request.user_text if request.user_text != "…" else ""
        whole_words = written[:len(written) - len(re.search(r"\S*$", written).group())]
        probe = replace(request, user_text=whole_words + _MESSAGE_MARK, facts="")
        built = build_prompt(probe, PromptTokenizer(self.engine), context_window=self.engine.context_window,
                             max_new_tokens=settings.max_new_tokens)
        text = render_text(built.messages)
        cut = text.find(_MESSAGE_MARK)
        return warm_text(text[:cut], stop) if cut > 0 else 0

    def reply(self, request: TutorRequest, settings: GenerationSettings, *,
              on_text: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> TutorReply:
        if not request.user_text or not request.user_text.strip():
            raise ValueError("The message is empty: type a question first.")
        if request.mode not in MODES:
            raise ValueError(f"Unknown mode {request.mode!r}: expected one of {', '.join(MODES)}.")
        started = time.perf_counter()
        engine = self.engine
        built = build_prompt(request, PromptTokenizer(engine), context_window=engine.context_window,
                             max_new_tokens=settings.max_new_tokens)
        prompt_ids = engine.render(built.messages)
        max_new_tokens = max(1, min(settings.max_new_tokens, engine.context_window - len(prompt_ids)))
        stop = stop or threading.Event()
        visible = _VisibleText(hide_answer_key=request.mode == "practice", emit=on_text)
        generation = engine.stream(prompt_ids, self.sampling(settings, max_new_tokens=max_new_tokens), stop)
        for piece in generation:
            visible.feed(piece)
        visible.finish()
        generation.started_at = started   # TTFT as the student waits for it: prompt building included
        text, answer_key = visible.shown, None
        if request.mode == "practice":
            _, answer_key = split_answer_key(visible.raw)
        return TutorReply(
            text=text, answer_key=answer_key, stopped=stop.is_set(), notice=built.notice,
            n_tokens=len(generation.token_ids), ttft_s=generation.ttft_s, tokens_per_s=generation.tokens_per_s,
            model_id=self.model_id, adapter_version=self.adapter_version,
            messages=tuple(dict(m) for m in built.messages),
        )
