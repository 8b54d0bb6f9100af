"""The llama.cpp engine on the real embedded model: the assembled GGUF, prompt ids identical to the
transformers path's (same chat template, same tokenizer behaviour), a sensible greedy reply, and a
LoRA in the recipe's shape exported, loaded and swapped on the real file."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.engine import SamplingSettings
from learner.engine.gguf_source import (
    embedded_gguf,
    embedded_gguf_problem,
    gguf_for_spec,
)
from learner.prompts import build_prompt
from learner.sources import EMBEDDED_MODEL
from learner.types import Turn, TutorRequest

pytestmark = pytest.mark.integration

CONVERSATIONS = [
    [{"role": "system", "content": "You are a patient tutor."},
     {"role": "user", "content": "What is 3/4 + 1/8? Show 12345 and 0.25, please."}],
    [{"role": "user", "content": "Explique les fractions, s'il te plaît — 分数とは？ 🍕"},
     {"role": "assistant", "content": "Une fraction est une partie d'un tout.\n\n  - numérateur\n  - dénominateur"},
     {"role": "user", "content": "```python\nprint(1/3 + 1/4)\n```\nWhy does this print 0.5833333333333333?"}],
]


@pytest.fixture(scope="module")
def real_gguf(real_model):
    data_dir, prepared, _ = real_model
    return embedded_gguf(data_dir), prepared


@pytest.fixture(scope="module")
def real_engine(real_gguf):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")
    from learner.engine.llama_cpp_engine import LlamaCppEngine

    model, _ = real_gguf
    engine = LlamaCppEngine.load(model.path, model_id=model.model_id)
    yield engine
    engine.unload()


def test_the_embedded_gguf_is_assembled_once_and_verified(real_model, real_gguf) -> None:
    data_dir, _, _ = real_model
    model, _ = real_gguf
    assert model.path == data_dir.models_dir / EMBEDDED_MODEL.gguf_name
    assert model.path.stat().st_size == EMBEDDED_MODEL.size and model.model_id == EMBEDDED_MODEL.model_id
    assert embedded_gguf_problem(model.path) is None
    assert gguf_for_spec("default", data_dir) == model
    assert gguf_for_spec(str(model.path), data_dir).path == model.path
    assert gguf_for_spec(str(data_dir.models_dir), data_dir) is None     # a folder: the transformers engine


def test_prompt_ids_equal_the_transformers_paths(real_engine, real_gguf) -> None:
    from transformers import AutoTokenizer

    from learner.engine.base import PromptTokenizer
    from learner.prompts import render_chat

    _, prepared = real_gguf
    tokenizer = AutoTokenizer.from_pretrained(prepared.path)
    for messages in CONVERSATIONS:
        assert real_engine.render(messages) == render_chat(tokenizer, messages)
    request = TutorRequest(user_text="How do I add 1/3 and 1/4?", mode="hint", grade="6", topic="Fractions",
                           history=(Turn(role="user", content="Hi"), Turn(role="assistant", content="Hello!")))
    ours = build_prompt(request, PromptTokenizer(real_engine), context_window=4096, max_new_tokens=512)
    theirs = build_prompt(request, tokenizer, context_window=4096, max_new_tokens=512)
    assert ours == theirs


def test_a_greedy_reply_ends_its_turn(real_engine) -> None:
    generation = real_engine.stream([{"role": "user", "content": "What is 2 + 3? Answer with the number only."}],
                                    SamplingSettings(max_new_tokens=16, temperature=0.0, repetition_penalty=1.1))
    text = "".join(generation)
    assert "5" in text and generation.finish_reason == "end_of_turn"


def test_a_recipe_shaped_lora_exports_and_swaps_on_the_real_model(real_engine, real_gguf, tmp_path: Path) -> None:
    from tests.engine.conftest import make_lora

    _, prepared = real_gguf
    lora = make_lora(prepared.path, tmp_path / "v1", seed=0, rank=16, alpha=32, scale=0.01)
    question = [{"role": "user", "content": "Explain what a denominator is in one sentence."}]
    settings = SamplingSettings(max_new_tokens=24, temperature=0.0, repetition_penalty=1.1)
    base = real_engine.stream(question, settings)
    list(base)
    real_engine.set_adapter(lora)
    adapted = real_engine.stream(question, settings)
    list(adapted)
    real_engine.set_adapter(None)
    again = real_engine.stream(question, settings)
    list(again)
    assert adapted.token_ids != base.token_ids
    assert again.token_ids == base.token_ids
