"""The ``bulk`` command line: a thin shell over the library.

Each sub-command lives in its own module under ``bulk/cli/`` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a coroutine function
``handler(args) -> int``. ``main`` parses argv (:class:`bulk.cli._options.BulkParser`: no prefix
abbreviations), fills the shared options from the one configuration (:mod:`bulk.cli._config`: the
environment and ``.env``, read only after ``--help`` was handled), sets up logging
(:mod:`bulk.cli._logs`), runs the handler with one ``asyncio.run`` and turns every failure into one
``bulk: error:`` line in the user's words (:mod:`bulk.cli._failures`) and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import platform
import sys
from collections.abc import Sequence

# Sub-command modules, in the order ``bulk --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "submit", "inventory", "catalog", "sim", "db", "worker", "run", "status", "cancel", "report")

EXIT_OK = 0
EXIT_REJECTED = 1  # the run finished but some rows were rejected
EXIT_ERROR = 2  # bad input, config or an unrecoverable error
EXIT_INTERRUPTED = 130


def version() -> str:
    """``bulk 0.1.0 (Admin API 2026-04, Python 3.11.9)``."""
    from bulk.shopify.transport import API_VERSION

    try:
        number = importlib.metadata.version("shopify-bulk")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        number = "unknown"
    return f"bulk {number} (Admin API {API_VERSION}, Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command registered."""
    from bulk.cli._options import BulkParser

    parser = BulkParser(
        prog="bulk",
        description=(
            "Push mass product changes into a Shopify shop: prices, descriptions and images through "
            "bulk operations, urgent inventory through a fast lane, all under one cost-aware scheduler. "
            "Use --shop sim:// to rehearse against the built-in simulated shop."
        ),
    )
    parser.add_argument("--version", action="version", version=version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"bulk.cli._{name}").register(subparsers)
    return parser


INTERRUPTED = ("bulk: interrupted; run the same command again to resume (bulk operations already "
               "started keep running on the shop: `bulk cancel RUN` stops them)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bulk`` console script; returns the process exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the command ran, while its modules were imported
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    from bulk.cli._failures import explain
    from bulk.cli._logs import configure_logging
    from bulk.cli._options import resolve

    parser = build_parser()
    args = parser.parse_args(argv)  # --help and --version exit here, before any setting is read
    configure_logging(getattr(args, "verbose", 0), getattr(args, "log_format", "plain"),
                      daemon=getattr(args, "daemon", False))
    try:
        resolve(args)
        code: int = asyncio.run(args.handler(args))
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        print(f"bulk: error: {explain(exc, shop=getattr(args, 'shop', None))}", file=sys.stderr)
        return EXIT_ERROR
    return code
