"""Sign-in as documented: reserve-then-check, delays after three wrong passwords, per source and per
account, unknown names indistinguishable, rehash on sign-in, and no write to the main database."""
from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest

from storage import Database, PermissionDenied, ValidationError, auth, review, users
from storage.throttle import throttle_path
from tests.support.classroom import FAST, PASSWORD, TEACHER_NAME, Classroom
from tests.support.clock import ManualClock

STUDENT_SOURCE = auth.signin_source(7)        # the window with Ana's profile open
TEACHER_SOURCE = auth.signin_source()         # the command line


@pytest.fixture
def derives(monkeypatch: pytest.MonkeyPatch) -> list[auth.ScryptParams]:
    """Every scrypt run, by its parameters."""
    runs: list[auth.ScryptParams] = []
    real = auth._derive

    def counting(password: str, salt: bytes, params: auth.ScryptParams) -> bytes:
        runs.append(params)
        return real(password, salt, params)

    monkeypatch.setattr(auth, "_derive", counting)
    return runs


def test_delays_start_after_three_wrong_passwords(db: Database, teacher: users.User) -> None:
    clock = ManualClock()
    for _ in range(3):
        with pytest.raises(auth.InvalidCredentials):
            auth.authenticate(db, TEACHER_NAME, "wrong password", clock=clock)
    with pytest.raises(auth.LoginThrottled) as fourth:
        auth.authenticate(db, TEACHER_NAME, "wrong password", clock=clock)
    assert fourth.value.retry_after_s == 2
    with pytest.raises(auth.LoginThrottled):       # during the delay not even the right one is checked
        auth.authenticate(db, TEACHER_NAME, PASSWORD, clock=clock, params=FAST)
    clock.advance(2)
    assert auth.authenticate(db, TEACHER_NAME, PASSWORD, clock=clock, params=FAST).id == teacher.id


def test_attempts_sent_at_once_are_counted_before_any_password_is_checked(
        data_dir, teacher: users.User, derives: list) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt() -> None:
        with Database(data_dir.db_path, migrate=False) as own:
            barrier.wait()
            try:
                auth.authenticate(own, TEACHER_NAME, "wrong password", params=FAST)
            except auth.LoginThrottled:
                outcomes.append("throttled")
            except auth.InvalidCredentials:
                outcomes.append("wrong")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 8
    # Three free checks, the fourth checked and setting the first delay; the other four never ran scrypt.
    assert len(derives) == auth.FREE_ATTEMPTS + 1
    assert outcomes.count("wrong") == 3 and outcomes.count("throttled") == 5


def test_an_unknown_name_costs_one_scrypt_run_like_a_known_one(db: Database, teacher: users.User,
                                                               derives: list) -> None:
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, "Nobody At All", "some password", params=FAST)    # the very first one
    unknown = list(derives)
    derives.clear()
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, TEACHER_NAME, "some password", params=FAST)
    assert unknown == derives == [FAST]
    derives.clear()
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(db, "Nobody At All", "some password")
    assert derives == [auth.DEFAULT_PARAMS]          # the dummy uses today's parameters, built for free


def test_unknown_names_are_throttled_like_known_ones(db: Database, teacher: users.User) -> None:
    clock = ManualClock()
    for name in ("Nobody", TEACHER_NAME):
        for _ in range(3):
            with pytest.raises(auth.InvalidCredentials):
                auth.authenticate(db, name, "wrong password", clock=clock, params=FAST)
        with pytest.raises(auth.LoginThrottled, match=f"for {name}: try again in 2 seconds"):
            auth.authenticate(db, name, "wrong password", clock=clock, params=FAST)


