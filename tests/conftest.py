"""The test suite's set-up: environment for offline, offscreen runs, and every fixture as a plugin
module in tests/plugins (found by name in any test folder; nothing is imported across conftests)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = [
    "tests.plugins.core",
    "tests.plugins.people",
    "tests.plugins.models",
    "tests.plugins.window",
]
