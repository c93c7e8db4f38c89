"""The ``bulk`` command line: a thin shell over the library.

Each sub-command lives in its own module under ``bulk/cli/`` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a coroutine function
``handler(args) -> int``. ``main`` parses argv, runs the handler with one ``asyncio.run`` and turns
:class:`bulk.errors.BulkError` into a message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

from bulk.errors import BulkError

# Sub-command modules, in the order ``bulk --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "submit", "inventory", "catalog", "sim", "db", "worker", "run", "status", "report")

EXIT_OK = 0
EXIT_REJECTED = 1  # the run finished but some rows were rejected
EXIT_ERROR = 2  # bad input, config or an unrecoverable error
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="bulk",
        description=(
            "Push mass product changes into a Shopify shop: prices, descriptions and images through "
            "bulk operations, urgent inventory through a fast lane, all under one cost-aware scheduler. "
            "Use --shop sim:// to rehearse against the built-in simulated shop."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"bulk.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bulk`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = asyncio.run(args.handler(args))
    except BulkError as exc:
        print(f"bulk: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("bulk: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
