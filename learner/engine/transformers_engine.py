"""The transformers engine: today's path (a prepared Hugging Face folder, bf16 on CPU), behind the
same seam as the GGUF engine. Training keeps using transformers; the chat uses this engine only
where llama.cpp is unavailable or the model has no GGUF.

`generate()` has no token-by-token iterator, so it runs on a helper thread that hands tokens over a
queue; the generation's stop event doubles as its StoppingCriteria, and leaving the iteration early
stops and joins the thread.
"""
from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from learner.engine.base import (
    Generation,
    Message,
    Prompt,
    SamplingSettings,
    is_token_ids,
    reply_budget,
)
from learner.errors import GenerationError
from learner.loading import LoadedModel, load_model, stop_token_ids
from learner.prompts import render_chat
from learner.sources import PreparedModel

_DONE = object()


class _StopOnEvent(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _TokenQueue:
    """The streamer interface generate() calls: the prompt first, then one tensor per new token."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[Any] = queue.Queue()
        self._seen_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if not self._seen_prompt:
            self._seen_prompt = True
            return
        for token in value.reshape(-1).tolist():
            self.tokens.put(int(token))

    def end(self) -> None:
        self.tokens.put(_DONE)


class TransformersEngine:
    name = "transformers"

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model_id = loaded.model_id
        self.context_window = loaded.context_window
        self._stop_ids = set(stop_token_ids(loaded))
        self._adapter_path: Path | None = None
        self._adapters_loaded = 0   # names each PEFT adapter uniquely, so a version set again reloads

    @classmethod
    def load(cls, prepared: PreparedModel, *, device: str = "auto", dtype: str = "auto") -> TransformersEngine:
        return cls(load_model(prepared, device=device, dtype=dtype))

    @property
    def adapter(self) -> Path | None:
        return self._adapter_path

    @property
    def sampling_defaults(self) -> SamplingSettings:
        """The model's own generation config (Qwen ships top-p 0.8, top-k 20, repetition penalty 1.1)."""
        config = self.loaded.model.generation_config
        return SamplingSettings(temperature=float(config.temperature or 0.0) if config.do_sample else 0.0,
                                top_p=float(config.top_p or 1.0), top_k=int(config.top_k or 0),
                                repetition_penalty=float(config.repetition_penalty or 1.0))

    def render(self, messages: Sequence[Message]) -> list[int]:
        return render_chat(self.loaded.tokenizer, list(messages))

    def count_tokens(self, prompt: Prompt | str) -> int:
        if isinstance(prompt, str):
            return len(self.loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return len(prompt) if is_token_ids(prompt) else len(self.render(prompt))  # type: ignore[arg-type]

    def _generation_config(self, settings: SamplingSettings, max_new_tokens: int) -> GenerationConfig:
        # From the model's own config, as learner.tutor does: generate() refills unset fields from the
        # model's defaults (Qwen ships sampling ones) and then warns that greedy ignores them.
        config = copy.deepcopy(self.loaded.model.generation_config)
        config.max_new_tokens = max_new_tokens
        config.max_length = None
        config.min_new_tokens = None
        config.eos_token_id = sorted(self._stop_ids)
        config.pad_token_id = self.loaded.tokenizer.pad_token_id
        config.repetition_penalty = settings.repetition_penalty
        if settings.greedy:
            config.do_sample = False
            config.temperature, config.top_p, config.top_k, config.min_p = 1.0, 1.0, 50, None
        else:
            config.do_sample = True
            config.temperature = settings.temperature
            config.top_p = settings.top_p
            config.top_k = settings.top_k or None
            config.min_p = None
        return config

    def stream(self, prompt: Prompt, settings: SamplingSettings, stop: threading.Event | None = None) -> Generation:
        ids = list(prompt) if is_token_ids(prompt) else self.render(prompt)  # type: ignore[arg-type]
        max_new = reply_budget(ids, self.context_window, settings.max_new_tokens)
        generation = Generation(prompt_tokens=len(ids), pieces=iter(()))
        generation.pieces = self._generate(ids, settings, stop or threading.Event(), max_new, generation)
        return generation

    def _generate(self, ids: list[int], settings: SamplingSettings, stop: threading.Event, max_new: int,
                  generation: Generation) -> Iterator[str]:
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        inner_stop = threading.Event()   # set when the caller leaves the iteration early
        streamer = _TokenQueue()
        failure: list[BaseException] = []
        input_ids = torch.tensor([ids], dtype=torch.long, device=model.device)
        if settings.seed is not None:
            torch.manual_seed(settings.seed)

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                   generation_config=self._generation_config(settings, max_new), streamer=streamer,
                                   stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop), _StopOnEvent(inner_stop)]))
            except BaseException as exc:  # noqa: BLE001 - handed to the iterating thread, which raises it
                failure.append(exc)
            finally:
                streamer.end()

        worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
        worker.start()
        shown = ""
        completed = False
        try:
            while (token := streamer.tokens.get()) is not _DONE:
                if generation.first_token_at is None:
                    generation.first_token_at = time.perf_counter()
                if token in self._stop_ids:
                    generation.finish_reason = "end_of_turn"
                    continue
                generation.token_ids.append(token)
                text = tokenizer.decode(generation.token_ids, skip_special_tokens=True)
                if text.endswith("\ufffd"):   # a character split across tokens: wait for the rest
                    continue
                if len(text) > len(shown) and text.startswith(shown):
                    piece, shown = text[len(shown):], text
                    yield piece
            text = tokenizer.decode(generation.token_ids, skip_special_tokens=True)
            if text.startswith(shown) and len(text) > len(shown):
                yield text[len(shown):]
            completed = True
        finally:
            inner_stop.set()
            worker.join()
            generation.finished_at = time.perf_counter()
            if generation.finish_reason is None:
                generation.finish_reason = "length" if completed and not stop.is_set() else "stopped"
        if failure:
            exc = failure[0]
            if isinstance(exc, torch.OutOfMemoryError):
                raise GenerationError("The model ran out of memory. Lower 'max new tokens' or shorten the "
                                      "conversation.") from exc
            raise GenerationError(f"Generation failed: {exc}") from exc

    def set_adapter(self, path: Path | None) -> None:
        """PEFT adapters, swapped as `learner.tutor.Tutor.set_adapter` does (named adapters, the previous
        one deleted; None disables the adapter layers)."""
        from peft import PeftModel

        model = self.loaded.model
        if path is None:
            if isinstance(model, PeftModel):
                model.base_model.disable_adapter_layers()
            self._adapter_path = None
            return
        path = Path(path)
        self._adapters_loaded += 1
        name = f"adapter-{self._adapters_loaded}"
        try:
            if not isinstance(model, PeftModel):
                model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
                self.loaded.model = model
            else:
                previous = list(model.peft_config)
                model.load_adapter(str(path), adapter_name=name, is_trainable=False)
                model.set_adapter(name)
                model.base_model.enable_adapter_layers()
                for old in previous:
                    model.delete_adapter(old)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise GenerationError(f"Could not load the adapter in {path}: {exc}") from exc
        model.eval()
        self._adapter_path = path

    def unload(self) -> None:
        self.loaded.model = None  # type: ignore[assignment]
