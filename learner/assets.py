"""Where the shipped data files are: the `tutorloop_assets` package (assets/ in this repository,
mapped by pyproject.toml), so an editable install and a built wheel read the same files."""
from __future__ import annotations

from pathlib import Path


def _assets_dir() -> Path:
    try:
        import tutorloop_assets
    except ImportError:  # a source checkout that was never installed (e.g. PYTHONPATH=.)
        return Path(__file__).resolve().parent.parent / "assets"
    return Path(tutorloop_assets.__file__).resolve().parent


ASSETS_DIR = _assets_dir()
