"""Model sources: turn a model spec ("default", a folder, a .gguf file, a hub id) into a local
Hugging Face folder with safetensors weights that `learner.loading.load_model` can open."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from learner.errors import ModelSourceError
from storage import DataDir

DEFAULT_SPEC = "default"


@dataclass(frozen=True, kw_only=True)
class PrepareProgress:
    step: str            # "Assembling model files", "Verifying", "Converting", "Saving cache", ...
    fraction: float      # 0..1 overall
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class PreparedModel:
    model_id: str        # shown to users and stored on every assistant message
    path: Path           # a Hugging Face folder with safetensors weights + tokenizer


ProgressCallback = Callable[[PrepareProgress], None]


def needs_preparation(spec: str, data_dir: DataDir) -> bool:
    """True when prepare_model would do slow work (assembling, converting, downloading)."""
    kind, _ = _classify(spec)
    return kind != "folder"


def prepare_model(spec: str, data_dir: DataDir, *, on_progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None) -> PreparedModel:
    kind, value = _classify(spec)
    if kind == "folder":
        return _prepare_folder(Path(value))
    raise ModelSourceError(f"Model source {spec!r} is not supported yet.")


def _classify(spec: str) -> tuple[str, str]:
    spec = (spec or "").strip()
    if not spec:
        raise ModelSourceError("No model was chosen: use 'default', a model folder, a .gguf file or a hub id.")
    if spec == DEFAULT_SPEC:
        return "default", spec
    path = Path(spec).expanduser()
    if path.is_dir():
        return "folder", str(path.resolve())
    if path.is_file() and path.suffix.lower() == ".gguf":
        return "gguf", str(path.resolve())
    if path.exists():
        raise ModelSourceError(f"{spec} is not a model: choose a Hugging Face model folder or a .gguf file.")
    if _looks_like_path(spec):
        raise ModelSourceError(f"{spec} does not exist. Choose an existing model folder or .gguf file, "
                               f"or 'default' for the embedded model.")
    return "hub", spec


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def _looks_like_path(spec: str) -> bool:
    return not _HUB_ID.match(spec) or spec.lower().endswith(".gguf") or "\\" in spec


def _prepare_folder(folder: Path) -> PreparedModel:
    """A local Hugging Face folder is used as it is; only check that it can be loaded safely."""
    check_model_folder(folder)
    return PreparedModel(model_id=folder.name, path=folder)


def check_model_folder(folder: Path) -> None:
    """Refuse folders that are not loadable Hugging Face models, or that only hold pickle weights."""
    if not (folder / "config.json").is_file():
        raise ModelSourceError(f"{folder} is not a Hugging Face model folder (no config.json).")
    if not any(folder.glob("*.safetensors")):
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
            raise ModelSourceError(f"{folder} only has pickle weights (.bin/.pt), which tutorloop does not load "
                                   f"for safety. Convert them to safetensors first.")
        raise ModelSourceError(f"{folder} has no model weights (*.safetensors).")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise ModelSourceError(f"{folder} has no tokenizer files (tokenizer.json / tokenizer_config.json).")
