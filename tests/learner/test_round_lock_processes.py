"""The round lock between real processes: two racing for it, and recovery after a kill -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from storage import Database, DataDir, schedule

# A child that waits for the starting gun (a file), tries to take the lock, says what happened, and
# (if it won) holds the lock until the parent says stop (another file).
RACER = """
import os, sys, time
from datetime import timedelta
from pathlib import Path
from storage import Database
from storage.schedule import RoundLockBusy, acquire_round_lock, release_round_lock
db_path, go, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
db = Database(db_path)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
try:
    lock = acquire_round_lock(db, trigger="cli")
except RoundLockBusy as exc:
    print("busy", exc.lock.pid, flush=True)
    sys.exit(0)
print("won", os.getpid(), flush=True)
while not stop.exists():
    time.sleep(0.01)
release_round_lock(db, lock.holder)
"""

HOLDER = """
import sys, time
from storage import Database
from storage.schedule import acquire_round_lock
db = Database(sys.argv[1])
acquire_round_lock(db, trigger="schedule", lease_s=float(sys.argv[2]))
print("held", flush=True)
time.sleep(600)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])


def _expect_held(holder: subprocess.Popen[str]) -> None:
    line = holder.stdout.readline().strip()
    if line != "held":
        holder.kill()
        holder.wait()
        pytest.fail(f"the holder did not take the lock: {line!r} {holder.stderr.read()}")


@contextmanager
def _holding_the_lock(db_path: Path, lease_s: str) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds the round lock with this lease; killed and reaped however the test ends."""
    holder = _spawn(HOLDER, str(db_path), lease_s)
    try:
        _expect_held(holder)
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()
        holder.stderr.close()


@pytest.mark.parametrize("round_no", range(3))
def test_two_processes_race_and_exactly_one_wins(data_dir: DataDir, tmp_path: Path, round_no: int):
    Database(data_dir.db_path).close()  # migrate first, so the racers only race for the lock
    go, stop = tmp_path / "go", tmp_path / "stop"
    racers = [_spawn(RACER, str(data_dir.db_path), str(go), str(stop)) for _ in range(2)]
    try:
        assert [r.stdout.readline().strip() for r in racers] == ["ready", "ready"]
        go.touch()
        lines = [r.stdout.readline().split() for r in racers]
        outcomes = sorted(line[0] for line in lines if line)
        assert outcomes == ["busy", "won"], (lines, [r.stderr.read() for r in racers if r.poll() is not None])
        winner_pid = next(int(line[1]) for line in lines if line[0] == "won")
        loser_saw = next(int(line[1]) for line in lines if line[0] == "busy")
        assert loser_saw == winner_pid  # the loser was told who holds the lock
    finally:
        stop.touch()
        for r in racers:
            r.wait(timeout=30)
            r.stdout.close()
            r.stderr.close()
    assert all(r.returncode == 0 for r in racers)
    with Database(data_dir.db_path) as db:
        assert schedule.current_round_lock(db) is None


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
def test_a_lock_whose_holder_was_killed_is_recovered(data_dir: DataDir):
    # an hour's lease: only the dead pid can free it
    with Database(data_dir.db_path) as db, _holding_the_lock(data_dir.db_path, "3600") as holder:
        with pytest.raises(schedule.RoundLockBusy):
            schedule.acquire_round_lock(db, trigger="cli")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert holder.returncode == -signal.SIGKILL
        lock = schedule.acquire_round_lock(db, trigger="cli")
        assert lock.pid == os.getpid()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
def test_a_killed_holder_from_another_host_is_recovered_after_its_lease(data_dir: DataDir):
    """Seen from another machine a pid means nothing: only the lease frees the lock."""
    with Database(data_dir.db_path) as db, _holding_the_lock(data_dir.db_path, "2") as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        with db.transaction() as t:
            t.execute("UPDATE round_lock SET host = 'the-other-pc'")
        lock = schedule.current_round_lock(db)
        with pytest.raises(schedule.RoundLockBusy):
            schedule.acquire_round_lock(db, trigger="cli", now=lock.lease_until - (lock.lease_until - lock.acquired_at) / 2)
        taken = schedule.acquire_round_lock(db, trigger="cli", now=lock.lease_until)
        assert taken.host == schedule.this_host()


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="suspend via SIGSTOP is POSIX here (psutil on Windows)")
def test_a_round_left_suspended_by_a_closed_app_is_recovered_and_stopped(data_dir: DataDir, qtbot):
    with Database(data_dir.db_path) as db, _holding_the_lock(data_dir.db_path, "60") as holder:
        os.kill(holder.pid, signal.SIGSTOP)  # what the app does while a student chats; then the app died
        qtbot.waitUntil(lambda: schedule.process_suspended(holder.pid), timeout=5_000)  # signals arrive asynchronously
        lock = schedule.current_round_lock(db)
        with pytest.raises(schedule.RoundLockBusy):  # suspended, lease expired, but not for long: keep it
            schedule.acquire_round_lock(db, trigger="cli", now=lock.lease_until + timedelta(minutes=5))
        taken = schedule.acquire_round_lock(db, trigger="cli", now=lock.lease_until + schedule.ABANDONED_AFTER)
        assert taken.pid == os.getpid()
        holder.wait(timeout=30)  # woken and terminated, not left frozen for ever
        assert holder.returncode == -signal.SIGTERM
