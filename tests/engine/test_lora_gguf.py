"""PEFT → GGUF LoRA export: names, shapes and metadata as llama.cpp's loader checks them, PEFT's
scale kept exactly, refusals with reasons, and the manifest that re-exports a changed adapter."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from learner.engine.lora_gguf import (
    LORA_GGUF_NAME,
    MANIFEST_NAME,
    LoraExportError,
    ensure_lora_gguf,
    export_lora_gguf,
)
from tests.engine.conftest import adapter_config, make_lora


def read_lora(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    reader = gguf.GGUFReader(str(path))
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    # ReaderTensor.data is in numpy order (reversed ne), which is PEFT's order.
    return fields, {t.name: np.array(t.data) for t in reader.tensors}


def test_export_matches_llama_cpp_layout(tiny_lora: Path, tiny_gguf: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.gguf"
    exported = export_lora_gguf(tiny_lora, tiny_gguf, out)
    assert exported.path == out
    assert exported.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    fields, tensors = read_lora(out)
    assert fields["general.architecture"] == "qwen2"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == pytest.approx(8.0)
    # 2 layers x 7 linear layers, an A and a B each.
    assert exported.tensor_pairs == 14 and len(tensors) == 28
    peft = load_file(str(tiny_lora / "adapter_model.safetensors"))
    a = peft["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"]
    b = peft["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]
    np.testing.assert_array_equal(tensors["blk.1.attn_q.weight.lora_a"], a)       # (rank, in)
    np.testing.assert_array_equal(tensors["blk.1.ffn_down.weight.lora_b"], b)     # (out, rank)
    assert tensors["blk.0.ffn_gate.weight.lora_a"].shape == (4, 32)
    assert tensors["blk.0.ffn_gate.weight.lora_b"].shape == (64, 4)
    assert tensors["blk.0.attn_k.weight.lora_b"].shape == (16, 4)   # 2 kv heads x head dim 8


def test_default_output_is_inside_the_adapter_folder(tiny_model_dir: Path, tiny_gguf: Path, tmp_path: Path) -> None:
    folder = make_lora(tiny_model_dir, tmp_path / "v3", seed=3, targets=("q_proj", "v_proj"))
    exported = export_lora_gguf(folder, tiny_gguf)
    assert exported.path == folder / LORA_GGUF_NAME and exported.tensor_pairs == 4
    assert not list(folder.glob(".*partial*"))


@pytest.mark.parametrize(("config", "factor"), [
    ({"use_rslora": True}, math.sqrt(4)),                      # alpha / sqrt(r) instead of alpha / r
    ({"alpha_pattern": {"down_proj": 16}}, 2.0),               # this module's alpha is twice the file's
])
def test_peft_scales_llama_cpp_lacks_are_folded_into_b(tiny_model_dir: Path, tiny_gguf: Path, tmp_path: Path,
                                                      config: dict, factor: float) -> None:
    folder = make_lora(tiny_model_dir, tmp_path / "scaled", seed=4, **config)
    _, tensors = read_lora(export_lora_gguf(folder, tiny_gguf).path)
    peft = load_file(str(folder / "adapter_model.safetensors"))
    b = peft["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"]
    np.testing.assert_allclose(tensors["blk.0.ffn_down.weight.lora_b"], b * factor, rtol=1e-6)


def test_bf16_weights_are_widened_exactly(tiny_lora: Path, tiny_gguf: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file as save_torch

    folder = tmp_path / "bf16"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config(tiny_lora)))
    weights = {k: v.to(torch.bfloat16) for k, v in load_torch(str(tiny_lora / "adapter_model.safetensors")).items()}
    save_torch(weights, str(folder / "adapter_model.safetensors"))
    _, tensors = read_lora(export_lora_gguf(folder, tiny_gguf).path)
    key = "base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight"
    np.testing.assert_array_equal(tensors["blk.0.attn_output.weight.lora_b"], weights[key].float().numpy())


@pytest.mark.parametrize(("change", "reason"), [
    ({"use_dora": True}, "DoRA"),
    ({"bias": "lora_only"}, "biases"),
    ({"modules_to_save": ["lm_head"]}, "saves whole modules"),
])
def test_features_llama_cpp_cannot_apply_are_refused(tiny_lora: Path, tiny_gguf: Path, tmp_path: Path,
                                                     change: dict, reason: str) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({**adapter_config(tiny_lora), **change}))
    (folder / "adapter_model.safetensors").write_bytes((tiny_lora / "adapter_model.safetensors").read_bytes())
    with pytest.raises(LoraExportError, match=reason):
        export_lora_gguf(folder, tiny_gguf)
    assert not list(folder.glob("*.gguf")) and not list(folder.glob(".*"))


def test_an_adapter_for_another_model_is_refused(tiny_lora: Path, tiny_gguf: Path, tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config(tiny_lora)))
    weights = load_file(str(tiny_lora / "adapter_model.safetensors"))
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    weights[key] = np.zeros((4, 64), dtype=np.float32)   # in-features 64: not this model's q_proj
    save_file(weights, str(folder / "adapter_model.safetensors"))
    with pytest.raises(LoraExportError, match="another model"):
        export_lora_gguf(folder, tiny_gguf)


def test_an_incomplete_folder_is_refused(tmp_path: Path, tiny_gguf: Path) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(LoraExportError, match="adapter_model.safetensors"):
        export_lora_gguf(tmp_path, tiny_gguf)


def test_ensure_exports_once_and_again_when_the_adapter_changes(tiny_model_dir: Path, tiny_gguf: Path,
                                                                tmp_path: Path) -> None:
    folder = make_lora(tiny_model_dir, tmp_path / "v5", seed=5)
    first = ensure_lora_gguf(folder, tiny_gguf)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["sha256"] == first.sha256 and manifest["source_sha256"] == first.source_sha256
    mtime = first.path.stat().st_mtime_ns
    assert ensure_lora_gguf(folder, tiny_gguf) == first
    assert first.path.stat().st_mtime_ns == mtime            # not written again
    make_lora(tiny_model_dir, folder, seed=6)                  # a retrained adapter in the same folder
    second = ensure_lora_gguf(folder, tiny_gguf)
    assert second.source_sha256 != first.source_sha256 and second.sha256 != first.sha256
