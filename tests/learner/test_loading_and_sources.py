from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from learner.errors import DeviceUnavailableError, ModelSourceError
from learner.loading import load_model, resolve_device, resolve_dtype
from learner.sources import PreparedModel, needs_preparation, prepare_model
from storage import DataDir


def test_a_local_folder_needs_no_preparation(tiny_model_dir: Path, data_dir: DataDir) -> None:
    assert not needs_preparation(str(tiny_model_dir), data_dir)
    prepared = prepare_model(str(tiny_model_dir), data_dir)
    assert prepared == PreparedModel(model_id="tiny-qwen2", path=tiny_model_dir.resolve())


def test_loading_picks_bf16_on_cpu_and_reads_the_context_window(tiny_model_dir: Path) -> None:
    loaded = load_model(PreparedModel(model_id="tiny", path=tiny_model_dir))
    assert loaded.device == "cpu" and loaded.dtype == "bfloat16"
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    assert loaded.context_window == 4096 and loaded.model_id == "tiny"


def test_float32_when_asked(tiny_model_dir: Path) -> None:
    loaded = load_model(PreparedModel(model_id="tiny", path=tiny_model_dir), dtype="float32", max_context=1024)
    assert next(loaded.model.parameters()).dtype == torch.float32 and loaded.context_window == 1024


@pytest.mark.parametrize(("device", "expected"), [("cuda", "bfloat16"), ("mps", "float16"), ("cpu", "bfloat16")])
def test_auto_dtype_per_device(device: str, expected: str) -> None:
    if device == "cuda" and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        expected = "float16"   # pre-Ampere GPUs (and no GPU at all) lack fast bf16
    assert resolve_dtype("auto", device) == expected
    assert resolve_dtype("float32", device) == "float32"


def test_unavailable_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_device("auto") in ("cpu", "mps")
    with pytest.raises(DeviceUnavailableError, match="CUDA"):
        resolve_device("cuda")


def test_missing_path_is_named(tmp_path: Path, data_dir: DataDir) -> None:
    with pytest.raises(ModelSourceError, match="does not exist"):
        prepare_model(str(tmp_path / "nowhere"), data_dir)


def test_folder_with_only_pickle_weights_is_refused(tiny_model_dir: Path, tmp_path: Path, data_dir: DataDir) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    for weights in folder.glob("*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(ModelSourceError, match="pickle"):
        prepare_model(str(folder), data_dir)


def test_folder_without_config_is_refused(tmp_path: Path, data_dir: DataDir) -> None:
    (tmp_path / "notes").mkdir()
    with pytest.raises(ModelSourceError, match="config.json"):
        prepare_model(str(tmp_path / "notes"), data_dir)


def test_a_truncated_weights_file_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelSourceError, match="Could not load the model"):
        load_model(PreparedModel(model_id="broken", path=folder))
