"""Which engine serves replies: llama.cpp on the model's GGUF file where it can, transformers
otherwise, with one line that says why and how to fix it.

- "auto" (the default): llama.cpp for a GGUF model (the embedded one, a local .gguf file) when
  llama-cpp-python is installed, unless a GPU device was chosen in Settings (the transformers path
  uses torch's CUDA/MPS; a llama.cpp build for the GPU is chosen with engine "llama.cpp").
- "llama.cpp": the same, and a notice when it cannot be used.
- "transformers": today's path; the GGUF is converted to a bf16 folder on first use.

A Hugging Face folder or hub id has no GGUF and runs on transformers without a notice.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from learner.engine.base import SamplingSettings, ServingEngine
from learner.engine.gguf_source import gguf_for_spec
from learner.settings import GenerationSettings
from learner.sources import QWEN_GENERATION_DEFAULTS, ProgressCallback, embedded_model_for
from storage import DataDir

# The embedded model's published sampling defaults, which its GGUF does not carry.
EMBEDDED_SAMPLING = SamplingSettings(temperature=QWEN_GENERATION_DEFAULTS["temperature"],
                                     top_p=QWEN_GENERATION_DEFAULTS["top_p"], top_k=QWEN_GENERATION_DEFAULTS["top_k"],
                                     repetition_penalty=QWEN_GENERATION_DEFAULTS["repetition_penalty"])


@dataclass(frozen=True, kw_only=True)
class LoadedEngine:
    engine: ServingEngine
    notice: str | None = None   # one line for the user: why replies are on the slower engine, and the fix


def wants_llama_cpp(settings: GenerationSettings) -> bool:
    if settings.engine == "transformers":
        return False
    return settings.engine == "llama.cpp" or settings.device in ("auto", "cpu")


def load_engine(settings: GenerationSettings, data_dir: DataDir, *, on_progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> LoadedEngine:
    """Load the model `settings` names on the engine that serves it best here."""
    notice = None
    if wants_llama_cpp(settings):
        from learner.engine import llama_cpp_engine

        problem = llama_cpp_engine.available()
        gguf = gguf_for_spec(settings.model_spec, data_dir, on_progress=on_progress, cancel=cancel) \
            if problem is None or settings.engine == "llama.cpp" else None
        if problem is None and gguf is not None:
            sampling = EMBEDDED_SAMPLING if embedded_model_for(settings.model_spec) is not None else None
            engine = llama_cpp_engine.LlamaCppEngine.load(gguf.path, model_id=gguf.model_id,
                                                          sampling_defaults=sampling)
            return LoadedEngine(engine=engine)
        if problem is not None:
            notice = f"Replies run on the slower transformers engine: {problem}"
        elif settings.engine == "llama.cpp":
            notice = (f"{settings.model_spec} is not a GGUF model, so replies run on transformers; choose the "
                      f"default model or a .gguf file for llama.cpp.")
    return LoadedEngine(engine=_load_transformers(settings, data_dir, on_progress, cancel), notice=notice)


def _load_transformers(settings: GenerationSettings, data_dir: DataDir, on_progress: ProgressCallback | None,
                       cancel: threading.Event | None) -> ServingEngine:
    from learner.engine.transformers_engine import TransformersEngine
    from learner.errors import PreparationCancelled
    from learner.loading import load_model
    from learner.sources import prepare_model

    prepared = prepare_model(settings.model_spec, data_dir, on_progress=on_progress, cancel=cancel)
    if cancel is not None and cancel.is_set():
        raise PreparationCancelled("Cancelled before loading.")
    return TransformersEngine(load_model(prepared, device=settings.device, dtype=settings.dtype))


def uses_llama_cpp(settings: GenerationSettings) -> bool:
    """Whether `load_engine` would serve `settings` with llama.cpp (without loading anything)."""
    from learner.engine import llama_cpp_engine
    from learner.engine.gguf_source import is_gguf_spec

    return wants_llama_cpp(settings) and is_gguf_spec(settings.model_spec) and llama_cpp_engine.available() is None


def needs_preparation(settings: GenerationSettings, data_dir: DataDir) -> bool:
    """True when loading `settings` first does slow work worth a progress bar: assembling the
    embedded GGUF (seconds) for llama.cpp; for transformers, converting or downloading (minutes)."""
    from learner import sources
    from learner.engine.gguf_source import gguf_needs_assembly

    if uses_llama_cpp(settings):
        return gguf_needs_assembly(settings.model_spec, data_dir)
    return sources.needs_preparation(settings.model_spec, data_dir)
