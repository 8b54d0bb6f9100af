"""The tiny model loaded once per run, for learner tests that need a model in memory, and the same
model as a GGUF file with the llama.cpp engine on it (the chat's default engine); `site`, a folder
on sys.path for fake embedded-model packages (tests.support.fake_embedded)."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.loading import LoadedModel, load_model
from learner.sources import PreparedModel


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path) -> LoadedModel:
    return load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.learner.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny-qwen2.gguf")


@pytest.fixture(scope="session")
def tiny_llama_engine(tiny_gguf: Path):
    """The llama.cpp engine on the tiny GGUF, loaded once; skipped where llama-cpp-python is not
    installed (the app then runs on transformers, which the other parameter covers)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")
    from learner.engine.llama_cpp_engine import LlamaCppEngine

    engine = LlamaCppEngine.load(tiny_gguf, model_id=tiny_gguf.stem, context_window=4096, n_threads=2)
    yield engine
    engine.unload()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder on sys.path for this test, where fake_embedded_model writes its packages."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root
