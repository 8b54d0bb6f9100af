"""What the class folder needs from the learner: the id of the model a class trains on, known
without loading or converting it (the same id `prepare_model` gives and adapters record)."""
from __future__ import annotations

from pathlib import Path

from learner.sources import CACHE_DTYPE, EMBEDDED_MODELS, _classify


def model_id_for(spec: str) -> str:
    """The `PreparedModel.model_id` that `prepare_model(spec)` gives, without preparing it."""
    kind, value = _classify(spec)
    if kind == "embedded":
        return EMBEDDED_MODELS[value].model_id
    if kind == "folder":
        return Path(value).name
    if kind == "gguf":
        return f"{Path(value).stem} (GGUF→{CACHE_DTYPE})"
    return value
