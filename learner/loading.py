"""Load a prepared model folder onto a device in the dtype that generates fastest there."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from learner.errors import DeviceUnavailableError, ModelSourceError
from learner.sources import PreparedModel, check_model_folder

# Qwen2.5 accepts 32k tokens, but prefilling that on a laptop CPU takes minutes and a Stop press
# cannot interrupt a prefill; a tutoring exchange fits comfortably in 4k.
DEFAULT_MAX_CONTEXT = 4096

_TORCH_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass(kw_only=True)
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    device: str              # "cpu", "cuda", "mps"
    dtype: str               # "bfloat16", "float16", "float32"
    context_window: int      # tokens (prompt + reply) this session allows


def resolve_device(device: str = "auto") -> str:
    device = (device or "auto").lower()
    cuda_ok = torch.cuda.is_available()
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if device == "cuda" and not cuda_ok:
        raise DeviceUnavailableError("CUDA was chosen but no CUDA GPU is available to this PyTorch build. "
                                     "Choose 'auto' or 'cpu' in Settings, or install a CUDA build of torch.")
    if device == "mps" and not mps_ok:
        raise DeviceUnavailableError("MPS (Apple GPU) was chosen but is not available here. Choose 'auto' or 'cpu'.")
    if device not in ("cpu", "cuda", "mps"):
        raise DeviceUnavailableError(f"Unknown device {device!r}: choose auto, cpu, cuda or mps.")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """'auto' picks the faster format: decoding is memory-bound, so fewer bytes per weight win."""
    dtype = (dtype or "auto").lower()
    if dtype != "auto":
        if dtype not in _TORCH_DTYPES:
            raise ValueError(f"dtype must be auto, bfloat16, float16 or float32 (got {dtype!r}).")
        return dtype
    if device == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "bfloat16"


def load_model(prepared: PreparedModel, *, device: str = "auto", dtype: str = "auto",
               max_context: int = DEFAULT_MAX_CONTEXT) -> LoadedModel:
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    check_model_folder(prepared.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(prepared.path)
        # use_safetensors=True: never fall back to unpickling a .bin file.
        model = AutoModelForCausalLM.from_pretrained(prepared.path, dtype=_TORCH_DTYPES[dtype], use_safetensors=True)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        raise ModelSourceError(f"Could not load the model in {prepared.path}: {exc}. If this is the prepared "
                               f"cache, delete that folder and prepare the model again.") from exc
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model_limit = int(getattr(model.config, "max_position_embeddings", 0) or DEFAULT_MAX_CONTEXT)
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=prepared.model_id, device=device, dtype=dtype,
                       context_window=min(model_limit, max_context))


def stop_token_ids(loaded: LoadedModel) -> list[int]:
    """Every id that ends a chat turn: the generation config's, the tokenizer's, and ChatML's <|im_end|>."""
    ids: list[int] = []
    configured = loaded.model.generation_config.eos_token_id
    ids.extend(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if loaded.tokenizer.eos_token_id is not None:
        ids.append(loaded.tokenizer.eos_token_id)
    im_end = loaded.tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != loaded.tokenizer.unk_token_id:
        ids.append(im_end)
    return sorted(set(ids))
