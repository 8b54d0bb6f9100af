"""Where everything lives on disk: one data folder, overridable by --data-dir or TUTORLOOP_HOME."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ENV_VAR = "TUTORLOOP_HOME"


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "tutorloop.db"

    @property
    def models_dir(self) -> Path:
        """Converted model caches (safetensors), one folder per source."""
        return self.root / "models"

    @property
    def adapters_dir(self) -> Path:
        return self.root / "adapters"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> DataDir:
        for folder in (self.root, self.models_dir, self.adapters_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> DataDir:
    """--data-dir beats TUTORLOOP_HOME beats the platform's user data folder."""
    if explicit:
        return DataDir(Path(explicit).expanduser().resolve())
    if env := os.environ.get(ENV_VAR):
        return DataDir(Path(env).expanduser().resolve())
    return DataDir(Path(platformdirs.user_data_dir("tutorloop", appauthor=False)))
