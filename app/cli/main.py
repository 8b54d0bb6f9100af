"""The `tutorloop` subcommands' parser; app.entry opens the window when no subcommand is given.

Each feature registers its subcommands from its own module (see COMMAND_MODULES), so this file
stays the one place that knows the global options.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from app.cli.common import EXIT_CODES_HELP

# Modules exposing `register(subparsers) -> None`; each subparser sets `func(args) -> int`.
COMMAND_MODULES: tuple[str, ...] = (
    "app.cli.chat",
    "app.cli.review",
    "app.cli.adapt",
    "app.cli.practice",
    "app.cli.db",
    "app.cli.safeguarding",
    "app.cli.classroom",
    "app.cli.explain",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tutorloop",
        description="A local tutor that learns from what teachers approve. With no command, opens the window.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", metavar="DIR",
                        help="where the database, models and adapters live (default: $TUTORLOOP_HOME or the "
                             "platform's user data folder)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; with none, print the help (app.entry opens the window instead)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
