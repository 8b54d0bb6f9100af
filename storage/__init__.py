"""SQLite storage for tutorloop: schema, migrations and typed read/write functions.

No Qt and no torch here (an import-linter contract in pyproject.toml enforces it).
"""
from __future__ import annotations

from storage.db import Database, open_database
from storage.errors import (
    DatabaseDamaged,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    NotFoundError,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from storage.paths import DataDir, resolve_data_dir

__all__ = [
    "DataDir",
    "Database",
    "DatabaseDamaged",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "NotFoundError",
    "PermissionDenied",
    "StorageError",
    "ValidationError",
    "open_database",
    "resolve_data_dir",
]
