"""The Qt app's fixtures (a student, the tiny model loaded by the real worker, recorded message
boxes, the QThread leak check) shared from tests/app."""
from __future__ import annotations

from tests.app.conftest import (  # noqa: F401 - fixtures are found by name
    ctx, message_boxes, no_running_qthreads, open_window, window,
)
