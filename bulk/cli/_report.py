"""``bulk report RUN --html``: draw a run's picture again from its journal and its recorded events.

A run draws its picture itself (``FILE.report.html`` beside its report, when the ``[picture]`` extra
is installed); this rebuilds it later, elsewhere, or for a run that was interrupted: the operations
come from the journal, their times from ``STATE_DIR/runs/RUN/events.jsonl`` (see
:mod:`bulk.submit.timeline`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bulk.cli import EXIT_OK
from bulk.cli._options import add_shared
from bulk.errors import ConfigError
from bulk.journal import Journal, Run, open_journal
from bulk.lanes.bulk.ports import decode_remote
from bulk.submit import picture
from bulk.submit.options import default_state_dir
from bulk.submit.timeline import EVENTS_FILE


def register(subparsers: Any) -> None:
    """Add ``bulk report``."""
    p = subparsers.add_parser(
        "report", help="draw a run's picture (HTML timeline) from its journal and recorded events",
        description="Rebuild the self-contained HTML page of a run: bulk operations per token and slot, "
                    "lines applied per second, points spent per token, requests in flight, urgent latencies.")
    p.add_argument("run", metavar="RUN", help="the run key `bulk submit` printed")
    p.add_argument("--html", type=Path, nargs="?", const=Path(), required=True, metavar="PATH",
                   help="write the page here (default STATE_DIR/runs/RUN/picture.html)")
    add_shared(p, "journal", "state_dir")  # the ones the run used
    p.set_defaults(handler=handle)


async def handle(args: argparse.Namespace) -> int:
    """Find the run, draw its page, say where it is."""
    if not picture.available():
        raise ConfigError("drawing needs matplotlib: pip install 'shopify-bulk[picture]'")
    state_dir = args.state_dir or default_state_dir()
    run_dir = state_dir / "runs" / args.run
    events = run_dir / EVENTS_FILE
    async with open_journal(args.journal or str(state_dir / "journal.sqlite3")) as journal:
        run = await _find_run(journal, args.run)
        if run is None and not events.is_file():
            raise ConfigError(f"no run {args.run!r} in the journal and no {events}: give the --journal and "
                              "--state-dir the run used")
        ops: list[tuple[int, str, int, str]] = []
        facts: dict[str, Any] = {"run": args.run}
        if run is not None:
            for unit in await journal.list_units(run.run_id):
                if unit.remote_id:
                    token, op = decode_remote(unit.remote_id)
                    ops.append((token, op, unit.line_count, unit.state.value))
            facts |= {"input": run.input_name, "status": run.status.value, "applied": run.counters.applied,
                      "unchanged": run.counters.unchanged, "rejected": run.counters.rejected}
    out = args.html if args.html != Path() else run_dir / "picture.html"
    path = picture.write_picture(out, events, title=f"bulk run {args.run}", facts=facts, journal_ops=ops)
    print(f"picture of run {args.run}: {path}")
    return EXIT_OK


async def _find_run(journal: Journal, key: str) -> Run | None:
    for run in await journal.list_runs(limit=10_000):
        if run.run_key == key:
            return run
    return None
