"""Embedded models made of tiny fake chunk packages: real importable packages written under a folder
that the test puts on sys.path, so assembly and verification run without downloading 1.1 GB."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from learner.sources import EmbeddedModel, ModelChunk


def fake_embedded_model(root: Path, sizes: tuple[int, ...] = (3000, 4000, 1500), *, installed: bool = True,
                        install_command: str = "make run MODEL=fake") -> tuple[EmbeddedModel, bytes]:
    """Importable packages fake_<tag>_partN holding data/partNN.bin (written only when `installed`),
    and the EmbeddedModel describing them."""
    tag = uuid.uuid4().hex[:8]
    chunks, whole = [], b""
    for n, size in enumerate(sizes, start=1):
        package = f"fake_{tag}_part{n}"
        data = os.urandom(size)
        if installed:
            (root / package / "data").mkdir(parents=True)
            (root / package / "__init__.py").write_text("")
            (root / package / "data" / f"part{n:02d}.bin").write_bytes(data)
        chunks.append(ModelChunk(distribution=f"fake-{tag}-part{n}", package=package, resource=f"data/part{n:02d}.bin",
                                 size=size, sha256=hashlib.sha256(data).hexdigest()))
        whole += data
    model = EmbeddedModel(cache_name=f"fake-{tag}-bf16", model_id=f"Fake {tag} (embedded)", gguf_name=f"fake-{tag}.gguf",
                          version="0.2.0", chunks=tuple(chunks), size=len(whole),
                          sha256=hashlib.sha256(whole).hexdigest(), title="the fake model",
                          install_command=install_command)
    return model, whole
