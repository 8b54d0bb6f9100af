"""Fixtures for engine tests: the tiny Qwen2 model as a GGUF file, PEFT LoRA adapters made on it
with non-zero weights (a fresh adapter's B is zero, which would change nothing), and both engines
loaded on it in float32 so their greedy tokens can be compared exactly."""
from __future__ import annotations

import json
from pathlib import Path

import pytest



def make_lora(model_dir: Path, out: Path, *, seed: int, rank: int = 4, alpha: int = 8, scale: float = 0.3,
              targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
              **config: object) -> Path:
    """A PEFT adapter on the tiny model whose A and B are random (B scaled by `scale`), saved as
    training saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets),
                                                  lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", **config))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, scale)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_lora(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lora(tiny_model_dir, tmp_path_factory.mktemp("lora") / "v1", seed=1)


@pytest.fixture(scope="session")
def other_lora(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lora(tiny_model_dir, tmp_path_factory.mktemp("lora") / "v2", seed=2)


@pytest.fixture
def llama_engine(tiny_gguf: Path):
    # CI installs llama-cpp-python; a machine where it failed to build runs the chat on the
    # transformers engine, and these tests are skipped there (the documented fallback).
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")
    from learner.engine.llama_cpp_engine import LlamaCppEngine

    engine = LlamaCppEngine.load(tiny_gguf, model_id="tiny-qwen2", context_window=1024, n_threads=2)
    yield engine
    engine.unload()


@pytest.fixture(scope="session")
def transformers_engine(tiny_model_dir: Path):
    from learner.engine.transformers_engine import TransformersEngine
    from learner.sources import PreparedModel

    return TransformersEngine.load(PreparedModel(model_id="tiny-qwen2", path=tiny_model_dir),
                                   device="cpu", dtype="float32")


def adapter_config(folder: Path) -> dict:
    return json.loads((folder / "adapter_config.json").read_text())
