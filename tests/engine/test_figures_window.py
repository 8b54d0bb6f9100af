"""The window's model thread records the chat's own speed and memory per model, so Settings can
show figures from this machine before anyone runs the bench."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.worker import READY, ModelHost
from learner.engine.figures import MIN_REPLY_TOKENS, figures_for
from learner.settings import GenerationSettings
from learner.types import TutorRequest
from storage import DataDir
from tests.support.window import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")


def test_a_long_enough_reply_records_the_models_speed_and_memory(qtbot, data_dir: DataDir, tiny_gguf: Path) -> None:
    host = ModelHost(data_dir)
    try:
        host.load(GenerationSettings(model_spec=str(tiny_gguf), temperature=0.0, max_new_tokens=8))
        qtbot.waitUntil(lambda: host.state == READY, timeout=LOAD_TIMEOUT_MS)
        model_id = host.worker._tutor.model_id
        with qtbot.waitSignal(host.worker.finished, timeout=REPLY_TIMEOUT_MS):
            host.generate(TutorRequest(user_text="What is a fraction?", mode="explain"),
                          GenerationSettings(model_spec=str(tiny_gguf), temperature=0.0, max_new_tokens=8))
        assert figures_for(data_dir, model_id) is None, "a reply shorter than MIN_REPLY_TOKENS says nothing"

        long_enough = GenerationSettings(model_spec=str(tiny_gguf), temperature=0.0, max_new_tokens=MIN_REPLY_TOKENS + 8)
        with qtbot.waitSignal(host.worker.finished, timeout=REPLY_TIMEOUT_MS) as done:
            host.generate(TutorRequest(user_text="Tell me about fractions.", mode="explain"), long_enough)
        reply = done.args[1]
        assert reply.n_tokens >= MIN_REPLY_TOKENS, "the tiny model stopped early; the test needs a longer reply"
        qtbot.waitUntil(lambda: figures_for(data_dir, model_id) is not None, timeout=REPLY_TIMEOUT_MS)
        figures = figures_for(data_dir, model_id)
        assert (figures.engine, figures.source) == ("llama.cpp", "chat")
        assert figures.tokens_per_s == pytest.approx(reply.tokens_per_s, abs=0.01) and figures.memory_mb > 50
    finally:
        host.shutdown()
