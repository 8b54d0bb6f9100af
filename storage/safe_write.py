"""Writing an export file so that nothing is lost and nothing is overwritten by accident.

Every export (examples, the audit log, a student's data) goes through `write_text_file`:
- the target must be a plain file name in an existing folder; an existing target must be a regular
  file (never a device such as /dev/full, a folder, a FIFO, or a symbolic link, which could point
  at a file the teacher did not name), and never the database itself;
- the text goes into a new temporary file in the target's folder, created with
  O_CREAT | O_EXCL | O_NOFOLLOW (a planted symlink or an existing file with that name is refused,
  not followed), fsynced, then renamed over the target in one step: readers see the old file or
  the whole new one, and a failure leaves no partial file behind;
- every failure is one ValidationError (what was asked is not possible) or StorageError (the disk
  said no) with a message for the person at the screen, never an OSError traceback.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from storage.errors import StorageError, ValidationError, shown_text

Writer = Callable[[TextIO], None]


def export_target(path: Path | str | None, *, what: str = "The export file",
                  protect: Iterable[Path | str] = ()) -> Path:
    """The checked target path (absolute, not resolved through links), or ValidationError."""
    text = os.fspath(path) if path is not None else ""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{what}: no file name was given.")
    if "\x00" in text:
        raise ValidationError(f"{what}: the file name contains a NUL character.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what}: the file name contains characters that are not valid text.") from None
    target = Path(os.path.abspath(os.path.expanduser(text)))
    if text.endswith(os.sep) or target.name in ("", ".", ".."):
        raise ValidationError(f"{what}: {text!r} names a folder; give a file name, for example "
                              f"{os.path.join(text.rstrip(os.sep) or '.', 'export.jsonl')}.")
    folder = target.parent
    try:
        folder_info = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        raise ValidationError(f"{what}: the folder {shown_text(str(folder))} does not exist. Create it first, or "
                              "choose another.") from None
    except OSError as exc:
        raise ValidationError(f"{what}: the folder {shown_text(str(folder))} cannot be used "
                              f"({exc.strerror or exc}).") from None
    if not stat.S_ISDIR(folder_info.st_mode):
        raise ValidationError(f"{what}: {shown_text(str(folder))} is not a folder.")
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ValidationError(f"{what}: {shown_text(str(target))} cannot be used ({exc.strerror or exc}).") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise ValidationError(f"{what}: {target} is a symbolic link. Exports never write through links; "
                                  "choose a plain file name.")
        if stat.S_ISDIR(info.st_mode):
            raise ValidationError(f"{what}: {target} is a folder; give a file name inside it instead.")
        if not stat.S_ISREG(info.st_mode):
            raise ValidationError(f"{what}: {target} is not a regular file (a device, pipe or socket); "
                                  "choose a plain file name.")
        for guarded in protect:
            try:
                if os.path.samefile(target, guarded):
                    raise ValidationError(f"{what}: {target} is tutorloop's own database; choose another file.")
            except OSError:
                continue
    return target


def write_text_file(path: Path | str | None, write: Writer, *, what: str = "The export file",
                    private: bool = False, protect: Iterable[Path | str] = ()) -> Path:
    """Write the text that `write(handle)` produces to `path`, all or nothing (see the module).
    `private` makes the new file readable by its owner only (student data)."""
    protect = tuple(protect)
    target = export_target(path, what=what, protect=protect)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o600 if private else 0o644)
    except OSError as exc:
        raise _failure(what, target, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # Checked again just before the rename: the target may have been swapped meanwhile.
        export_target(target, what=what, protect=protect)
        os.replace(tmp, target)
    except ValidationError:
        tmp.unlink(missing_ok=True)
        raise
    except UnicodeEncodeError:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"{what}: some stored text is not valid Unicode and cannot be written as UTF-8. "
                              "Nothing was written.") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _failure(what, target, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(target.parent)
    return target


def _failure(what: str, target: Path, exc: OSError) -> StorageError:
    if exc.errno == errno.ENOSPC:
        return StorageError(f"{what} could not be written: the disk holding {target.parent} is full. "
                            "Nothing was written.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StorageError(f"{what} could not be written: you may not write in the folder {target.parent}. "
                            "Choose another folder. Nothing was written.")
    if exc.errno == errno.EROFS:
        return StorageError(f"{what} could not be written: {target.parent} is on a read-only disk. "
                            "Nothing was written.")
    if exc.errno == errno.ENAMETOOLONG:
        return ValidationError(f"{what}: the file name is too long. Nothing was written.")
    return StorageError(f"{what} could not be written to {target} ({exc.strerror or exc}). Nothing was written.")


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
