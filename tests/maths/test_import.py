"""learner.maths imports without torch, Qt or sympy (a real subprocess with those blocked)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers', 'PySide6', 'shiboken6', 'pyqtgraph', 'sympy', 'numpy'):
            raise ImportError(f'{name} is blocked')
        return None
sys.meta_path.insert(0, Block())
import learner.maths
from learner.maths import recognise, generate, judge
assert recognise('2/3 + 1/6')[0].result == '5/6'
assert generate('Fractions', seed=1) is not None
print('ok')
"""


def test_the_engine_imports_without_torch_or_qt() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
