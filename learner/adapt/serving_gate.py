"""The gate measures what students get: the candidate's generated answers (must-pass prompts,
held-out bleeding) come from the serving engine students chat with, not from the training copy.

Where the chat runs on llama.cpp (a GGUF model and llama-cpp-python installed), the candidate is
saved to a scratch folder, exported to a GGUF LoRA and applied to the quantised base, exactly as the
chat would apply it after promotion. Elsewhere the training model answers, as the chat's
transformers engine would. Losses (held-out, replay) stay on the training model: they need its
gradients' precision, not its sampling.
"""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learner.adapt.recipe import Recipe
from storage import DataDir

if TYPE_CHECKING:
    from learner.engine.gguf_source import GgufModel
    from learner.tutor import Tutor

log = logging.getLogger(__name__)


def _served_gguf(spec: str, data_dir: DataDir) -> GgufModel | None:
    """The GGUF file the chat would serve `spec` from, or None where the chat runs on transformers
    (llama-cpp-python missing, or a Hugging Face model)."""
    from learner.engine import llama_cpp_engine
    from learner.engine.gguf_source import gguf_for_spec

    if llama_cpp_engine.available() is not None:
        return None
    return gguf_for_spec(spec, data_dir)


@contextmanager
def _tutor_on_llama_cpp(gguf: GgufModel, spec: str) -> Iterator[Tutor]:
    """A Tutor on llama.cpp over `gguf`, no adapter, loaded as the chat loads it; unloaded on exit."""
    from learner.engine import llama_cpp_engine
    from learner.engine.select import EMBEDDED_SAMPLING
    from learner.sources import DEFAULT_SPEC
    from learner.tutor import Tutor

    engine = llama_cpp_engine.LlamaCppEngine.load(
        gguf.path, model_id=gguf.model_id, sampling_defaults=EMBEDDED_SAMPLING if spec == DEFAULT_SPEC else None)
    try:
        yield Tutor(engine)
    finally:
        engine.unload()


@contextmanager
def candidate_on_serving_engine(model: Any, recipe: Recipe, spec: str, data_dir: DataDir, *,
                                adapter_name: str = "default") -> Iterator[Tutor | None]:
    """A Tutor on llama.cpp with the candidate adapter (the PEFT adapter `adapter_name` of `model`)
    applied, or None where the chat would not run on llama.cpp (then the training model answers)."""
    gguf = _served_gguf(spec, data_dir)
    if gguf is None:
        yield None
        return
    from learner.adapt.train import save_adapter

    with tempfile.TemporaryDirectory(prefix=".gate-", dir=data_dir.root) as scratch:
        save_adapter(model, Path(scratch), recipe, adapter_name=adapter_name)
        with _tutor_on_llama_cpp(gguf, spec) as tutor:
            tutor.set_adapter(Path(scratch), None)
            log.info("the gate's answers come from llama.cpp (%s) with the candidate applied", gguf.path.name)
            yield tutor


@contextmanager
def base_on_serving_engine(spec: str, data_dir: DataDir) -> Iterator[Tutor | None]:
    """A Tutor on llama.cpp with no adapter (the quantised base students chat with before any
    promotion), or None where the chat would not run on llama.cpp. Loaded for the block only: the
    round's training starts after it is unloaded."""
    gguf = _served_gguf(spec, data_dir)
    if gguf is None:
        yield None
        return
    with _tutor_on_llama_cpp(gguf, spec) as tutor:
        log.info("the base model on llama.cpp (%s) is loaded, no adapter", gguf.path.name)
        yield tutor


def greedy_answers(tutor: Tutor, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                   sampled: tuple[float, int] | None = None) -> list[str]:
    """Greedy completions of token-id prompts (rendered by the training tokenizer: the same vocabulary);
    with `sampled` = (temperature, seed), sampled instead, reproducibly (one seed for every prompt)."""
    from dataclasses import replace

    from learner.settings import GenerationSettings

    temperature, seed = sampled if sampled is not None else (0.0, None)
    sampling = replace(tutor.sampling(GenerationSettings(temperature=temperature, max_new_tokens=max_new_tokens)),
                       seed=seed)
    return ["".join(tutor.engine.stream(list(ids), sampling)).strip() for ids in prompts]
