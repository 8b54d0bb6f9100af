"""Wrong-password counts for teacher sign-in, kept in their own small SQLite file beside the database
(`tutorloop-signin.db`).

Why a separate file: every attempt is recorded *before* its password is checked (reserve, then
check), which is a write. In the main database that write would wait behind any long write of
another process (an import, a round registering), so `review list` could not even sign in. Here
the writes are a few bytes and never wait on the main database. Deleting the file resets the
counts; anyone who can do that can also copy the database's password hashes (see the threat model
in docs/architecture.md), so it protects nothing the file system does not already give away.

Two tiers, keyed by the name as typed (caseless, Unicode), so unknown names are counted and delayed
exactly like real ones and the delays reveal nothing:
- per source and account: after FREE_ATTEMPTS wrong passwords, each further one doubles a delay
  from FIRST_DELAY_S up to MAX_DELAY_S (15 min). A *source* is where the attempts come from on this
  desktop: the OS account and the profile open in the window (the CLI is a source of its own);
- per account, from every source: after ACCOUNT_FREE_ATTEMPTS, a delay doubling up to
  ACCOUNT_MAX_DELAY_S (one minute). It bounds the guessing rate of someone who switches profiles,
  while a student's wrong guesses can never keep the teacher out for more than that minute: the
  teacher signs in from another source (another profile, the CLI, their own OS account).
A right password clears the account's count and the source's own, not other sources'.
"""
from __future__ import annotations

import getpass
import os
import sqlite3
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from storage.errors import DatabaseLockedError, StorageError

# Wrong passwords allowed before delays start; each further one doubles the wait, up to the cap.
FREE_ATTEMPTS = 3
FIRST_DELAY_S = 2
MAX_DELAY_S = 15 * 60
ACCOUNT_FREE_ATTEMPTS = 10
ACCOUNT_MAX_DELAY_S = 60
_BUSY_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    account      TEXT NOT NULL,                   -- the typed name's caseless key (storage.names.name_key)
    source       TEXT NOT NULL,                   -- '' for the account's own count over every source
    failed       INTEGER NOT NULL DEFAULT 0,      -- wrong (or still unchecked) attempts in a row
    locked_until TEXT,                            -- ISO time before which no attempt is checked
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (account, source)
);
"""


def delay_after(failed: int) -> int:
    """Seconds a source waits after this many wrong passwords in a row: 0, 0, 0, 0, 2, 4, 8, ... 900
    (delays start *after* FREE_ATTEMPTS wrong passwords)."""
    if failed <= FREE_ATTEMPTS:
        return 0
    return min(FIRST_DELAY_S * 2 ** min(failed - FREE_ATTEMPTS - 1, 30), MAX_DELAY_S)


def account_delay_after(failed: int) -> int:
    """Seconds every source waits after this many wrong passwords for one account, from anywhere."""
    if failed <= ACCOUNT_FREE_ATTEMPTS:
        return 0
    return min(FIRST_DELAY_S * 2 ** min(failed - ACCOUNT_FREE_ATTEMPTS - 1, 30), ACCOUNT_MAX_DELAY_S)


def signin_source(profile_id: int | None = None) -> str:
    """Where an attempt comes from on this desktop: the OS account, and the profile open in the
    window (None: the command line)."""
    try:
        user = getpass.getuser()
    except Exception:   # no login name in the environment or the password database
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"os:{user} " + (f"profile:{profile_id}" if profile_id is not None else "cli")


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """An attempt that may not be checked yet: wait `wait_s`; `everywhere` says the account's own
    delay (from every source) is the one running."""
    wait_s: int
    everywhere: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """An attempt recorded as failed before its password is checked; `delay_s` is the wait it set
    if the password turns out wrong."""
    failed: int
    delay_s: int


def throttle_path(db_path: Path) -> Path:
    return db_path.with_name(f"{db_path.stem}-signin.db")


_in_memory: weakref.WeakKeyDictionary[object, sqlite3.Connection] = weakref.WeakKeyDictionary()


class SigninThrottle:
    """The failure counts of one database (`owner` is its storage.db.Database)."""

    def __init__(self, owner: object, db_path: Path | str) -> None:
        if isinstance(db_path, Path):
            self.path: Path | None = throttle_path(db_path)
            self._conn = self._open(self.path)
            self._close = True
        else:   # an in-memory database (tests): the counts live as long as it does
            self.path = None
            if owner not in _in_memory:
                conn = sqlite3.connect(":memory:", isolation_level=None)
                conn.executescript(_SCHEMA)
                _in_memory[owner] = conn
            self._conn = _in_memory[owner]
            self._close = False

    def _open(self, path: Path) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(str(path), timeout=_BUSY_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"The sign-in record {path} cannot be used ({exc}). It only holds recent wrong "
                               "passwords: delete it and sign in again.") from exc
        return conn

    def close(self) -> None:
        if self._close:
            self._conn.close()

    def __enter__(self) -> SigninThrottle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reserve(self, *, account: str, source: str, now: datetime) -> Refusal | Reservation:
        """Check both delays and, when neither runs, count this attempt as failed, all in one
        BEGIN IMMEDIATE: of attempts sent at once, each sees the ones before it, so no more than
        the free ones are ever checked before the first delay."""
        stamp = now.isoformat(timespec="seconds")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise DatabaseLockedError("Sign-in is busy: another tutorloop is recording an attempt. Try again in a "
                                      "moment.") from exc
        try:
            rows = {source_key: (failed, locked) for source_key, failed, locked in self._conn.execute(
                "SELECT source, failed, locked_until FROM failures WHERE account = ? AND source IN (?, '')",
                (account, source))}
            waits = []
            for key in (source, ""):
                locked = rows.get(key, (0, None))[1]
                if locked and now < datetime.fromisoformat(locked):
                    waits.append((max(1, int((datetime.fromisoformat(locked) - now).total_seconds() + 0.999)),
                                  key == ""))
            if waits:
                self._conn.execute("COMMIT")
                wait_s, everywhere = max(waits)
                return Refusal(wait_s=wait_s, everywhere=everywhere)
            failed = rows.get(source, (0, None))[0] + 1
            account_failed = rows.get("", (0, None))[0] + 1
            delay, account_delay = delay_after(failed), account_delay_after(account_failed)
            for key, count, wait in ((source, failed, delay), ("", account_failed, account_delay)):
                until = (now + timedelta(seconds=wait)).isoformat(timespec="seconds") if wait else None
                self._conn.execute(
                    "INSERT INTO failures (account, source, failed, locked_until, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (account, source) DO UPDATE SET failed = excluded.failed, "
                    "locked_until = excluded.locked_until, updated_at = excluded.updated_at",
                    (account, key, count, until, stamp))
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        return Reservation(failed=failed, delay_s=max(delay, account_delay))

    def succeeded(self, *, account: str, source: str) -> None:
        """The right password: this source's count and the account's go back to zero."""
        self._conn.execute("DELETE FROM failures WHERE account = ? AND source IN (?, '')", (account, source))
