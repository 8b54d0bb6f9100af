"""The GGUF engine: llama.cpp through llama-cpp-python, reading the quantised file directly.

- Prompts go through the model's own chat template (the one in the GGUF, rendered as transformers
  renders it) and llama.cpp's tokenizer; token ids rendered elsewhere are accepted as they are.
- Consecutive replies share the conversation's start, so the KV cache is kept and only the new
  part of the prompt is prefilled.
- Sampling is llama.cpp's sampler chain in C; the repetition penalty sees the prompt's tokens too,
  and the order (penalty, temperature, top-k, top-p) is transformers', so both engines sample from
  the same distribution.
- LoRA adapters (GGUF LoRA files; a PEFT folder is exported first) are set on the live context:
  the base weights are never reloaded. Changing the adapter drops the KV cache, which was
  computed with the previous weights.
- The stop event is checked between prefill batches and before every token.

llama_cpp is imported when a model is loaded, never at import time, so this module can be imported
where the package failed to build; `available()` says whether it can run.
"""
from __future__ import annotations

import atexit
import codecs
import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from learner.engine.base import (
    EngineUnavailable,
    Generation,
    Message,
    Prompt,
    SamplingSettings,
    compile_chat_template,
    is_token_ids,
    plain_transcript,
    reply_budget,
)
from learner.engine.lora_gguf import LORA_GGUF_NAME, ensure_lora_gguf
from learner.errors import GenerationError, ModelSourceError

# Qwen2.5 accepts 32k tokens, but prefilling that on a laptop CPU takes minutes; a tutoring exchange
# fits comfortably in 4k (the transformers path caps it the same way).
DEFAULT_MAX_CONTEXT = 4096
# Spins at an OpenMP barrier before a thread sleeps (see _import_llama_cpp).
OMP_SPIN_COUNT = 10_000
# Prompt tokens per llama_decode call; Stop is checked between batches.
PREFILL_BATCH = 256
INSTALL_HINT = ("Run `make run` again to build it (it needs a C/C++ compiler and CMake; about 20 minutes "
                "on 2 cores), or `pip install llama-cpp-python`.")


_log = logging.getLogger("llama_cpp")
_log.addHandler(logging.NullHandler())   # silent unless the app configures logging
# ggml's levels (NONE, DEBUG, INFO, WARN, ERROR, CONT). llama-cpp-python's own callback still maps
# them by an older numbering and prints warnings (one per LoRA tensor kept off the repacked
# weights) to stderr as errors; ours hands them to logging, where the app decides what to show.
_GGML_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_log_state = {"level": logging.DEBUG, "callback": None}


def _install_log_callback(llama_cpp: Any) -> None:
    if _log_state["callback"] is not None:
        return

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: Any) -> None:
        message = text.decode("utf-8", errors="replace").rstrip("\n")
        if level != 5:   # CONT continues the previous message at its level
            _log_state["level"] = _GGML_LEVELS.get(level, logging.DEBUG)
            if "cannot use buft" in message:   # expected: LoRA weights stay off the repacked layout
                _log_state["level"] = logging.DEBUG
        _log.log(_log_state["level"], "%s", message)

    _log_state["callback"] = forward   # ctypes callbacks must outlive every call into the library
    atexit.register(_close_null_files)
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


