"""Export a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) as a GGUF LoRA
file that llama.cpp loads with `llama_adapter_lora_init` and applies on a live context.

The layout is the one llama.cpp's own `convert_lora_to_gguf.py` writes, and the one its loader
(`llama-adapter.cpp`) checks:

- metadata: `general.architecture` = the base model's (llama.cpp refuses a mismatch),
  `general.type` = "adapter", `adapter.type` = "lora", `adapter.lora.alpha` (float32);
- tensors: `<base tensor>.lora_a` and `.lora_b` for every adapted weight, named as in the base GGUF
  (`blk.N.attn_q.weight.lora_a`), with PEFT's shapes kept: A is (rank, in) and B is (out, rank) in
  numpy order, which GGUF stores reversed, so llama.cpp sees A.ne = [in, rank] and B.ne = [rank, out]
  against the base weight's ne = [in, out]. Qwen2 stores Q/K unpermuted (only the llama
  architecture permutes them for its rope layout), so no rows are reordered.

llama.cpp scales every pair by alpha / rank, with one alpha for the whole file. PEFT allows more
(rsLoRA's alpha / sqrt(rank), per-module `rank_pattern` / `alpha_pattern`); where a module's PEFT
scale differs from alpha / rank, the difference is folded into its B, so every module ends up with
exactly PEFT's scale. Everything else PEFT can do that llama.cpp cannot apply (DoRA, trained biases,
extra saved modules, LoRA on the embeddings or the tied output head) is refused with the reason.

No torch: the safetensors file is read with numpy (bf16 widened to float32 by bit shifting), so the
chat can export an adapter without importing the training stack.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learner.errors import LearnerError

LORA_GGUF_NAME = "adapter.gguf"
MANIFEST_NAME = "adapter-gguf.json"
MANIFEST_FORMAT = 1
_PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
# PEFT's key: base_model.model.<module path>.lora_A.weight (the adapter name is stripped when saved).
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<which>[AB])\.weight$")
_LAYER = re.compile(r"\.layers\.(\d+)\.")
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


class LoraExportError(LearnerError):
    """The PEFT adapter cannot be written as a GGUF LoRA (unreadable, or a feature llama.cpp lacks)."""


@dataclass(frozen=True, kw_only=True)
class ExportedLora:
    path: Path            # the .gguf file
    sha256: str           # of that file
    source_sha256: str    # of the PEFT weights + config it was made from (a changed adapter is re-exported)
    tensor_pairs: int     # adapted weight matrices


# -- reading the PEFT folder -------------------------------------------------------------------

def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a float32 numpy array (F32, F16, F64 or BF16)."""
    try:
        raw = path.read_bytes()
        (header_len,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + header_len])
    except (OSError, struct.error, ValueError) as exc:
        raise LoraExportError(f"Could not read the adapter weights in {path}: {exc}") from exc
    start = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buffer = raw[start + begin:start + end]
        dtype = info["dtype"]
        if dtype == "BF16":
            # bf16 is the top half of a float32: widen by shifting the bits, exactly.
            array = (np.frombuffer(buffer, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            array = np.frombuffer(buffer, dtype=np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<"))
        else:
            raise LoraExportError(f"{path}: tensor {name} has dtype {dtype}, which a LoRA adapter should not have.")
        tensors[name] = array.astype(np.float32).reshape(info["shape"])
    return tensors


def source_digest(adapter_dir: Path) -> str:
    """SHA-256 over the PEFT config and weights: what an export is made from."""
    digest = hashlib.sha256()
    for name in _PEFT_FILES:
        digest.update(name.encode() + b"\0")
        with (adapter_dir / name).open("rb") as handle:
            while block := handle.read(8 * 1024 * 1024):
                digest.update(block)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _pattern_value(pattern: dict[str, Any], module: str, default: float) -> float:
    """PEFT's rank_pattern / alpha_pattern lookup: the first key that matches the end of the module path."""
    for key, value in pattern.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return float(value)
    return default


def _peft_scale(config: dict[str, Any], module: str) -> tuple[float, float]:
    """(rank, scale) PEFT uses for `module` at inference."""
    rank = _pattern_value(config.get("rank_pattern") or {}, module, float(config["r"]))
    alpha = _pattern_value(config.get("alpha_pattern") or {}, module, float(config["lora_alpha"]))
    return rank, alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)


def _check_supported(config: dict[str, Any]) -> None:
    problems = []
    if config.get("peft_type", "LORA") != "LORA":
        problems.append(f"it is a {config.get('peft_type')} adapter, not LoRA")
    if config.get("use_dora"):
        problems.append("it uses DoRA")
    if (config.get("bias") or "none") != "none" or config.get("lora_bias"):
        problems.append("it trains biases")
    if config.get("modules_to_save"):
        problems.append(f"it saves whole modules ({', '.join(config['modules_to_save'])})")
    if config.get("fan_in_fan_out"):
        problems.append("its weights are stored fan-in/fan-out (Conv1D models)")
    if problems:
        raise LoraExportError("This adapter cannot run on llama.cpp: " + "; ".join(problems) + ".")


# -- the base model ----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _Base:
    architecture: str
    block_count: int
    shapes: dict[str, tuple[int, ...]]    # tensor name -> GGUF ne (in, out) of every weight


def _read_base(base_gguf: Path) -> _Base:
    import gguf

    try:
        reader = gguf.GGUFReader(str(base_gguf))
    except (OSError, ValueError) as exc:
        raise LoraExportError(f"Could not read the base model {base_gguf}: {exc}") from exc
    field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if field is None:
        raise LoraExportError(f"{base_gguf} has no general.architecture; it is not a llama.cpp model.")
    architecture = field.contents()
    blocks = reader.get_field(f"{architecture}.block_count")
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    return _Base(architecture=architecture, block_count=int(blocks.contents()) if blocks is not None else 0,
                 shapes=shapes)


def _gguf_name(module: str, architecture: str, block_count: int) -> str:
    """`model.layers.3.self_attn.q_proj` -> `blk.3.attn_q.weight`, through gguf's own name table."""
    import gguf

    arch = next((a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == architecture), None)
    if arch is None:
        raise LoraExportError(f"The gguf package does not know the architecture {architecture!r}.")
    name = gguf.get_tensor_name_map(arch, block_count).get_name(module)
    if name is None:
        raise LoraExportError(f"The adapter changes {module}, which has no llama.cpp counterpart in "
                              f"{architecture} models.")
    return f"{name}.weight"


# -- export ------------------------------------------------------------------------------------

def export_lora_gguf(adapter_dir: Path, base_gguf: Path, out_path: Path | None = None, *,
                     dtype: str = "f32") -> ExportedLora:
    """Write `adapter_dir`'s LoRA as a GGUF LoRA for the model in `base_gguf` and return where it went
    (default: `adapter_dir/adapter.gguf`) with its SHA-256. The file is written beside its final
    name and renamed into place, so a crash never leaves a half file under that name.

    `dtype` "f32" keeps PEFT's float32 weights exactly; "f16" halves the file.
    """
    adapter_dir = Path(adapter_dir)
    missing = [name for name in _PEFT_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise LoraExportError(f"{adapter_dir} is not a complete LoRA adapter (missing {', '.join(missing)}).")
    if dtype not in ("f32", "f16"):
        raise ValueError(f"dtype must be 'f32' or 'f16' (got {dtype!r}).")
    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoraExportError(f"Could not read {adapter_dir / 'adapter_config.json'}: {exc}") from exc
    _check_supported(config)
    base = _read_base(Path(base_gguf))
    weights = _read_safetensors(adapter_dir / "adapter_model.safetensors")

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in weights.items():
        match = _LORA_KEY.match(key)
        if match is None:
            raise LoraExportError(f"The adapter holds {key}, which is not a LoRA A/B matrix; llama.cpp cannot "
                                  f"apply it.")
        pairs.setdefault(match["module"], {})[match["which"]] = tensor
    if not pairs:
        raise LoraExportError(f"{adapter_dir} holds no LoRA weights.")
    block_count = base.block_count or 1 + max((int(m.group(1)) for mod in pairs if (m := _LAYER.search(mod))),
                                              default=0)

    import gguf

    global_alpha = float(config["lora_alpha"])
    out_path = Path(out_path) if out_path is not None else adapter_dir / LORA_GGUF_NAME
    partial = out_path.with_name(f".{out_path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    writer = gguf.GGUFWriter(str(partial), base.architecture)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, global_alpha)
        writer.add_name(f"tutorloop LoRA {adapter_dir.name}")
        writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
        source_sha = source_digest(adapter_dir)
        writer.add_string("tutorloop.adapter.source_sha256", source_sha)
        for module in sorted(pairs):
            pair = pairs[module]
            if set(pair) != {"A", "B"}:
                raise LoraExportError(f"The adapter's {module} lacks its lora_{'B' if 'A' in pair else 'A'} matrix.")
            a, b = pair["A"], pair["B"]
            name = _gguf_name(module, base.architecture, block_count)
            if name.startswith(("token_embd.", "output.")):
                raise LoraExportError(f"The adapter changes {module} (the embeddings or output head), which "
                                      f"llama.cpp cannot apply from this export.")
            shape = base.shapes.get(name)
            if shape is None:
                raise LoraExportError(f"The base model has no tensor {name} for the adapter's {module}: it was "
                                      f"trained on another model.")
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1] or (a.shape[1], b.shape[0]) != shape[:2]:
                raise LoraExportError(f"The adapter's {module} has A {a.shape} and B {b.shape}, which do not fit "
                                      f"the base weight {name} (in, out = {shape[:2]}): another model's adapter.")
            rank, scale = _peft_scale(config, module)
            if int(rank) != a.shape[0]:
                raise LoraExportError(f"The adapter's {module} has rank {a.shape[0]} but its config says {rank:g}.")
            # llama.cpp applies alpha / rank to every pair; fold any difference from PEFT's scale into B.
            correction = scale / (global_alpha / rank)
            if not math.isclose(correction, 1.0, rel_tol=1e-7):
                b = b * np.float32(correction)
            target = np.float32 if dtype == "f32" else np.float16
            writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a, dtype=target))
            writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b, dtype=target))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, out_path)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return ExportedLora(path=out_path, sha256=_file_sha256(out_path), source_sha256=source_sha,
                        tensor_pairs=len(pairs))


