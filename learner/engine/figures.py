"""Measured speed and memory of each model on this machine, for Settings to show beside the model.

One small JSON file, `<data>/models/measured-figures.json`, keyed by model id (distinct per model)
and then by engine. Two writers:
- `bench/engines.py` (`record_bench`): its best decoding speed and the engine process's peak RSS;
- the chat (`record_reply`): every reply of at least MIN_REPLY_TOKENS tokens adds its decoding speed
  (the median of the last few is shown, since a shared machine makes single replies noisy) and the
  app's resident memory at that moment.

A model nobody measured here says so ("not measured on this machine") rather than quoting another
machine's figures. Torch-free.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage import DataDir

FIGURES_NAME = "measured-figures.json"
FORMAT = 1
MIN_REPLY_TOKENS = 32    # shorter replies say more about the prompt than about decoding speed
RECENT_REPLIES = 5       # the chat's figure is the median of this many latest replies
NOT_MEASURED = "speed and memory not measured on this machine"


@dataclass(frozen=True, kw_only=True)
class ModelFigures:
    model_id: str
    engine: str              # "llama.cpp" | "transformers"
    tokens_per_s: float      # decoding speed after the first token
    memory_mb: float         # bench: the engine process's peak RSS; chat: the app's RSS after a reply
    source: str              # "bench" | "chat"
    measured_at: str         # UTC, ISO 8601
    recent_tokens_per_s: tuple[float, ...] = ()   # the chat's latest replies, newest last


def figures_path(data_dir: DataDir) -> Path:
    return data_dir.models_dir / FIGURES_NAME


def read_figures(data_dir: DataDir) -> dict[str, dict[str, ModelFigures]]:
    """model id → engine → figures; an unreadable or foreign file reads as nothing measured."""
    try:
        raw = json.loads(figures_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        return {}
    found: dict[str, dict[str, ModelFigures]] = {}
    for model_id, engines in (raw.get("models") or {}).items():
        for engine, values in (engines or {}).items():
            try:
                found.setdefault(model_id, {})[engine] = ModelFigures(
                    **{**values, "recent_tokens_per_s": tuple(values.get("recent_tokens_per_s", ()))})
            except TypeError:   # written by another version: skip rather than fail Settings
                continue
    return found


def figures_for(data_dir: DataDir, model_id: str) -> ModelFigures | None:
    """This model's figures, preferring llama.cpp (what the chat uses where it can), then the latest."""
    engines = read_figures(data_dir).get(model_id, {})
    if not engines:
        return None
    return engines.get("llama.cpp") or max(engines.values(), key=lambda f: f.measured_at)


def record_bench(data_dir: DataDir, *, model_id: str, engine: str, tokens_per_s: float, memory_mb: float) -> ModelFigures:
    figures = ModelFigures(model_id=model_id, engine=engine, tokens_per_s=tokens_per_s, memory_mb=memory_mb,
                           source="bench", measured_at=_now())
    _write(data_dir, figures)
    return figures


def record_reply(data_dir: DataDir, *, model_id: str, engine: str, n_tokens: int, tokens_per_s: float,
                 memory_mb: float | None = None) -> ModelFigures | None:
    """Add one chat reply's speed; None (nothing written) for a reply too short to time."""
    if n_tokens < MIN_REPLY_TOKENS or tokens_per_s <= 0:
        return None
    previous = read_figures(data_dir).get(model_id, {}).get(engine)
    recent = (*(previous.recent_tokens_per_s if previous and previous.source == "chat" else ()),
              round(tokens_per_s, 2))[-RECENT_REPLIES:]
    figures = ModelFigures(model_id=model_id, engine=engine, tokens_per_s=statistics.median(recent),
                           memory_mb=memory_mb if memory_mb is not None else resident_mb(),
                           source="chat", measured_at=_now(), recent_tokens_per_s=recent)
    _write(data_dir, figures)
    return figures


def describe(figures: ModelFigures | None) -> str:
    """One phrase for Settings: '31 tokens/s, 0.9 GB memory (llama.cpp, measured by bench)'."""
    if figures is None:
        return NOT_MEASURED
    how = "measured by bench" if figures.source == "bench" else "measured while chatting"
    return (f"{figures.tokens_per_s:.0f} tokens/s, {figures.memory_mb / 1024:.1f} GB memory "
            f"({figures.engine}, {how} on this machine)")


def resident_mb() -> float:
    """This process's resident memory now."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write(data_dir: DataDir, figures: ModelFigures) -> None:
    """Merge one entry into the file, written whole and renamed into place (never half a file)."""
    path = figures_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    models: dict[str, dict[str, Any]] = {
        model_id: {engine: asdict(f) for engine, f in engines.items()}
        for model_id, engines in read_figures(data_dir).items()}
    models.setdefault(figures.model_id, {})[figures.engine] = asdict(figures)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps({"format": FORMAT, "models": models}, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)
