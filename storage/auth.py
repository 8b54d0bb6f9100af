"""Teacher accounts: scrypt password hashes, sign-in with throttling, and the teacher check.

The check that matters is `require_teacher()`, called by every storage function that does teacher
work; the UI hiding a button is only a convenience on top.

Hash strings describe themselves (`scrypt$n=131072,r=8,p=1$<salt>$<key>`, base64 without padding),
so the parameters can be raised later and old hashes still verify; a sign-in with a hash made with
other parameters stores a new one (`needs_rehash`).

Sign-in (`authenticate`) never writes to the main database on its way to a verdict: the attempt
is recorded first in the sign-in record (storage.throttle: per source and per account), then the
password is checked, and an unknown name costs exactly what a known one does (one scrypt run
against a dummy hash with the same parameters, ready before the first attempt).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from storage import audit
from storage.db import Database, utcnow
from storage.errors import DatabaseLockedError, DatabaseReadOnlyError, PermissionDenied, ValidationError
from storage.names import name_key
from storage.throttle import (
    ACCOUNT_FREE_ATTEMPTS, ACCOUNT_MAX_DELAY_S, FIRST_DELAY_S, FREE_ATTEMPTS, MAX_DELAY_S, Refusal, SigninThrottle,
    account_delay_after, delay_after, signin_source,
)
from storage.users import User, find_user, get_user, require_teacher

__all__ = ["ACCOUNT_FREE_ATTEMPTS", "ACCOUNT_MAX_DELAY_S", "DEFAULT_PARAMS", "FIRST_DELAY_S", "FREE_ATTEMPTS",
           "MAX_DELAY_S", "MIN_PASSWORD_LENGTH", "InvalidCredentials", "LoginThrottled", "ScryptParams",
           "account_delay_after", "authenticate", "change_password", "create_teacher", "delay_after",
           "hash_password", "needs_rehash", "require_teacher", "signin_source", "teacher_exists",
           "verify_password", "TeacherSignIn", "DEFAULT_IDLE_MINUTES", "idle_sign_out_minutes",
           "set_idle_sign_out_minutes"]

Clock = Callable[[], datetime]

MIN_PASSWORD_LENGTH = 8
# Rehashing at sign-in is a courtesy write: it waits this long for the database, then waits for
# the next sign-in instead.
_REHASH_WAIT_S = 0.25


class InvalidCredentials(PermissionDenied):
    """Unknown name or wrong password (deliberately not saying which)."""


class LoginThrottled(PermissionDenied):
    """Too many wrong passwords: no attempt is checked until `retry_after_s` has passed."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True, kw_only=True)
class ScryptParams:
    # OWASP's minimum for scrypt: N=2^17 (128 MiB), r=8, p=1. About 0.2-0.5 s per hash on a laptop:
    # unnoticeable at sign-in, ruinous for an attacker guessing offline. Tests pass cheaper ones.
    n: int = 2**17
    r: int = 8
    p: int = 1
    dklen: int = 32

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError(f"ScryptParams.n must be a power of two above 1, got {self.n}")
        if self.r < 1 or self.p < 1 or self.dklen < 16:
            raise ValueError("ScryptParams: r and p must be >= 1 and dklen >= 16")

    @property
    def maxmem(self) -> int:
        # scrypt needs 128 * r * n bytes (plus a little); hashlib refuses above its 32 MiB default.
        return 128 * self.r * self.n * 2 + 2**20


DEFAULT_PARAMS = ScryptParams()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(_encoded(password), salt=salt, n=params.n, r=params.r, p=params.p,
                          dklen=params.dklen, maxmem=params.maxmem)


