"""The window with the real embedded model: the model loads in the background, a real answer
streams into the chat and is stored. The model is prepared once per run (the `real_model` fixture,
tests/plugins/core.py) and its folder linked into the test's data folder."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.ui.worker import READY
from learner.settings import GenerationSettings, save_generation_settings
from learner.sources import EMBEDDED_MODEL, needs_preparation
from storage import chat

pytestmark = pytest.mark.integration

PREPARE_TIMEOUT_MS = 5 * 60_000
ANSWER_TIMEOUT_MS = 5 * 60_000


@pytest.fixture(scope="session")
def embedded_models_dir(real_model) -> Path:
    return real_model[0].models_dir


def test_a_real_answer_streams_into_the_window_and_is_stored(
        qtbot, ctx, embedded_models_dir: Path, open_window) -> None:
    ctx.data_dir.models_dir.rmdir()
    ctx.data_dir.models_dir.symlink_to(embedded_models_dir, target_is_directory=True)
    assert not needs_preparation("default", ctx.data_dir)
    save_generation_settings(ctx.db, GenerationSettings(model_spec="default", device="cpu", max_new_tokens=40,
                                                        temperature=0))
    window = open_window()
    window.start_model()
    qtbot.waitUntil(lambda: window.model.state == READY, timeout=PREPARE_TIMEOUT_MS)
    assert window.model.model_id == EMBEDDED_MODEL.model_id

    pieces: list[str] = []
    window.model.worker.token.connect(lambda _rid, text: pieces.append(text))
    window.composer.input.setPlainText("What is photosynthesis?")
    with qtbot.waitSignal(window.model.worker.finished, timeout=ANSWER_TIMEOUT_MS) as done:
        qtbot.keyClick(window.composer.input, Qt.Key.Key_Return)
    reply = done.args[1]
    qtbot.waitUntil(lambda: window.pending is None, timeout=10_000)

    assert len(pieces) >= 3 and "".join(pieces) == reply.text
    assert any(word in reply.text.lower() for word in ("light", "plant", "sun", "energy", "oxygen")), reply.text
    user, assistant = chat.list_messages(ctx.db, window.session.id)
    assert user.content == "What is photosynthesis?"
    assert (assistant.status, assistant.content, assistant.model_id) == ("complete", reply.text,
                                                                         EMBEDDED_MODEL.model_id)
    shown = window.chat.widget_for(assistant.id).body.toPlainText()  # rendered, so Markdown marks are gone
    words = [w for w in reply.text.split() if w.isalpha() and len(w) > 4]
    assert words and all(word in shown for word in words[:5])