def _import_llama_cpp() -> Any:
    # llama.cpp's CPU threads meet at an OpenMP barrier after every operation. How long a thread spins
    # there before sleeping decides the speed (measured 2026-12-01 on 2 cores, 0.5B, 2 threads):
    #   quiet machine:         sleep at once (PASSIVE) 27 tokens/s, 16.6 with a LoRA; spin 10k 47.8 / 33.0;
    #                          GNU's default (300k) 45.2 / 33.5;
    #   2 busy processes too:  PASSIVE 20.3, spin 10k 18.8, spin 1k 19.6, GNU's default 12.2;
    #   load 10-15:            GNU's default fell to 1-6 tokens/s.
    # A short spin keeps the quiet speed and most of PASSIVE's robustness. libgomp reads it once, when
    # it is loaded, so it is set for this import only and not passed on to subprocesses (training uses
    # torch's own OpenMP). Values the user set are kept.
    own_policy = "llama_cpp" not in sys.modules and not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ)
    if own_policy:
        os.environ["GOMP_SPINCOUNT"] = str(OMP_SPIN_COUNT)
    try:
        import llama_cpp
    except (ImportError, OSError) as exc:   # OSError: the shared library is missing or built for another CPU
        raise EngineUnavailable(f"The llama.cpp engine is not available ({exc}). {INSTALL_HINT}") from exc
    finally:
        if own_policy:
            os.environ.pop("GOMP_SPINCOUNT", None)
    _install_log_callback(llama_cpp)
    return llama_cpp


def _close_null_files() -> None:
    """llama_cpp opens two /dev/null handles at import and never closes them; at exit they would
    be reported as unclosed files (an error where warnings are errors)."""
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None and not handle.closed:
            handle.close()


def available() -> str | None:
    """None when llama.cpp can run here, else why not (with the fix)."""
    try:
        _import_llama_cpp()
    except EngineUnavailable as exc:
        return str(exc)
    return None


