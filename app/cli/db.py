"""`tutorloop db check|restore|backups`: look after the database file itself.

`check` reads the database read-only (SQLite's full integrity check, the foreign keys, tutorloop's
mark and schema version) and works on a file that opening refuses, so it never opens a `Database`.
`restore` puts a daily backup back (the newest, a day `YYYY-MM-DD` or a backup file): the backup is
checked first and the current file is moved aside, never deleted. `backups` (or `restore --list`)
lists the backups, newest first. None of them needs a teacher's password: whoever can run them can
already copy or replace the file (see the threat model in docs/architecture.md).
"""
from __future__ import annotations

import argparse
import sqlite3

from app.cli.common import EXIT_ERROR, say
from storage import StorageError, resolve_data_dir
from storage.backup import check_database, list_backups, restore_backup


def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser(
        "db", help="check the database file, list its daily backups, restore one",
        description="Check the database (read-only), list the daily backups, or put one back. Close the "
                    "window and other tutorloop commands before restoring.")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    check = sub.add_parser("check", help="SQLite's full integrity check and tutorloop's own; exit 1 if damaged")
    check.set_defaults(func=_check)

    backups = sub.add_parser("backups", help="the daily backups, newest first")
    backups.set_defaults(func=_backups)

    restore = sub.add_parser("restore", help="put a backup back (default: the newest); the current file is kept")
    restore.add_argument("backup", nargs="?", metavar="BACKUP|YYYY-MM-DD",
                         help="a backup file or the day it was made (default: the newest backup)")
    restore.add_argument("--list", action="store_true", help="list the backups instead of restoring")
    restore.set_defaults(func=_restore)


def _check(args: argparse.Namespace) -> int:
    data_dir = resolve_data_dir(args.data_dir)
    if data_dir.root.exists() and not data_dir.root.is_dir():
        say(f"tutorloop: {data_dir.root} is a file, not a data folder: there is no database to check there.")
        return EXIT_ERROR
    verdict = check_database(data_dir.db_path)
    print(verdict.describe())
    return 0 if verdict.ok else EXIT_ERROR


def _backups(args: argparse.Namespace) -> int:
    db_path = resolve_data_dir(args.data_dir).db_path
    found = list_backups(db_path)
    if not found:
        say(f"No backups of {db_path} yet (one is made on the first start of each day).")
        return 0
    for backup in found:
        print(f"{backup.day}  {backup.size / 1e6:8.1f} MB  {backup.path}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    if args.list:
        return _backups(args)
    db_path = resolve_data_dir(args.data_dir).db_path
    try:
        result = restore_backup(db_path, args.backup)
    except StorageError as exc:     # ValidationError (no such backup), DatabaseDamaged (the backup too)
        say(f"tutorloop: {exc}")
        return EXIT_ERROR
    except (OSError, sqlite3.Error) as exc:     # e.g. a folder that cannot be written
        say(f"tutorloop: the backup could not be restored into {db_path.parent} "
            f"({getattr(exc, 'strerror', None) or exc}).")
        return EXIT_ERROR
    print(f"restored_from: {result.restored_from}")
    print(f"moved_aside: {result.moved_aside if result.moved_aside else '(there was no database file)'}")
    say(f"{db_path} is now the backup from {result.restored_from.name}; the file it replaced is kept.")
    return 0