def test_a_student_cannot_keep_a_teacher_locked_out(db: Database, teacher: users.User) -> None:
    clock = ManualClock()
    # One wrong guess whenever the delay allows, for hours: the student's own source waits 15 minutes.
    for _ in range(40):
        try:
            auth.authenticate(db, TEACHER_NAME, "guess guess", clock=clock, source=STUDENT_SOURCE, params=FAST)
        except auth.LoginThrottled as throttled:
            clock.advance(throttled.retry_after_s)
        except auth.InvalidCredentials:
            pass
    with pytest.raises(auth.LoginThrottled) as student:
        auth.authenticate(db, TEACHER_NAME, "guess guess", clock=clock, source=STUDENT_SOURCE, params=FAST)
    assert student.value.retry_after_s > auth.ACCOUNT_MAX_DELAY_S
    # The teacher, from another source, waits at most the account's minute.
    try:
        signed_in = auth.authenticate(db, TEACHER_NAME, PASSWORD, clock=clock, source=TEACHER_SOURCE, params=FAST)
    except auth.LoginThrottled as throttled:
        assert throttled.retry_after_s <= auth.ACCOUNT_MAX_DELAY_S
        clock.advance(throttled.retry_after_s)
        signed_in = auth.authenticate(db, TEACHER_NAME, PASSWORD, clock=clock, source=TEACHER_SOURCE, params=FAST)
    assert signed_in.id == teacher.id
    with pytest.raises(auth.LoginThrottled):      # the student's source is still waiting
        auth.authenticate(db, TEACHER_NAME, PASSWORD, clock=clock, source=STUDENT_SOURCE, params=FAST)


def test_a_hash_with_other_parameters_is_replaced_at_sign_in(db: Database, teacher: users.User) -> None:
    stronger = auth.ScryptParams(n=2**9, r=8, p=1)
    assert auth.authenticate(db, TEACHER_NAME, PASSWORD, params=stronger).id == teacher.id
    stored = db.query("SELECT password_hash FROM users WHERE id = ?", (teacher.id,))[0]["password_hash"]
    assert stored.startswith("scrypt$n=512,") and not auth.needs_rehash(stored, stronger)
    assert auth.authenticate(db, TEACHER_NAME, PASSWORD, params=stronger).id == teacher.id


def test_signing_in_and_listing_the_queue_work_while_another_process_writes(
        data_dir, classroom: Classroom, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.db.BUSY_TIMEOUT_S", 0.3)
    writer = sqlite3.connect(data_dir.db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")                 # a long import holds the write lock
    writer.execute("INSERT INTO settings (key, value) VALUES ('busy', '1')")
    try:
        with Database(data_dir.db_path) as reader:
            teacher = auth.authenticate(reader, TEACHER_NAME, PASSWORD, params=FAST)
            items = review.list_queue(reader, teacher)
        assert [i.key for i in items] == [f"m{r.id}" for r in classroom.replies]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert throttle_path(data_dir.db_path).is_file()


def test_a_sign_in_ends_when_the_profile_changes_or_after_the_idle_time(db: Database, teacher: users.User) -> None:
    clock = ManualClock()
    ana = users.create_user(db, "Ana")
    signed = auth.TeacherSignIn.start(db, teacher, profile_id=ana.id, now=clock())
    assert signed.idle_limit == timedelta(minutes=15)
    clock.advance(14 * 60)
    assert signed.ended(profile_id=ana.id, now=clock()) is None
    signed = signed.touched(clock())                      # the teacher did something
    clock.advance(14 * 60)
    assert signed.ended(profile_id=ana.id, now=clock()) is None
    assert "profile changed" in signed.ended(profile_id=None, now=clock())
    clock.advance(60)
    assert "after 15 minutes" in signed.ended(profile_id=ana.id, now=clock())
    auth.set_idle_sign_out_minutes(db, teacher, 5)
    assert auth.TeacherSignIn.start(db, teacher, profile_id=None).idle_limit == timedelta(minutes=5)
    with pytest.raises(PermissionDenied):
        auth.set_idle_sign_out_minutes(db, ana, 60)
    with pytest.raises(ValidationError):
        auth.set_idle_sign_out_minutes(db, teacher, 0)
