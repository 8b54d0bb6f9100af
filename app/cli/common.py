"""Plumbing shared by the `tutorloop` subcommand modules (app/cli_*.py): exit codes, messages on
stderr, the two command wrappers that turn errors into one clear line and an exit status, Ctrl+C
handling, and a teacher's sign-in for teacher actions.

Kept free of Qt and torch: every subcommand imports it, and `tutorloop review …` must start fast.
"""
from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from learner.errors import LearnerError, PreparationCancelled
from storage import Database, DatabaseLockedError, PermissionDenied, StorageError, auth, users
from storage.paths import resolve_data_dir

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3           # a teacher's sign-in failed or the role does not allow the action
EXIT_BUSY = 75            # EX_TEMPFAIL: the database (or the round lock) is busy; try again later
EXIT_INTERRUPTED = 130    # the shell convention for "ended by Ctrl+C"

# `tutorloop --help` shows this; README and docs/architecture.md list the same codes.
EXIT_CODES_HELP = """exit status:
  0    done
  1    an error, said in one line: a damaged, unreadable or read-only database, a data folder that
       cannot be used (e.g. it is a file), a refused action, a failed round
  2    the command line asks for something that cannot be done as given
  3    a teacher's sign-in failed, or the role does not allow the action
  75   the database is busy: another process has held its write lock for longer than 5 s (or
       another adaptation round is running); try again later
  130  cancelled (Ctrl+C)"""

PASSWORD_ENV = "TUTORLOOP_PASSWORD"


class UsageError(Exception):
    """The command line asks for something that cannot be done as given (exit status 2)."""


def say(text: str) -> None:
    """A message for the person at the terminal: stderr, so stdout stays the command's result."""
    print(text, file=sys.stderr, flush=True)


# -- command wrappers --------------------------------------------------------------------------

def run_command(action: Callable[[Database, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """For commands that work on the database: opens it for `action`, and turns refusals into one
    'tutorloop: …' line and an exit status (usage 2, sign-in/permission 3, a busy database 75, other
    storage errors 1)."""
    def run(args: argparse.Namespace) -> int:
        try:
            with Database(resolve_data_dir(args.data_dir).db_path) as db:
                return action(db, args)
        except (UsageError, StorageError) as exc:   # a refusal, not a bug: its own one line
            return refused(exc)
        except KeyboardInterrupt:
            say("\ntutorloop: cancelled; nothing was changed.")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # `tutorloop review list | head`: the reader left early. Not an error; keep Python
            # from complaining again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    return run


def run_guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """For commands that run the model: errors become one clear line on stderr and a non-zero exit,
    never a traceback; unexpected ones also leave the traceback in <data>/logs/cli.log for a bug report."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except PreparationCancelled as exc:
            say(str(exc))
            return EXIT_INTERRUPTED
        except (UsageError, StorageError) as exc:   # a refusal, not a bug: its own one line
            return refused(exc)
        except KeyboardInterrupt:
            say("\nInterrupted.")
            return EXIT_INTERRUPTED
        except LearnerError as exc:
            say(f"error: {exc}")
            return EXIT_ERROR
        except ValueError as exc:
            say(f"error: {exc}")
            return EXIT_USAGE
        except Exception as exc:  # last resort: the user gets a message, the log gets the details
            log = _log_traceback(args)
            say(f"error: {type(exc).__name__}: {exc}" + (f" (details in {log})" if log else ""))
            return EXIT_ERROR
    return run


def refused(exc: UsageError | StorageError) -> int:
    """Say a refusal in one 'tutorloop: …' line; its exit status: usage 2, sign-in or permission 3,
    a busy database 75, other storage errors 1."""
    say(f"tutorloop: {exc}")
    return EXIT_USAGE if isinstance(exc, UsageError) else storage_exit_code(exc)


def storage_exit_code(exc: StorageError) -> int:
    """The exit status for a storage refusal: 3 for a permission, 75 for a busy database, else 1."""
    if isinstance(exc, PermissionDenied):
        return EXIT_DENIED
    if isinstance(exc, DatabaseLockedError):
        return EXIT_BUSY
    return EXIT_ERROR


def _log_traceback(args: argparse.Namespace) -> str | None:
    try:
        logs = resolve_data_dir(getattr(args, "data_dir", None)).ensure().logs_dir
        path = logs / "cli.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(traceback.format_exc() + "\n")
        return str(path)
    except (OSError, StorageError):
        return None


@contextmanager
def ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """The first Ctrl+C sets `event` (stop/cancel at the next safe point); the second quits."""
    def handler(signum: int, frame: FrameType | None) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        say("\nStopping… (press Ctrl+C again to quit at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- teacher sign-in ---------------------------------------------------------------------------

def read_password(prompt: str, env: str | tuple[str, ...]) -> str:
    """The first of the environment variables `env` that is set, else a prompt on the terminal."""
    for name in (env,) if isinstance(env, str) else env:
        if value := os.environ.get(name):
            return value
    if not sys.stdin.isatty():
        names = " or ".join(f"${n}" for n in ((env,) if isinstance(env, str) else env))
        raise UsageError(f"no password: set {names}, or run this in a terminal to be asked.")
    return getpass.getpass(prompt)


def teacher_options() -> argparse.ArgumentParser:
    """The `--teacher NAME` option of every teacher-only command, as a parent parser (`sign_in_teacher`
    reads it)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--teacher", metavar="NAME",
                         help="the teacher acting (optional when there is only one); the password comes "
                              f"from ${PASSWORD_ENV} or a prompt")
    return options


def sign_in_teacher(db: Database, args: argparse.Namespace) -> users.User:
    """The teacher named by --teacher (or the only teacher), authenticated with the password from
    $TUTORLOOP_PASSWORD or a prompt. Storage re-checks the role in every teacher action."""
    name = args.teacher
    if not name:
        teachers = users.list_users(db, role="teacher")
        if not teachers:
            raise UsageError("there is no teacher yet. Create one first: tutorloop teacher add NAME")
        if len(teachers) > 1:
            raise UsageError("say which teacher you are with --teacher NAME.")
        name = teachers[0].name
    password = read_password(f"Password for {name}: ", PASSWORD_ENV)
    return auth.authenticate(db, name, password)
