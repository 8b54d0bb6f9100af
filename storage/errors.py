"""One exception hierarchy for the storage layer; messages are written for the person at the screen."""
from __future__ import annotations


class StorageError(Exception):
    """Base class: anything the storage layer refuses or cannot do."""


class DatabaseLockedError(StorageError):
    """Another process holds a write lock for longer than the busy timeout."""


class DatabaseReadOnlyError(StorageError):
    """The database file or its folder cannot be written."""


class DatabaseDamaged(StorageError):
    """The database file is truncated, fails SQLite's own checks, or is not a tutorloop database.
    Nothing is written to it; the message says where the newest backup is."""


class NotFoundError(StorageError):
    """A row that the caller named does not exist (or no longer exists)."""


class ValidationError(StorageError):
    """Input that would store something meaningless (empty text, unknown role, ...)."""


class PermissionDenied(StorageError):
    """The acting user may not do this (e.g. a student attempting a teacher action)."""


def required_text(value: str | None, what: str, *, max_len: int | None = None) -> str:
    """`value` stripped, or ValidationError naming `what` when it is empty or too long."""
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{what} is empty.")
    if max_len is not None and len(value) > max_len:
        raise ValidationError(f"{what} is {len(value):,} characters long; the limit is {max_len:,}.")
    return value


def storable_text(value: str, what: str) -> str:
    """`value` when it is valid Unicode; a lone surrogate (which JSON's "\\ud800" escapes can make)
    cannot be written as UTF-8, so SQLite and every export would fail on it later."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what} contains an invalid character (a lone UTF-16 surrogate, "
                              f"U+{ord(value[exc.start]):04X}); fix the text and try again.") from None
    return value


def shown_text(value: str) -> str:
    """`value` made safe to store or print: anything that is not valid Unicode (a file name in a
    foreign encoding, a lone surrogate) becomes a visible backslash escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