def _encoded(password: str) -> bytes:
    # A lone surrogate (from a broken clipboard or a hostile caller) must not end in a traceback.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str, *, params: ScryptParams = DEFAULT_PARAMS) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    salt = secrets.token_bytes(16)
    key = _derive(password, salt, params)
    return f"scrypt$n={params.n},r={params.r},p={params.p}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes]:
    scheme, param_text, salt_text, key_text = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password scheme {scheme!r}")
    values = dict(part.split("=", 1) for part in param_text.split(","))
    key = _unb64(key_text)
    params = ScryptParams(n=int(values["n"]), r=int(values["r"]), p=int(values["p"]), dklen=len(key))
    return params, _unb64(salt_text), key


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time comparison; a missing or unreadable hash never verifies."""
    if not stored:
        return False
    try:
        params, salt, expected = _parse(stored)
    except (ValueError, KeyError):
        return False
    return hmac.compare_digest(_derive(password, salt, params), expected)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    try:
        current, _, _ = _parse(stored)
    except (ValueError, KeyError):
        return True
    return (current.n, current.r, current.p) != (params.n, params.r, params.p)


# -- teacher accounts ----------------------------------------------------------------------------

def teacher_exists(db: Database) -> bool:
    return bool(db.query("SELECT 1 FROM users WHERE role = 'teacher' LIMIT 1"))


def create_teacher(db: Database, actor: User | None, name: str, password: str, *,
                   params: ScryptParams = DEFAULT_PARAMS) -> User:
    """Add a teacher. Without an acting teacher this is allowed only while no teacher exists yet
    (first run); the check and the insert share one transaction, so two first-runs cannot both win."""
    from storage.users import clean_name

    name = clean_name(name, "The teacher's name")
    password_hash = hash_password(password, params=params)  # slow: do it before taking the write lock
    with db.transaction() as t:
        if actor is None:
            if teacher_exists(db):
                raise PermissionDenied("A teacher already exists: sign in as a teacher to add another one.")
        else:
            actor = require_teacher(actor, db)
        if find_user(db, name) is not None:
            raise ValidationError(f"A profile named {name!r} already exists.")
        new_id = t["users"].insert({"name": name, "name_key": name_key(name), "role": "teacher", "grade": "",
                                    "password_hash": password_hash, "created_at": utcnow()}).last_pk
        teacher = get_user(db, new_id)
        audit.record(db, actor or teacher, "teacher.add", target=f"user:{teacher.id}",
                     details={"name": teacher.name, "first_teacher": actor is None})
    return teacher


def change_password(db: Database, actor: User, old_password: str, new_password: str, *,
                    params: ScryptParams = DEFAULT_PARAMS) -> None:
    authenticate(db, actor.name, old_password, params=params)
    new_hash = hash_password(new_password, params=params)
    with db.transaction() as t:
        t["users"].update(actor.id, {"password_hash": new_hash})
        audit.record(db, actor, "teacher.change_password", target=f"user:{actor.id}")


# -- sign-in with throttling ---------------------------------------------------------------------

def _now(clock: Clock | None) -> datetime:
    return clock() if clock else datetime.now(timezone.utc)


def _dummy_hash(params: ScryptParams) -> str:
    """A well-formed hash no password matches (its key is zeros, not derived from anything):
    checking a password against it costs one scrypt run with `params`, like a real account, and
    making it costs nothing, so the first unknown name is as fast as every later one."""
    return f"scrypt$n={params.n},r={params.r},p={params.p}${_b64(bytes(16))}${_b64(bytes(params.dklen))}"


def authenticate(db: Database, name: str, password: str, *, clock: Clock | None = None,
                 source: str | None = None, params: ScryptParams = DEFAULT_PARAMS) -> User:
    """The teacher named `name` if the password is right.

    The attempt is counted as failed before the password is checked (storage.throttle), so
    attempts sent at once cannot all be checked; a right password clears the count. Raises
    LoginThrottled while a delay is running (the password is not checked, so guessing during it
    gains nothing), InvalidCredentials otherwise, the same for unknown names and wrong passwords.
    `source` is where the attempt comes from (storage.throttle.signin_source: the window passes
    the open profile's id; default: this OS account on the command line). A hash made with other
    scrypt parameters than `params` is replaced by a new one after a right password.
    """
    now = _now(clock)
    typed = " ".join((name or "").split())
    account = name_key(typed)
    source = source or signin_source()
    with SigninThrottle(db, db.path) as throttle:
        reservation = throttle.reserve(account=account, source=source, now=now)
        if isinstance(reservation, Refusal):
            where = "" if reservation.everywhere else " from here"
            raise LoginThrottled(f"Too many wrong passwords for {typed}{where}. "
                                 f"Try again in {_describe_wait(reservation.wait_s)}.",
                                 retry_after_s=reservation.wait_s)
        rows = db.query("SELECT id, password_hash FROM users WHERE name_key = ? AND role = 'teacher'", (account,))
        stored = rows[0]["password_hash"] if rows else None
        if rows and stored and verify_password(password, stored):
            throttle.succeeded(account=account, source=source)
            if needs_rehash(stored, params):
                _rehash(db, rows[0]["id"], password, params)
            return get_user(db, rows[0]["id"])
        if not rows or not stored:
            verify_password(password, _dummy_hash(params))   # the same work as a real check
    if rows and reservation.failed == FREE_ATTEMPTS + 1:
        _note(db, "teacher.login_throttled", f"user:{rows[0]['id']}", {"failed_logins": reservation.failed})
    if reservation.delay_s:
        raise LoginThrottled(f"Wrong password, or unknown name. Too many wrong passwords for {typed}: try again "
                             f"in {_describe_wait(reservation.delay_s)}.", retry_after_s=reservation.delay_s)
    raise InvalidCredentials("Unknown teacher name or wrong password.")


def _rehash(db: Database, user_id: int, password: str, params: ScryptParams) -> None:
    """Store the password hashed with today's parameters; skipped (until the next sign-in) when
    the database is busy or read-only: signing in must not depend on it."""
    new_hash = hash_password(password, params=params) if len(password) >= MIN_PASSWORD_LENGTH else None
    if new_hash is None:
        return
    try:
        with db.waiting_at_most(_REHASH_WAIT_S), db.transaction() as t:
            t["users"].update(user_id, {"password_hash": new_hash})
    except (DatabaseLockedError, DatabaseReadOnlyError):
        return


def _note(db: Database, action: str, target: str, details: dict[str, object]) -> None:
    """An audit entry that may wait only briefly: a busy database skips it rather than delay sign-in."""
    try:
        with db.waiting_at_most(_REHASH_WAIT_S):
            audit.record(db, None, action, target=target, details=details)
    except (DatabaseLockedError, DatabaseReadOnlyError):
        return


def _describe_wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{(seconds + 59) // 60} minutes"


# -- how long a sign-in lasts ----------------------------------------------------------------------

IDLE_SETTING = "teacher_idle_minutes"
DEFAULT_IDLE_MINUTES = 15
MAX_IDLE_MINUTES = 8 * 60


def idle_sign_out_minutes(db: Database) -> int:
    """Minutes without teacher activity after which the window signs the teacher out (the teacher's
    setting, DEFAULT_IDLE_MINUTES when unset or unreadable)."""
    rows = db.query("SELECT value FROM settings WHERE key = ?", (IDLE_SETTING,))
    try:
        minutes = int(rows[0]["value"]) if rows else DEFAULT_IDLE_MINUTES
    except (TypeError, ValueError):
        return DEFAULT_IDLE_MINUTES
    return minutes if 1 <= minutes <= MAX_IDLE_MINUTES else DEFAULT_IDLE_MINUTES


def set_idle_sign_out_minutes(db: Database, actor: User, minutes: int) -> int:
    """A teacher action (audited): after how many idle minutes a signed-in teacher is signed out."""
    teacher = require_teacher(actor, db)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_IDLE_MINUTES:
        raise ValidationError(f"The idle sign-out time must be a whole number of minutes from 1 to "
                              f"{MAX_IDLE_MINUTES}; got {minutes!r}.")
    with db.transaction() as t:
        t.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  [IDLE_SETTING, str(minutes)])
        audit.record(db, teacher, "teacher.idle_sign_out", target="settings", details={"minutes": minutes})
    return minutes


@dataclass(frozen=True, slots=True, kw_only=True)
class TeacherSignIn:
    """A teacher signed in at the window. It ends when the profile open at sign-in changes (a student
    taking over the screen must not inherit it) or after `idle_limit` without teacher activity. The
    window keeps one, calls `touched()` on each teacher action and asks `ended()` on a timer."""
    teacher: User
    profile_id: int | None        # the profile open in the window when the teacher signed in
    last_activity: datetime
    idle_limit: timedelta = timedelta(minutes=DEFAULT_IDLE_MINUTES)

    @classmethod
    def start(cls, db: Database, teacher: User, *, profile_id: int | None, now: datetime | None = None) -> TeacherSignIn:
        return cls(teacher=teacher, profile_id=profile_id, last_activity=now or datetime.now(timezone.utc),
                   idle_limit=timedelta(minutes=idle_sign_out_minutes(db)))

    def touched(self, now: datetime | None = None) -> TeacherSignIn:
        return replace(self, last_activity=now or datetime.now(timezone.utc))

    def ended(self, *, profile_id: int | None, now: datetime | None = None) -> str | None:
        """Why the teacher is now signed out (a notice for the window), or None while it lasts."""
        if profile_id != self.profile_id:
            return f"{self.teacher.name} was signed out because the profile changed."
        idle = (now or datetime.now(timezone.utc)) - self.last_activity
        if idle >= self.idle_limit:
            minutes = int(self.idle_limit.total_seconds() // 60)
            return f"{self.teacher.name} was signed out after {minutes} minutes without activity."
        return None
