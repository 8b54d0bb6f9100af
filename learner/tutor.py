"""The tutor: turns a student's message into a streamed reply from the loaded model.

Generation runs on the calling thread (the app's model worker, or the CLI's main thread); text
pieces reach `on_text` as they are decoded, and a `threading.Event` set from any other thread
stops generation at the next token.
"""
from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

from learner.errors import GenerationError
from learner.loading import LoadedModel, stop_token_ids
from learner.prompts import MODES, build_prompt, render_chat
from learner.settings import GenerationSettings
from learner.types import TutorReply, TutorRequest

# The practice prompt asks for a final line "Answer key: ...". Models decorate it at times
# ("**Answer key:**", "### Answer Key -"), so match loosely but only at the start of a line.
_ANSWER_KEY_LINE = re.compile(r"^[ \t>#*_-]*answer[ \t]*key[ \t*_]*[:：\-–—][ \t*_]*", re.IGNORECASE | re.MULTILINE)
_ANSWER_KEY_WORDS = "answer key:"


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


class _CallbackStreamer(TextStreamer):
    """transformers' word-boundary streaming, delivering each finalized piece to a callback."""

    def __init__(self, tokenizer, on_piece: Callable[[str], None], on_first_token: Callable[[], None]) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._on_piece = on_piece
        self._on_first_token = on_first_token
        self._seen_prompt = False

    def put(self, value) -> None:
        if self._seen_prompt:
            self._on_first_token()
        self._seen_prompt = True
        super().put(value)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._on_piece(text)


class _StopOnEvent(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class Tutor:
    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model_id = loaded.model_id
        self.adapter_version: int | None = None
        self.adapter_path: Path | None = None      # the LoRA folder in use (None: the base model)
        self._stop_ids = stop_token_ids(loaded)

    def set_adapter(self, path: Path | None, version: int | None) -> None:
        """Hot-swap the LoRA adapter (a PEFT folder: adapter_config.json + adapter_model.safetensors)
        on the loaded model, or go back to the base model with `path=None`. Call it from the thread
        that generates (between replies); later replies record `version` as their adapter_version.

        The base weights are never touched: PEFT injects LoRA layers once, further versions load as
        named adapters beside them (the previous one is then deleted, so memory stays flat), and the
        base model is served by disabling the adapter layers.
        """
        from peft import PeftModel

        model = self.loaded.model
        if path is None:
            if isinstance(model, PeftModel):
                model.base_model.disable_adapter_layers()
            self.adapter_version = None
            self.adapter_path = None
            return
        path = Path(path)
        if not (path / "adapter_config.json").is_file() or not (path / "adapter_model.safetensors").is_file():
            raise GenerationError(f"{path} is not a complete LoRA adapter (adapter_config.json and "
                                  "adapter_model.safetensors are needed).")
        name = f"v{version}" if version is not None else f"adapter-{path.name}"
        try:
            if not isinstance(model, PeftModel):
                model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
                self.loaded.model = model
            else:
                previous = model.active_adapter
                if name not in model.peft_config:
                    model.load_adapter(str(path), adapter_name=name, is_trainable=False)
                model.set_adapter(name)
                model.base_model.enable_adapter_layers()
                for old in [a for a in model.peft_config if a != name]:
                    if old == previous or old.startswith(("v", "adapter-")):
                        model.delete_adapter(old)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise GenerationError(f"Could not load the adapter in {path}: {exc}") from exc
        model.eval()
        self.adapter_version = version
        self.adapter_path = path

    def reply(self, request: TutorRequest, settings: GenerationSettings, *,
              on_text: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> TutorReply:
        if not request.user_text or not request.user_text.strip():
            raise ValueError("The message is empty: type a question first.")
        if request.mode not in MODES:
            raise ValueError(f"Unknown mode {request.mode!r}: expected one of {', '.join(MODES)}.")
        started = time.perf_counter()
        loaded = self.loaded
        built = build_prompt(request, loaded.tokenizer, context_window=loaded.context_window,
                             max_new_tokens=settings.max_new_tokens)
        prompt_ids = render_chat(loaded.tokenizer, built.messages)
        max_new_tokens = max(1, min(settings.max_new_tokens, loaded.context_window - len(prompt_ids)))

        stop = stop or threading.Event()
        visible = _VisibleText(hide_answer_key=request.mode == "practice", emit=on_text)
        first_token_at: list[float] = []

        def on_first_token() -> None:
            if not first_token_at:
                first_token_at.append(time.perf_counter())

        streamer = _CallbackStreamer(loaded.tokenizer, visible.feed, on_first_token)
        input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=loaded.model.device)
        try:
            with torch.inference_mode():
                output = loaded.model.generate(
                    input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                    generation_config=self._generation_config(settings, max_new_tokens),
                    streamer=streamer, stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop)]),
                )
        except torch.OutOfMemoryError as exc:
            raise GenerationError("The model ran out of memory. Lower 'max new tokens', shorten the "
                                  "conversation, or use a smaller model / the CPU.") from exc
        except RuntimeError as exc:
            raise GenerationError(f"Generation failed: {exc}") from exc
        finished = time.perf_counter()
        visible.finish()

        n_tokens = int(output.shape[-1] - input_ids.shape[-1])
        first = first_token_at[0] if first_token_at else finished
        decode_s = finished - first
        text, answer_key = visible.shown, None
        if request.mode == "practice":
            _, answer_key = split_answer_key(visible.raw)
        return TutorReply(
            text=text, answer_key=answer_key, stopped=stop.is_set(), notice=built.notice, n_tokens=n_tokens,
            ttft_s=first - started, tokens_per_s=(n_tokens - 1) / decode_s if n_tokens > 1 and decode_s > 0 else 0.0,
            model_id=self.model_id, adapter_version=self.adapter_version,
            messages=tuple(dict(m) for m in built.messages),
        )

    def _generation_config(self, settings: GenerationSettings, max_new_tokens: int):
        config = copy.deepcopy(self.loaded.model.generation_config)
        config.max_new_tokens = max_new_tokens
        config.max_length = None
        config.min_new_tokens = None
        config.eos_token_id = self._stop_ids or config.eos_token_id
        config.pad_token_id = self.loaded.tokenizer.pad_token_id
        if settings.temperature > 0:
            config.do_sample = True
            config.temperature = settings.temperature
        else:
            # Greedy. The sampling knobs the model ships with get their neutral values, not None:
            # generate() refills None from the model's defaults and then warns they are unused.
            config.do_sample = False
            config.temperature = 1.0
            config.top_p = 1.0
            config.top_k = 50
            config.min_p = None
        return config
