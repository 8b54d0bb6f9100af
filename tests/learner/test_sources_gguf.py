"""The GGUF → bf16 safetensors conversion (the embedded model's path) on a tiny GGUF file."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from learner.errors import PreparationCancelled
from learner.sources import MANIFEST_NAME, PrepareProgress, cache_problem, needs_preparation, prepare_model
from storage import DataDir
from tests.learner.tiny_gguf import write_tiny_gguf


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny-qwen2.gguf")


def test_a_gguf_file_is_converted_once_into_a_cache(tiny_gguf: Path, data_dir: DataDir) -> None:
    assert needs_preparation(str(tiny_gguf), data_dir)
    seen: list[PrepareProgress] = []
    prepared = prepare_model(str(tiny_gguf), data_dir, on_progress=seen.append)
    steps = [p.step for p in seen]
    assert steps.index("Verifying") < steps.index("Converting") < steps.index("Saving cache") < steps.index("Ready")
    assert [p.fraction for p in seen] == sorted(p.fraction for p in seen) and seen[-1].fraction == 1.0
    assert prepared.model_id == "tiny-qwen2 (GGUF→bfloat16)" and prepared.path.parent == data_dir.models_dir
    manifest = json.loads((prepared.path / MANIFEST_NAME).read_text())
    assert manifest["source"] == "gguf" and manifest["dtype"] == "bfloat16" and len(manifest["source_sha256"]) == 64
    assert manifest["files"]["model.safetensors"] == (prepared.path / "model.safetensors").stat().st_size
    assert not any(p.name.startswith(".partial-") for p in data_dir.models_dir.iterdir())

    assert not needs_preparation(str(tiny_gguf), data_dir)
    again: list[PrepareProgress] = []
    assert prepare_model(str(tiny_gguf), data_dir, on_progress=again.append) == prepared
    assert again == [], "a valid cache must be used as it is"


def test_the_converted_model_matches_the_original(tiny_gguf: Path, tiny_model_dir: Path, data_dir: DataDir) -> None:
    prepared = prepare_model(str(tiny_gguf), data_dir)
    original_tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    converted_tok = AutoTokenizer.from_pretrained(prepared.path)
    text = "What is 3/4 + 1/8? Photosynthesis!"
    ids = original_tok(text)["input_ids"]
    assert converted_tok(text)["input_ids"] == ids
    messages = [{"role": "user", "content": "Hi"}]
    assert converted_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
        original_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    converted = AutoModelForCausalLM.from_pretrained(prepared.path, dtype=torch.float32)
    batch = torch.tensor([ids])
    with torch.no_grad():
        expected, got = original(batch).logits, converted(batch).logits
    # The cache stores bf16 weights: logits agree to bf16 precision, and the predictions match.
    assert torch.allclose(expected, got, atol=0.05, rtol=0.05)
    assert torch.equal(expected.argmax(-1), got.argmax(-1))


def test_cancel_during_conversion_leaves_nothing(tiny_gguf: Path, data_dir: DataDir) -> None:
    cancel = threading.Event()

    def on_progress(update: PrepareProgress) -> None:
        if update.step == "Saving cache":
            cancel.set()

    with pytest.raises(PreparationCancelled):
        prepare_model(str(tiny_gguf), data_dir, on_progress=on_progress, cancel=cancel)
    assert list(data_dir.models_dir.iterdir()) == []
    assert needs_preparation(str(tiny_gguf), data_dir)


def test_a_truncated_cache_is_detected_and_rebuilt(tiny_gguf: Path, data_dir: DataDir) -> None:
    prepared = prepare_model(str(tiny_gguf), data_dir)
    weights = prepared.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])   # a crash mid-copy, say
    assert needs_preparation(str(tiny_gguf), data_dir)
    rebuilt = prepare_model(str(tiny_gguf), data_dir)
    assert rebuilt == prepared and not needs_preparation(str(tiny_gguf), data_dir)
    AutoModelForCausalLM.from_pretrained(rebuilt.path)   # loads again


def test_a_changed_gguf_file_invalidates_its_cache(tiny_gguf: Path, data_dir: DataDir, tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(tiny_gguf.read_bytes())
    prepared = prepare_model(str(copy), data_dir)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert cache_problem(prepared.path, {"source_mtime_ns": copy.stat().st_mtime_ns}) is not None
    assert needs_preparation(str(copy), data_dir)
