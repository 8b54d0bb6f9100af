"""The window's model thread on the llama.cpp engine: it loads a GGUF model, streams replies, and a
promoted adapter changes the very next reply without reloading the model."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.worker import READY, ModelHost
from learner.settings import GenerationSettings
from learner.types import TutorReply, TutorRequest
from storage import DataDir
from tests.support.window import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the transformers fallback)")

GREEDY = dict(temperature=0.0, max_new_tokens=12)


def ask(qtbot, host: ModelHost, settings: GenerationSettings) -> TutorReply:
    pieces: list[str] = []
    host.worker.token.connect(lambda _rid, piece: pieces.append(piece))
    with qtbot.waitSignal(host.worker.finished, timeout=REPLY_TIMEOUT_MS) as done:
        host.generate(TutorRequest(user_text="What is a fraction?", mode="explain"), settings)
    reply = done.args[1]
    assert "".join(pieces).strip() == reply.text   # streamed, and the pieces are the reply
    host.worker.token.disconnect()
    return reply


def test_a_promoted_adapter_changes_the_next_reply_without_a_reload(qtbot, data_dir: DataDir, tiny_gguf: Path,
                                                                    tiny_lora: Path) -> None:
    settings = GenerationSettings(model_spec=str(tiny_gguf), **GREEDY)
    host = ModelHost(data_dir)
    try:
        host.load(settings)
        qtbot.waitUntil(lambda: host.state == READY, timeout=LOAD_TIMEOUT_MS)
        assert host.engine_name == "llama.cpp" and host.engine_notice is None
        engine = host.worker._tutor.engine
        base = ask(qtbot, host, settings)
        assert base.adapter_version is None and base.n_tokens > 0

        with qtbot.waitSignal(host.adapter_changed, timeout=REPLY_TIMEOUT_MS) as changed:
            host.set_adapter(tiny_lora, 1)
        assert changed.args == [1]
        adapted = ask(qtbot, host, settings)
        assert adapted.adapter_version == 1
        assert adapted.text != base.text, "the adapter's weights must change the greedy reply"
        assert host.worker._tutor.engine is engine, "swapped on the loaded model, not reloaded"

        with qtbot.waitSignal(host.adapter_changed, timeout=REPLY_TIMEOUT_MS):
            host.set_adapter(None, None)
        assert ask(qtbot, host, settings).text == base.text   # back to the base model exactly
    finally:
        host.shutdown()


def test_prefilling_while_the_student_types_leaves_only_the_message(qtbot, data_dir: DataDir, tiny_gguf: Path) -> None:
    settings = GenerationSettings(model_spec=str(tiny_gguf), **GREEDY)
    host = ModelHost(data_dir)
    try:
        host.load(settings)
        qtbot.waitUntil(lambda: host.state == READY, timeout=LOAD_TIMEOUT_MS)
        engine = host.worker._tutor.engine
        with qtbot.waitSignal(host.worker.job_finished, timeout=REPLY_TIMEOUT_MS) as prefilled:
            assert host.prefill(TutorRequest(user_text="…", mode="hint", grade="6"), settings) is not None
        cached = prefilled.args[1]
        assert cached > 50, "the system prompt and the hint instructions are prefilled"
        with qtbot.waitSignal(host.worker.finished, timeout=REPLY_TIMEOUT_MS):
            host.generate(TutorRequest(user_text="Is 3/4 + 1/8 = 4/12?", mode="hint", grade="6"), settings)
        assert engine.last_cached_tokens >= cached - 2   # the reply found them (a token at the seam may differ)
        with qtbot.waitSignal(host.worker.finished, timeout=REPLY_TIMEOUT_MS):
            host.generate(TutorRequest(user_text="Thanks!", mode="explain"), settings)
        assert host.prefill(TutorRequest(user_text="…", mode="explain"), settings) is not None
    finally:
        host.shutdown()


def test_the_words_written_so_far_are_prefilled_but_not_an_unfinished_one(tiny_llama_engine) -> None:
    from learner.tutor import Tutor

    tutor = Tutor(tiny_llama_engine)
    settings = GenerationSettings(**GREEDY)
    tiny_llama_engine.forget_cache()
    before = tutor.prefill(TutorRequest(user_text="…", mode="explain"), settings)
    words = tutor.prefill(TutorRequest(user_text="What is a fract", mode="explain"), settings)
    assert words > before   # "What is a " joined the cache
    assert tutor.prefill(TutorRequest(user_text="What is a ", mode="explain"), settings) == words
