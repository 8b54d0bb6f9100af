"""The gate answers on the engine students use: llama.cpp with the candidate exported and applied
to the GGUF base, or the training model where the chat would run on transformers."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.adapt.recipe import Recipe
from learner.adapt.serving_gate import base_on_serving_engine, candidate_on_serving_engine, greedy_answers
from storage import DataDir

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")


@pytest.fixture
def candidate(tiny_model_dir: Path, tiny_lora: Path):
    """The training model with a (non-zero) candidate adapter active, as a round has it."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    return PeftModel.from_pretrained(base, str(tiny_lora), adapter_name="default", is_trainable=True)


def test_a_gguf_model_is_gated_on_llama_cpp_with_the_candidate(candidate, tiny_gguf: Path, data_dir: DataDir,
                                                                tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 3/4 + 1/8?"}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    with candidate_on_serving_engine(candidate, Recipe(), str(tiny_gguf), data_dir) as tutor:
        assert tutor is not None and tutor.engine.name == "llama.cpp"
        scratch = tutor.adapter_path
        assert (scratch / "adapter.gguf").is_file()
        [with_candidate] = greedy_answers(tutor, [ids], max_new_tokens=12)
        tutor.set_adapter(None, None)
        [base] = greedy_answers(tutor, [ids], max_new_tokens=12)
    assert with_candidate != base, "the candidate's weights must reach the served model"
    assert not scratch.exists(), "the scratch copy is removed after the gate"


def test_a_hugging_face_model_is_gated_on_the_training_model(candidate, tiny_model_dir: Path,
                                                              data_dir: DataDir) -> None:
    with candidate_on_serving_engine(candidate, Recipe(), str(tiny_model_dir), data_dir) as tutor:
        assert tutor is None
    assert not list(data_dir.root.glob(".gate-*")), "nothing left behind"


def test_the_base_on_the_serving_engine_has_no_adapter_and_is_unloaded_after(
        tiny_gguf: Path, tiny_model_dir: Path, data_dir: DataDir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 3/4 + 1/8?"}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    with base_on_serving_engine(str(tiny_gguf), data_dir) as tutor:
        assert tutor is not None and tutor.engine.name == "llama.cpp"
        assert tutor.adapter_path is None and tutor.engine.adapter is None and tutor.engine.is_loaded
        assert len(greedy_answers(tutor, [ids, ids], max_new_tokens=4)) == 2
    assert not tutor.engine.is_loaded, "the engine is unloaded when the block ends (training needs the memory)"
    with base_on_serving_engine(str(tiny_model_dir), data_dir) as none:
        assert none is None


def test_the_fairness_probe_answers_on_the_serving_engine(candidate, tiny_gguf: Path, data_dir: DataDir,
                                                          tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    from learner.adapt.fairness import _served_as, load_probe, measure_fairness, probe_prompt, probe_replies
    from learner.prompts import render_chat

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    groups = load_probe(limit=1)
    prompts = [render_chat(tokenizer, probe_prompt(groups[0], v)) for v in groups[0].variants]
    with candidate_on_serving_engine(candidate, Recipe(), str(tiny_gguf), data_dir) as tutor:
        applied = tutor.adapter_path
        served = probe_replies(candidate, tokenizer, groups, max_new_tokens=6, tutor=tutor)
        assert [m.reply for m in served] == greedy_answers(tutor, prompts, max_new_tokens=6)
        assert all(m.loss is not None for m in served)   # the reference answer's loss: the training model's
        with _served_as(tutor, "base"):
            assert tutor.adapter_path is None            # the base's replies come without the candidate
            base = greedy_answers(tutor, prompts, max_new_tokens=6)
        assert tutor.adapter_path == applied             # and it is put back
        assert base != [m.reply for m in served], "base and candidate replies differ on the served engine"
        figures = measure_fairness(candidate, tokenizer, Recipe(fairness_groups=1, fairness_max_new_tokens=6),
                                   tutor=tutor)
        assert set(figures) == {"base", "candidate"} and tutor.adapter_path == applied
