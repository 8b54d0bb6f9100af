"""storage and learner import with PySide6 made unimportable (a real subprocess, a meta_path blocker)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK_QT = """
import sys
class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'):
            raise ImportError(f'{name} is blocked: this layer must not import Qt')
        return None
sys.meta_path.insert(0, BlockQt())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_QT + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)


def test_the_blocker_really_blocks_qt() -> None:
    result = _run("import PySide6.QtCore")
    assert result.returncode != 0 and "blocked" in result.stderr


def test_storage_and_learner_import_without_qt() -> None:
    result = _run(
        "import storage, storage.chat, learner, learner.errors, learner.settings, learner.sources, "
        "learner.loading, learner.prompts, learner.tutor\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')]\n"
        "print('ok')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
