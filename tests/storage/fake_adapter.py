"""A folder that passes for a LoRA adapter without torch: a PEFT config and a safetensors file with
one small tensor. Storage tests register and promote these."""
from __future__ import annotations

import json
import struct
from pathlib import Path


def write_fake_adapter(folder: Path, *, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8}))
    data = bytes((seed + i) % 256 for i in range(16))
    header = json.dumps({"lora_A": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, len(data)]}}).encode()
    (folder / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    (folder / "recipe.json").write_text(json.dumps({"rank": 4}))
    return folder
