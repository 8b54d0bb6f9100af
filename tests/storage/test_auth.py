from __future__ import annotations

import pytest

from storage import Database, PermissionDenied, ValidationError, auth, users
from tests.support.classroom import FAST, PASSWORD
from tests.support.clock import ManualClock


def test_hash_is_self_describing_salted_and_verifies() -> None:
    first = auth.hash_password(PASSWORD, params=FAST)
    second = auth.hash_password(PASSWORD, params=FAST)
    assert first.startswith("scrypt$n=256,r=8,p=1$")
    assert first != second  # per-hash random salt
    assert auth.verify_password(PASSWORD, first)
    assert not auth.verify_password(PASSWORD + "x", first)
    assert not auth.verify_password(PASSWORD, None)
    assert not auth.verify_password(PASSWORD, "md5$garbage")


def test_default_parameters_are_memory_hard() -> None:
    params = auth.DEFAULT_PARAMS
    assert params.n >= 2**14 and params.r >= 8
    assert 128 * params.n * params.r >= 16 * 2**20  # at least 16 MiB per guess
    stored = auth.hash_password(PASSWORD)
    assert stored.startswith(f"scrypt$n={params.n},r={params.r},p={params.p}$")
    assert auth.verify_password(PASSWORD, stored)
    assert auth.needs_rehash(auth.hash_password(PASSWORD, params=FAST))


def test_short_password_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match="too short"):
        auth.create_teacher(db, None, "Ms Lee", "short", params=FAST)
    assert not auth.teacher_exists(db)


def test_first_teacher_without_credentials_only_once(db: Database, teacher: users.User) -> None:
    with pytest.raises(PermissionDenied, match="already exists"):
        auth.create_teacher(db, None, "Mr Intruder", PASSWORD, params=FAST)
    second = auth.create_teacher(db, teacher, "Mr Park", PASSWORD, params=FAST)
    assert second.role == "teacher"
    student = users.create_user(db, "Ana")
    with pytest.raises(PermissionDenied, match="student"):
        auth.create_teacher(db, student, "Mr Sneaky", PASSWORD, params=FAST)
    assert [u.name for u in users.list_users(db, role="teacher")] == ["Mr Park", "Ms Lee"]


def test_require_teacher_rereads_the_role(db: Database, teacher: users.User) -> None:
    student = users.create_user(db, "Ana")
    forged = users.User(id=student.id, name=student.name, role="teacher", grade="", created_at=student.created_at)
    assert users.require_teacher(forged).id == student.id  # without db only the object is checked...
    with pytest.raises(PermissionDenied):
        users.require_teacher(forged, db)                    # ...with db the stored role wins
    with pytest.raises(PermissionDenied):
        users.require_teacher(None)
    assert users.require_teacher(teacher, db) == teacher


def test_authenticate_right_and_wrong(db: Database, teacher: users.User) -> None:
    assert auth.authenticate(db, "ms lee", PASSWORD, params=FAST).id == teacher.id
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, "Ms Lee", "wrong password")
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, "Nobody", PASSWORD)
    student = users.create_user(db, "Ana")
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, student.name, PASSWORD)


def test_throttling_grows_and_persists_with_a_fake_clock(data_dir, teacher: users.User, db: Database) -> None:
    clock = ManualClock()
    for _ in range(auth.FREE_ATTEMPTS):                 # delays start after three wrong passwords
        with pytest.raises(auth.InvalidCredentials):
            auth.authenticate(db, "Ms Lee", "nope nope", clock=clock)
    with pytest.raises(auth.LoginThrottled) as third:
        auth.authenticate(db, "Ms Lee", "nope nope", clock=clock)
    assert third.value.retry_after_s == auth.FIRST_DELAY_S
    # During the delay even the right password is not checked.
    with pytest.raises(auth.LoginThrottled):
        auth.authenticate(db, "Ms Lee", PASSWORD, clock=clock)
    clock.advance(auth.FIRST_DELAY_S)
    with pytest.raises(auth.LoginThrottled) as fourth:
        auth.authenticate(db, "Ms Lee", "nope nope", clock=clock)
    assert fourth.value.retry_after_s == 2 * auth.FIRST_DELAY_S  # it grows

    # A new connection (an app restart) still sees the delay.
    with Database(data_dir.db_path) as reopened:
        with pytest.raises(auth.LoginThrottled, match="Try again in 4 seconds"):
            auth.authenticate(reopened, "Ms Lee", PASSWORD, clock=clock)
        clock.advance(4)
        assert auth.authenticate(reopened, "Ms Lee", PASSWORD, clock=clock, params=FAST).id == teacher.id
    for _ in range(auth.FREE_ATTEMPTS):                 # the right password cleared the count
        with pytest.raises(auth.InvalidCredentials):
            auth.authenticate(db, "Ms Lee", "nope nope", clock=clock)


def test_delay_is_capped() -> None:
    assert [auth.delay_after(n) for n in range(7)] == [0, 0, 0, 0, 2, 4, 8]
    assert auth.delay_after(100) == auth.MAX_DELAY_S


def test_change_password_needs_the_old_one(db: Database, teacher: users.User) -> None:
    with pytest.raises(auth.InvalidCredentials):
        auth.change_password(db, teacher, "not the old one", "brand new password", params=FAST)
    auth.change_password(db, teacher, PASSWORD, "brand new password", params=FAST)
    assert auth.authenticate(db, "Ms Lee", "brand new password", params=FAST) == teacher
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, "Ms Lee", PASSWORD)
