"""The llama.cpp engine on the tiny GGUF model: loading, greedy streaming, Stop within one token,
token counts, the KV cache kept between replies, and LoRA adapters swapped on the live context."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from learner.engine import SamplingSettings, ServingEngine
from learner.errors import GenerationError

GREEDY = SamplingSettings(max_new_tokens=24, temperature=0.0)
MESSAGES = [{"role": "system", "content": "You are a tutor."},
            {"role": "user", "content": "What is 3/4 + 1/8? Explain the denominators."}]


def greedy(engine, prompt=MESSAGES, settings: SamplingSettings = GREEDY) -> tuple[str, list[int]]:
    generation = engine.stream(prompt, settings)
    text = "".join(generation)
    return text, list(generation.token_ids)


def test_loads_and_streams_greedily(llama_engine) -> None:
    assert isinstance(llama_engine, ServingEngine)
    assert llama_engine.name == "llama.cpp" and llama_engine.context_window == 1024
    generation = llama_engine.stream(MESSAGES, GREEDY)
    pieces = list(generation)
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert generation.finish_reason in ("length", "end_of_turn")
    assert 1 <= len(generation.token_ids) <= 24
    assert generation.prompt_tokens == llama_engine.count_tokens(MESSAGES)
    assert generation.ttft_s > 0 and generation.first_token_at is not None
    # Greedy is deterministic, and the joined pieces are the detokenized reply.
    text, tokens = greedy(llama_engine)
    assert (text, tokens) == ("".join(pieces), generation.token_ids)
    assert text == llama_engine._llm.detokenize(tokens).decode("utf-8", errors="replace")


def test_the_chat_template_from_the_gguf_renders_as_transformers_does(llama_engine, transformers_engine) -> None:
    """Same template, same text; the tiny tokenizer splits text differently from llama.cpp's qwen2
    pre-tokenizer, so the text is compared here and the ids on the real model."""
    rendered = llama_engine.render_text(MESSAGES)
    assert rendered == transformers_engine.loaded.tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, tokenize=False)
    assert rendered.endswith("<|im_start|>assistant\n")
    ids = llama_engine.render(MESSAGES)
    assert ids[0] == llama_engine._llm.tokenize(b"<|im_start|>", add_bos=False, special=True)[0]


def test_count_tokens(llama_engine) -> None:
    assert llama_engine.count_tokens([1, 2, 3]) == 3
    assert llama_engine.count_tokens(MESSAGES) == len(llama_engine.render(MESSAGES))
    assert llama_engine.count_tokens("fraction") == len(llama_engine._llm.tokenize(b"fraction", add_bos=False))
    assert llama_engine.count_tokens("") == 0


def test_stop_is_honoured_within_one_token(llama_engine) -> None:
    stop = threading.Event()
    generation = llama_engine.stream(MESSAGES, SamplingSettings(max_new_tokens=200, temperature=0.0), stop)
    seen_at_stop = None
    for _ in generation:
        if seen_at_stop is None:
            stop.set()
            seen_at_stop = len(generation.token_ids)
    assert generation.finish_reason == "stopped"
    assert len(generation.token_ids) <= seen_at_stop + 1


def test_stop_before_the_prompt_is_read_generates_nothing(llama_engine) -> None:
    stop = threading.Event()
    stop.set()
    generation = llama_engine.stream(MESSAGES, GREEDY, stop)
    assert list(generation) == [] and generation.token_ids == [] and generation.finish_reason == "stopped"


def test_leaving_the_iteration_early_counts_as_stopped(llama_engine) -> None:
    generation = llama_engine.stream(MESSAGES, GREEDY)
    next(iter(generation))
    generation.pieces.close()
    assert generation.finish_reason == "stopped"


def test_prompt_ids_are_accepted_and_the_kv_cache_is_reused_correctly(llama_engine, tiny_gguf: Path) -> None:
    ids = llama_engine.render(MESSAGES)
    _, first = greedy(llama_engine, ids)
    # A longer conversation that starts the same: the cached prefix is kept, and the reply must be
    # what a fresh context gives.
    longer = llama_engine.render([*MESSAGES, {"role": "assistant", "content": "Look at the eighths."},
                                  {"role": "user", "content": "Why eighths?"}])
    _, cached = greedy(llama_engine, longer)
    assert 0 < llama_engine._llm.n_tokens
    from learner.engine.llama_cpp_engine import LlamaCppEngine

    fresh = LlamaCppEngine.load(tiny_gguf, model_id="tiny-qwen2", context_window=1024, n_threads=2)
    try:
        assert greedy(fresh, longer)[1] == cached
        assert greedy(fresh, ids)[1] == first
    finally:
        fresh.unload()


def test_sampling_is_seeded_and_the_repetition_penalty_changes_greedy_output(llama_engine) -> None:
    sampled = SamplingSettings(max_new_tokens=16, temperature=0.9, top_p=0.9, top_k=40, seed=7)
    assert greedy(llama_engine, settings=sampled) == greedy(llama_engine, settings=sampled)
    penalised = SamplingSettings(max_new_tokens=24, temperature=0.0, repetition_penalty=3.0)
    assert greedy(llama_engine, settings=penalised)[1] != greedy(llama_engine)[1]


def test_a_prompt_longer_than_the_window_is_refused(llama_engine) -> None:
    with pytest.raises(GenerationError, match="context window"):
        llama_engine.stream(list(range(5, 1100)), GREEDY)


def test_adapters_swap_on_the_live_model(llama_engine, tiny_lora: Path, other_lora: Path) -> None:
    base_text, base = greedy(llama_engine)
    llama_engine.set_adapter(tiny_lora)                # a PEFT folder: exported on first use
    assert llama_engine.adapter == tiny_lora and (tiny_lora / "adapter.gguf").is_file()
    _, first = greedy(llama_engine)
    assert first != base
    llama_engine.set_adapter(other_lora)
    _, second = greedy(llama_engine)
    assert second not in (base, first)
    llama_engine.set_adapter(tiny_lora / "adapter.gguf")  # a GGUF LoRA file as it is
    assert greedy(llama_engine)[1] == first
    llama_engine.set_adapter(None)
    assert llama_engine.adapter is None
    assert greedy(llama_engine) == (base_text, base)


def test_a_broken_adapter_file_is_refused_and_the_model_keeps_serving(llama_engine, tmp_path: Path) -> None:
    _, base = greedy(llama_engine)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    with pytest.raises(GenerationError, match="could not load the adapter"):
        llama_engine.set_adapter(broken)
    assert llama_engine.adapter is None and greedy(llama_engine)[1] == base


def test_importing_the_gguf_path_does_not_import_torch() -> None:
    code = ("import sys, learner.engine, learner.engine.llama_cpp_engine, learner.engine.gguf_source, "
            "learner.engine.lora_gguf; print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_build_prompt_trims_by_the_engines_own_token_counts(llama_engine) -> None:
    from learner.engine.base import PromptTokenizer
    from learner.prompts import build_prompt
    from learner.types import Turn, TutorRequest

    history = tuple(Turn(role="user" if i % 2 == 0 else "assistant", content=f"Earlier turn {i} about fractions.")
                    for i in range(40))
    request = TutorRequest(user_text="What is 3/4 + 1/8?", mode="explain", history=history)
    built = build_prompt(request, PromptTokenizer(llama_engine), context_window=llama_engine.context_window,
                         max_new_tokens=64)
    assert built.trimmed and "left out" in built.notice
    assert llama_engine.count_tokens(built.messages) <= llama_engine.context_window - 64


def test_warming_the_shared_start_keeps_replies_unchanged(llama_engine) -> None:
    _, cold = greedy(llama_engine)
    llama_engine.forget_cache()
    cached = llama_engine.warm(MESSAGES[:1])
    system_ids = llama_engine._llm.tokenize(llama_engine.render_text(MESSAGES[:1], add_generation_prompt=False)
                                            .encode(), add_bos=False, special=True)
    assert cached == len(system_ids) and llama_engine.render(MESSAGES)[:cached] == system_ids
    assert greedy(llama_engine)[1] == cold
    assert llama_engine.warm(MESSAGES[:1]) == cached    # warming again is a no-op
