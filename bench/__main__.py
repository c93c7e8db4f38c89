"""``python -m bench NAME [--json OUT] [module options]`` — run one benchmark module.

Why a dispatcher: every benchmark gets the same shell (argument parsing, one event loop, a JSON file
with the figures plus when/where it ran), so each ``bench/NAME.py`` only measures.
A module is any ``bench/NAME.py`` (not starting with ``_``) exposing::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    async def run(args: argparse.Namespace) -> dict[str, Any]: ...
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pkgutil
import platform
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import bench


def available() -> list[str]:
    """Names of the benchmark modules shipped in ``bench/``."""
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def _load(name: str) -> ModuleType:
    module = importlib.import_module(f"bench.{name}")
    if not hasattr(module, "add_arguments") or not hasattr(module, "run"):
        raise SystemExit(f"bench: bench/{name}.py must define add_arguments(parser) and async run(args)")
    return module


def _unwind(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``NAME``, load ``bench.NAME``, run it, print and optionally save its figures."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    top = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run one benchmark and print its figures (optionally save them as JSON).",
        add_help=False,
    )
    top.add_argument("name", nargs="?", choices=names, metavar="NAME", help=f"one of: {', '.join(names)}")
    known, rest = top.parse_known_args(argv)
    if known.name is None:
        top.print_help()
        return 0 if argv in ([], ["-h"], ["--help"]) else 2
    module = _load(known.name)
    parser = argparse.ArgumentParser(prog=f"python -m bench {known.name}", description=module.__doc__)
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures to this JSON file")
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    started = time.time()
    # a stopped benchmark (`kill`, a CI timeout) unwinds like Ctrl-C, so the `bulk sim` and worker
    # processes it started are stopped too (the default SIGTERM ends Python at once, leaving them
    # running beside every later measurement on the box)
    signal.signal(signal.SIGTERM, _unwind)
    figures: dict[str, Any] = asyncio.run(module.run(args))
    # the figures at the top level (the shapes the issues name: {"strategies": …}, {"rows": …}),
    # how the run was made under "run"
    result = {
        **figures,
        "run": {
            "bench": known.name,
            "started_at": started,
            "elapsed_s": round(time.time() - started, 3),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "argv": argv,
        },
    }
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
