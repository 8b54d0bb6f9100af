"""Where everything lives on disk: one data folder, overridable by --data-dir or TUTORLOOP_HOME."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from storage.errors import StorageError

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

    @property
    def backups_dir(self) -> Path:
        """Daily copies of the database (storage.backup), the newest seven."""
        return self.root / "backups"

    def ensure(self) -> DataDir:
        for folder in (self.root, self.models_dir, self.adapters_dir, self.logs_dir):
            ensure_folder(folder)
        return self


def ensure_folder(folder: Path) -> None:
    """mkdir -p, with a message a person can act on instead of FileExistsError or PermissionError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StorageError(f"{folder} is a file, but tutorloop needs a folder there. Move the file away, or "
                           "choose another data folder with --data-dir or $TUTORLOOP_HOME.") from None
    except NotADirectoryError:
        blocking = next((p for p in folder.parents if p.exists() and not p.is_dir()), folder)
        raise StorageError(f"{blocking} is a file, but tutorloop needs a folder there. Move the file away, or "
                           "choose another data folder with --data-dir or $TUTORLOOP_HOME.") from None
    except PermissionError:
        raise StorageError(f"tutorloop may not create the folder {folder}. Choose a data folder you can write to "
                           "with --data-dir or $TUTORLOOP_HOME.") from None
    except OSError as exc:
        raise StorageError(f"The folder {folder} cannot be created ({exc.strerror or exc}). Choose another data "
                           "folder with --data-dir or $TUTORLOOP_HOME.") from None


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> DataDir:
    """--data-dir beats TUTORLOOP_HOME beats the platform's user data folder."""
    if explicit:
        return DataDir(Path(explicit).expanduser().resolve())
    if env := os.environ.get(ENV_VAR):
        return DataDir(Path(env).expanduser().resolve())
    return DataDir(Path(platformdirs.user_data_dir("tutorloop", appauthor=False)))
