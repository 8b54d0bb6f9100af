"""Running `tutorloop` as a real subprocess, and the hostile conditions the CLI must explain in one
line: a database locked by another process, a data folder it may not write (even when the tests run
as root), a damaged database file."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tutorloop(*args: str, home: Path, prefix: Sequence[str] = (), timeout: float = 120,
              **extra_env: str) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS` with TUTORLOOP_HOME=home and no password in the environment unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("TUTORLOOP_PASSWORD", "TUTORLOOP_NEW_PASSWORD")}
    env.update({"TUTORLOOP_HOME": str(home), **extra_env})
    return subprocess.run([*prefix, sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def output_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """Every non-empty line the command wrote, stdout and stderr together."""
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def unprivileged_prefix() -> list[str]:
    """A command prefix under which file permissions apply: nothing for an ordinary user; for root,
    setpriv dropping the capabilities that let root write anywhere (root's files stay readable, so
    the venv in /root still runs). Skips the test when neither is possible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: read-only folders cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@contextmanager
def read_only_tree(root: Path) -> Iterator[None]:
    """Every folder under `root` (and root) read-only, every file read-only; restored afterwards."""
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        path.chmod(0o444)
    for path in folders:
        path.chmod(0o555)
    try:
        yield
    finally:
        for path in folders:
            path.chmod(0o755)
        for path in files:
            path.chmod(0o644)


@contextmanager
def write_lock_held(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock (BEGIN IMMEDIATE) until the block ends, as a
    long import does: longer than any busy timeout of the command under test."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         f"conn = sqlite3.connect({str(db_path)!r}, isolation_level=None)\n"
         "conn.execute('BEGIN IMMEDIATE')\n"
         "print('held', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()


def damage(db_path: Path) -> None:
    """Scribble over four b-tree page headers of a database with enough rows to have them."""
    data = bytearray(db_path.read_bytes())
    page = 4096
    assert len(data) > 6 * page, "fill the database first"
    for first in range(2 * page, 6 * page, page):
        data[first:first + 12] = b"\x5a" * 12
    db_path.write_bytes(bytes(data))
    for side in ("-wal", "-shm"):
        Path(str(db_path) + side).unlink(missing_ok=True)


def is_sqlite_ok(db_path: Path) -> bool:
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
