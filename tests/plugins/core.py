"""A temporary data folder, a real SQLite file, the tiny model built in code, and the real embedded
model for integration tests; no test may leave a thread running."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from storage import DataDir, Database


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory):
    """The embedded model, prepared once per test run for every integration test (~40 s when it
    must be converted), in $TUTORLOOP_TEST_MODEL_CACHE when set. Returns (data_dir, prepared,
    progress): progress holds the preparation steps when this run converted it, else nothing."""
    from learner.sources import prepare_model

    root = os.environ.get("TUTORLOOP_TEST_MODEL_CACHE")
    data = DataDir(Path(root) if root else tmp_path_factory.mktemp("real-model-home")).ensure()
    progress: list = []
    prepared = prepare_model("default", data, on_progress=progress.append)  # quick when the cache is valid
    return data, prepared, progress


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataDir:
    """A fresh data folder; TUTORLOOP_HOME points at it so subprocesses use it too."""
    root = tmp_path / "home"
    monkeypatch.setenv("TUTORLOOP_HOME", str(root))
    return DataDir(root).ensure()


@pytest.fixture
def db(data_dir: DataDir):
    database = Database(data_dir.db_path)
    yield database
    database.close()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 model + tokenizer as a local Hugging Face folder (built once per run)."""
    from tests.support.tiny_model import build_tiny_model

    # 4096 positions: the tiny byte-level tokenizer needs ~600 tokens for the tutoring instructions
    # alone, so a 512 window would leave no room for the conversation.
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2", context=4096)


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail any test that leaves a Python thread running (QThreads are checked in tests/app)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    for t in leaked:
        t.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test left threads running: {still}"
