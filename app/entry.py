"""`tutorloop`: with a subcommand, the CLI (app.cli); with none, the window (app.ui)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from app.cli.main import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # Imported here, not above: Qt takes seconds to load and a subcommand never needs it.
        from app.ui.app import run_gui

        return run_gui(data_dir=args.data_dir)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
