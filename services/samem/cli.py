"""The ``samem`` command: parse, call, report.

Each subpackage that offers a command has a ``cli`` module with ``register(subparsers)``; this module only wires
them together and turns :class:`~samem.errors.SamemError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from samem import __version__
from samem.errors import SamemError

COMMAND_MODULES = (
    "samem.sim.cli",
    "samem.tracking.cli",
    "samem.analysis.cli",
    "samem.train.cli",
    "samem.baselines.cli",
    "samem.evaluate.cli",
    "samem.serving.cli",
    "samem.service.cli",
)

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="samem", description="Segment and track nanoparticles in liquid-phase TEM videos."
    )
    parser.add_argument("--version", action="version", version=f"samem {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``samem``; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.handler(args) or 0)
    except SamemError as e:
        print(f"samem {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"samem {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