def default_threads() -> int:
    """Every core this process may use: decoding is memory-bound and gains little beyond the
    physical cores, but llama-cpp-python's own default (half the logical CPUs) leaves a 2-core
    machine at one thread."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # macOS, Windows
        return max(1, os.cpu_count() or 1)


class LlamaCppEngine:
    name = "llama.cpp"

    def __init__(self, llama: Any, *, model_id: str, gguf_path: Path, context_window: int,
                 sampling_defaults: SamplingSettings | None = None) -> None:
        self._llama_cpp = _import_llama_cpp()
        # The GGUF carries no generation config; the caller knows the model's published one.
        self.sampling_defaults = sampling_defaults or SamplingSettings()
        self._llm = llama
        self.model_id = model_id
        self.gguf_path = gguf_path
        self.context_window = context_window
        self._vocab = self._llama_cpp.llama_model_get_vocab(llama.model)
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._adapter_path: Path | None = None
        self._adapter_handle: Any = None
        self.last_cached_tokens = 0   # prompt tokens the last prefill found in the KV cache
        template = llama.metadata.get("tokenizer.chat_template")
        self._template = compile_chat_template(template) if template else None
        self._special_tokens = {name: self._token_text(getattr(llama, f"token_{kind}")())
                                for name, kind in (("bos_token", "bos"), ("eos_token", "eos"))}

    @classmethod
    def load(cls, gguf_path: Path, *, model_id: str, context_window: int = DEFAULT_MAX_CONTEXT,
             n_threads: int | None = None, sampling_defaults: SamplingSettings | None = None) -> LlamaCppEngine:
        llama_cpp = _import_llama_cpp()
        gguf_path = Path(gguf_path)
        if not gguf_path.is_file():
            raise ModelSourceError(f"The model file {gguf_path} does not exist.")
        threads = n_threads or default_threads()
        try:
            # n_gpu_layers=-1: every layer on the GPU where the build has one (CUDA, Metal); a CPU
            # build ignores it.
            llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=context_window, n_batch=PREFILL_BATCH,
                                  n_ubatch=PREFILL_BATCH, n_threads=threads, n_threads_batch=threads,
                                  n_gpu_layers=-1, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelSourceError(f"llama.cpp could not load {gguf_path.name}: {exc}") from exc
        trained = int(llama_cpp.llama_model_n_ctx_train(llm.model)) or context_window
        window = min(context_window, trained, llm.n_ctx())
        return cls(llm, model_id=model_id, gguf_path=gguf_path, context_window=window,
                   sampling_defaults=sampling_defaults)

    # -- tokens ---------------------------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _piece(self, token: int) -> bytes:
        """The bytes a generated token adds to the reply (control tokens add none)."""
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buffer,
                                                 len(self._piece_buffer), 0, False)
        if n < 0:
            self._piece_buffer = ctypes.create_string_buffer(-n)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buffer,
                                                     len(self._piece_buffer), 0, False)
        return self._piece_buffer.raw[:n]

    def render_text(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        if self._template is None:
            text = plain_transcript(messages)
            return text if add_generation_prompt else text.removesuffix("Assistant:")
        return self._template.render(messages=list(messages), tools=None, documents=None,
                                     add_generation_prompt=add_generation_prompt, **self._special_tokens)

    def render(self, messages: Sequence[Message]) -> list[int]:
        return list(self._llm.tokenize(self.render_text(messages).encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, prompt: Prompt | str) -> int:
        if isinstance(prompt, str):
            return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=False))
        return len(prompt) if is_token_ids(prompt) else len(self.render(prompt))  # type: ignore[arg-type]

    def is_end_of_turn(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    # -- generation -----------------------------------------------------------------------------

    def stream(self, prompt: Prompt, settings: SamplingSettings, stop: threading.Event | None = None) -> Generation:
        ids = list(prompt) if is_token_ids(prompt) else self.render(prompt)  # type: ignore[arg-type]
        if not ids:
            raise ValueError("The prompt is empty.")
        max_new = reply_budget(ids, self.context_window, settings.max_new_tokens)
        generation = Generation(prompt_tokens=len(ids), pieces=iter(()))
        generation.pieces = self._generate(ids, settings, stop or threading.Event(), max_new, generation)
        return generation

    def _sampler(self, settings: SamplingSettings) -> Any:
        lc = self._llama_cpp
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if settings.repetition_penalty != 1.0:
            # The window covers the whole context: transformers penalises every earlier token.
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_penalties(
                self._llm.n_vocab(), self.context_window, settings.repetition_penalty, 0.0, 0.0))
        if settings.greedy:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            return chain
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(settings.temperature))
        if settings.top_k > 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(settings.top_k))
        if settings.top_p < 1.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(settings.top_p, 1))
        seed = settings.seed if settings.seed is not None else lc.LLAMA_DEFAULT_SEED
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed))
        return chain

    def _prefill(self, ids: list[int], stop: threading.Event) -> bool:
        """Bring the KV cache to `ids`, reusing the longest cached prefix; False if Stop came first.
        At least the last token is always decoded, so the logits are this prompt's."""
        llm = self._llm
        cached = llm.input_ids[:llm.n_tokens].tolist()
        keep = 0
        for a, b in zip(cached, ids):
            if a != b:
                break
            keep += 1
        llm.n_tokens = min(keep, len(ids) - 1)   # Llama.eval drops the cache from n_tokens on
        self.last_cached_tokens = llm.n_tokens
        for start in range(llm.n_tokens, len(ids), PREFILL_BATCH):
            if stop.is_set():
                return False
            llm.eval(ids[start:start + PREFILL_BATCH])
        return True

    def _generate(self, ids: list[int], settings: SamplingSettings, stop: threading.Event, max_new: int,
                  generation: Generation) -> Iterator[str]:
        lc = self._llama_cpp
        llm = self._llm
        sampler = self._sampler(settings)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            prefilled = self._prefill(ids, stop)
            generation.cached_tokens = self.last_cached_tokens
            if not prefilled:
                generation.finish_reason = "stopped"
                return
            if settings.repetition_penalty != 1.0:
                for token in ids:
                    lc.llama_sampler_accept(sampler, token)
            for index in range(max_new):
                if stop.is_set():
                    generation.finish_reason = "stopped"
                    break
                token = int(lc.llama_sampler_sample(sampler, llm.ctx, -1))
                if generation.first_token_at is None:
                    generation.first_token_at = time.perf_counter()
                if self.is_end_of_turn(token):
                    generation.finish_reason = "end_of_turn"
                    break
                generation.token_ids.append(token)
                text = decoder.decode(self._piece(token))
                if text:
                    yield text
                if index + 1 < max_new:
                    llm.eval([token])
            else:
                generation.finish_reason = "length"
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        except RuntimeError as exc:
            llm.reset()   # a failed decode leaves the KV cache in an unknown state
            raise GenerationError(f"Generation failed: {exc}") from exc
        finally:
            lc.llama_sampler_free(sampler)
            generation.finished_at = time.perf_counter()
            if generation.finish_reason is None:   # the caller stopped iterating
                generation.finish_reason = "stopped"

    def warm(self, prompt: Sequence[Message] | Sequence[int], stop: threading.Event | None = None) -> int:
        """Prefill the start every prompt shares (the system message, say) into the KV cache now, while
        nobody waits, so the next reply prefills only the rest. Messages are rendered without the
        assistant header. Returns the tokens now cached."""
        ids = list(prompt) if is_token_ids(prompt) else list(self._llm.tokenize(  # type: ignore[arg-type]
            self.render_text(prompt, add_generation_prompt=False).encode("utf-8"), add_bos=False, special=True))
        if ids:
            self._prefill(ids + [ids[-1]], stop or threading.Event())   # the extra token is dropped again
            self._llm.n_tokens = min(self._llm.n_tokens, len(ids))
        return self._llm.n_tokens

    def warm_text(self, text: str, stop: threading.Event | None = None) -> int:
        """Prefill the start of a prompt given as rendered text (the chat template's output up to where
        the student's message will go) while the student is still typing. Returns the tokens cached."""
        return self.warm(list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)), stop)

    @property
    def cached_tokens(self) -> int:
        """Tokens in the KV cache now (the start the next prompt may share)."""
        return int(self._llm.n_tokens)

    def forget_cache(self) -> None:
        """Drop the KV cache, so the next reply prefills its whole prompt (benchmarks measure a
        conversation's first reply this way)."""
        self._llm.reset()

    # -- adapters -------------------------------------------------------------------------------

    @property
    def adapter(self) -> Path | None:
        return self._adapter_path

    def set_adapter(self, path: Path | None) -> None:
        """Apply a GGUF LoRA file, or a PEFT adapter folder (exported to `adapter.gguf` inside it on
        first use), or None for the base model."""
        lc = self._llama_cpp
        ctx = self._llm.ctx
        if path is None:
            if self._adapter_handle is not None:
                lc.llama_set_adapters_lora(ctx, None, 0, None)
                lc.llama_adapter_lora_free(self._adapter_handle)
                self._adapter_handle = None
                self._llm.reset()
            self._adapter_path = None
            return
        path = Path(path)
        gguf_file = ensure_lora_gguf(path, self.gguf_path).path if path.is_dir() else path
        if not gguf_file.is_file():
            raise GenerationError(f"{path} is not a LoRA adapter (no {LORA_GGUF_NAME} or PEFT files).")
        handle = lc.llama_adapter_lora_init(self._llm.model, str(gguf_file).encode("utf-8"))
        if not handle:
            raise GenerationError(f"llama.cpp could not load the adapter {gguf_file}: it is damaged or was "
                                  f"made for another model.")
        adapters = (lc.llama_adapter_lora_p_ctypes * 1)(handle)
        scales = (ctypes.c_float * 1)(1.0)
        if lc.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
            lc.llama_adapter_lora_free(handle)
            raise GenerationError(f"llama.cpp could not apply the adapter {gguf_file}.")
        if self._adapter_handle is not None:
            lc.llama_adapter_lora_free(self._adapter_handle)
        self._adapter_handle = handle
        self._adapter_path = path
        self._llm.reset()   # the cached prompt was computed with the previous weights

    @property
    def is_loaded(self) -> bool:
        """False once unloaded (its memory handed back)."""
        return self._llm is not None

    def unload(self) -> None:
        if self._llm is None:
            return
        if self._adapter_handle is not None:
            self._llama_cpp.llama_set_adapters_lora(self._llm.ctx, None, 0, None)
            self._llama_cpp.llama_adapter_lora_free(self._adapter_handle)
            self._adapter_handle = None
        self._llm.close()
        self._llm = None
