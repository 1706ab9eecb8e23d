"""The `samem` subcommand of this subpackage (placeholder; being written)."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this subpackage's subcommands."""
