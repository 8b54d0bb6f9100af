"""Teacher accounts: scrypt password hashes, sign-in with throttling, and the teacher check.

The check that matters is `require_teacher()`, called by every storage function that does teacher
work; the UI hiding a button is only a convenience on top.

Hash strings describe themselves (`scrypt$n=131072,r=8,p=1$<salt>$<key>`, base64 without padding),
so the parameters can be raised later and old hashes still verify.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from storage import audit
from storage.users import User, find_user, get_user, require_teacher
from storage.db import Database, utcnow
from storage.errors import PermissionDenied, ValidationError

Clock = Callable[[], datetime]

MIN_PASSWORD_LENGTH = 8
# Wrong passwords allowed before delays start; each further one doubles the wait, up to the cap.
FREE_ATTEMPTS = 3
FIRST_DELAY_S = 2
MAX_DELAY_S = 15 * 60


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
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=params.n, r=params.r, p=params.p,
                          dklen=params.dklen, maxmem=params.maxmem)


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
    password_hash = hash_password(password, params=params)  # slow: do it before taking the write lock
    name = (name or "").strip()
    if not name:
        raise ValidationError("The teacher's name is empty.")
    with db.transaction() as t:
        if actor is None:
            if teacher_exists(db):
                raise PermissionDenied("A teacher already exists: sign in as a teacher to add another one.")
        else:
            actor = require_teacher(actor, db)
        if find_user(db, name) is not None:
            raise ValidationError(f"A profile named {name!r} already exists.")
        new_id = t["users"].insert({"name": name, "role": "teacher", "grade": "", "password_hash": password_hash,
                                    "created_at": utcnow()}).last_pk
        teacher = get_user(db, new_id)
        audit.record(db, actor or teacher, "teacher.add", target=f"user:{teacher.id}",
                     details={"name": teacher.name, "first_teacher": actor is None})
    return teacher


def change_password(db: Database, actor: User, old_password: str, new_password: str, *,
                    params: ScryptParams = DEFAULT_PARAMS) -> None:
    authenticate(db, actor.name, old_password)
    new_hash = hash_password(new_password, params=params)
    with db.transaction() as t:
        t["users"].update(actor.id, {"password_hash": new_hash})
        audit.record(db, actor, "teacher.change_password", target=f"user:{actor.id}")


# -- sign-in with throttling ---------------------------------------------------------------------

def _now(clock: Clock | None) -> datetime:
    return clock() if clock else datetime.now(timezone.utc)


def delay_after(failed_logins: int) -> int:
    """Seconds to wait after this many consecutive wrong passwords: 0, 0, 0, 2, 4, 8, ... 900."""
    if failed_logins < FREE_ATTEMPTS:
        return 0
    return min(FIRST_DELAY_S * 2 ** (failed_logins - FREE_ATTEMPTS), MAX_DELAY_S)


# Verified against unknown names so they take as long as wrong passwords (no name probing by timing).
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH


def authenticate(db: Database, name: str, password: str, *, clock: Clock | None = None) -> User:
    """The teacher named `name` if the password is right.

    Raises LoginThrottled while a delay is running (without checking the password, so guessing
    during the delay gains nothing), InvalidCredentials otherwise. Failures and delays are stored
    in users.failed_logins / locked_until, so restarting the app does not reset them.
    """
    now = _now(clock)
    rows = db.query("SELECT * FROM users WHERE name = ? COLLATE NOCASE AND role = 'teacher'", ((name or "").strip(),))
    if not rows:
        verify_password(password, _dummy_hash())
        raise InvalidCredentials("Unknown teacher name or wrong password.")
    row = rows[0]
    if row["locked_until"]:
        locked_until = datetime.fromisoformat(row["locked_until"])
        if now < locked_until:
            wait = max(1, int((locked_until - now).total_seconds() + 0.999))
            raise LoginThrottled(
                f"Too many wrong passwords for {row['name']}. Try again in {_describe_wait(wait)}.",
                retry_after_s=wait)
    if verify_password(password, row["password_hash"]):
        with db.transaction() as t:
            t["users"].update(row["id"], {"failed_logins": 0, "locked_until": None})
        return get_user(db, row["id"])
    with db.transaction() as t:
        # Re-read inside the write lock: two windows failing at once must both count.
        failed = t.execute("SELECT failed_logins FROM users WHERE id = ?", [row["id"]]).fetchone()[0] + 1
        wait = delay_after(failed)
        locked_until = (now + timedelta(seconds=wait)).isoformat(timespec="seconds") if wait else None
        t["users"].update(row["id"], {"failed_logins": failed, "locked_until": locked_until})
        if failed == FREE_ATTEMPTS:
            audit.record(db, None, "teacher.login_throttled", target=f"user:{row['id']}",
                         details={"name": row["name"], "failed_logins": failed})
    if wait:
        raise LoginThrottled(
            f"Wrong password. Too many wrong passwords for {row['name']}: try again in {_describe_wait(wait)}.",
            retry_after_s=wait)
    raise InvalidCredentials("Unknown teacher name or wrong password.")


def _describe_wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{(seconds + 59) // 60} minutes"