def ensure_lora_gguf(adapter_dir: Path, base_gguf: Path, *, dtype: str = "f32") -> ExportedLora:
    """The adapter's GGUF export, made now if there is none or it no longer matches the PEFT files
    (versions trained before the GGUF engine existed are exported on first use). The manifest
    `adapter-gguf.json` beside it records both hashes."""
    adapter_dir = Path(adapter_dir)
    out = adapter_dir / LORA_GGUF_NAME
    manifest_path = adapter_dir / MANIFEST_NAME
    source_sha = source_digest(adapter_dir)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if (manifest.get("format") == MANIFEST_FORMAT and manifest.get("source_sha256") == source_sha
            and manifest.get("dtype") == dtype and out.is_file() and out.stat().st_size == manifest.get("size")):
        return ExportedLora(path=out, sha256=manifest["sha256"], source_sha256=source_sha,
                            tensor_pairs=int(manifest.get("tensor_pairs", 0)))
    exported = export_lora_gguf(adapter_dir, base_gguf, out, dtype=dtype)
    manifest = {"format": MANIFEST_FORMAT, "file": out.name, "sha256": exported.sha256, "size": out.stat().st_size,
                "source_sha256": exported.source_sha256, "dtype": dtype, "tensor_pairs": exported.tensor_pairs}
    partial = manifest_path.with_name(f".{manifest_path.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, manifest_path)
    return exported
