"""Both engines on the same tiny float32 model, same prompt ids, greedy: the llama.cpp engine with
the exported GGUF LoRA gives the tokens the transformers engine gives with the PEFT adapter.

The tiny model is unquantised, so agreement is expected to be (nearly) complete; the real model's
figure (a Q4_K_M base against its bf16 de-quantisation) is measured by bench/engine_parity.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.adapt.dataset import common_prefix_length
from learner.engine import SamplingSettings

PROMPTS = [
    "What is 3/4 + 1/8?",
    "Explain photosynthesis to a grade 5 student.",
    "How do I solve 2x + 3 = 7?",
    "What do you notice about the denominators?",
    "Give me a practice question about fractions.",
    "Why do plants need light?",
    "What is a verb?",
    "Can you give me a hint for 12 / 4?",
    "print('hello') - what does this do?",
    "What does the mitochondria do?",
]
N_TOKENS = 32


@pytest.mark.parametrize("with_adapter", [False, True], ids=["base", "lora"])
@pytest.mark.parametrize("penalty", [1.0, 1.3], ids=["no-penalty", "penalty"])
def test_greedy_tokens_agree_across_engines(llama_engine, transformers_engine, tiny_lora: Path,
                                            with_adapter: bool, penalty: float) -> None:
    settings = SamplingSettings(max_new_tokens=N_TOKENS, temperature=0.0, repetition_penalty=penalty)
    adapter = tiny_lora if with_adapter else None
    llama_engine.set_adapter(adapter)
    transformers_engine.set_adapter(adapter)
    try:
        agreed, total = 0, 0
        for text in PROMPTS:
            ids = transformers_engine.render([{"role": "system", "content": "You are a tutor."},
                                              {"role": "user", "content": text}])
            ours = llama_engine.stream(ids, settings)
            theirs = transformers_engine.stream(ids, settings)
            list(ours), list(theirs)
            expected = theirs.token_ids + ([-1] if theirs.finish_reason == "end_of_turn" else [])
            got = ours.token_ids + ([-1] if ours.finish_reason == "end_of_turn" else [])
            agreed += common_prefix_length(got, expected)  # after the first difference greedy replies diverge
            total += len(expected)
    finally:
        transformers_engine.set_adapter(None)
    # float32 on both sides (320/320 here); only llama.cpp's f16 KV cache differs, which could flip a
    # near tie on another CPU. A penalty that missed the prompt's tokens drops this to about 30 %.
    assert agreed >= 0.95 * total, f"{agreed}/{total} leading tokens agree"
