"""``bulk status``: runs and their progress, workers seen recently, bulk operations running, and (with
``--redis-url``) each token's bucket level and the permits in flight. A run ``bulk cancel`` stopped
shows as ``cancelled``, a failed one with its error (tokens never printed), one whose process is still
exporting the shop's catalog before planning as ``syncing catalog`` (with how far the export got); a
run a live ``bulk submit`` of this state directory works names it (``held by``: pid, host, since
when). A thin shell over
:func:`bulk.fleet.status.collect_status`; ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from bulk.cli import EXIT_OK
from bulk.cli._options import add_shared
from bulk.errors import ConfigError
from bulk.fleet.status import SYNCING, FleetStatus, collect_status
from bulk.journal import open_journal
from bulk.scheduler import Scheduler, SchedulerStatistics
from bulk.shopify.endpoint import parse_tokens
from bulk.submit.options import default_state_dir, shop_id


def register(subparsers: Any) -> None:
    """Add ``bulk status``."""
    p = subparsers.add_parser(
        "status", help="show runs, workers, running bulk operations and buckets",
        description="A snapshot of the runs in the journal — the embedded one in the state directory by "
                    "default, the fleet's with --database-url — and, with --redis-url and --shop, of the "
                    "shared scheduler's buckets and permits.")
    add_shared(p, "database_url", "journal", "state_dir", "redis_url", "max_in_flight", "shop", "tokens")
    p.add_argument("--runs", type=int, default=20, help="how many recent runs (default 20)")
    p.add_argument("--seen-within-s", type=float, default=60.0, help="workers seen this recently")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=handle)


async def handle(args: argparse.Namespace) -> int:
    """Print the snapshot."""
    sched = await scheduler_snapshot(args) if args.redis_url and args.shop else None
    async with open_journal(journal_location(args)) as journal:
        status = await collect_status(journal, sched, runs=args.runs, seen_within_s=args.seen_within_s,
                                      runs_dir=(args.state_dir or default_state_dir()) / "runs")
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        console = Console()  # off a terminal, no width: a table is never wrapped at 80 columns
        print_status(console if console.is_terminal else Console(width=10_000), status)
    return EXIT_OK


def journal_location(args: argparse.Namespace) -> str:
    """The journal to read: ``--database-url``, else ``--journal``, else the embedded one in the state
    directory (where `bulk submit` keeps it); an embedded journal that does not exist yet is refused
    rather than created empty."""
    location = args.database_url or args.journal
    if location:
        return str(location)
    path = (args.state_dir or default_state_dir()) / "journal.sqlite3"
    if not path.is_file():
        raise ConfigError(f"no journal at {path}: nothing was submitted with this state directory yet "
                          "(for a fleet give --database-url or BULK_DATABASE_URL)")
    return str(path)


async def scheduler_snapshot(args: argparse.Namespace) -> SchedulerStatistics:
    """Fresh statistics of the shop's shared scheduler, read from Redis (nothing is acquired)."""
    count = len(parse_tokens(args.tokens)) if args.tokens else 3
    scheduler = Scheduler.redis(args.redis_url, shop=shop_id(args.shop), token_count=count,
                                max_in_flight=args.max_in_flight)
    async with scheduler:
        snapshot = getattr(scheduler.backend, "snapshot", None)
        if snapshot is not None:
            fresh: SchedulerStatistics = await snapshot()
            return fresh
        return scheduler.statistics()


def print_status(console: Console, status: FleetStatus) -> None:
    """The human view."""
    runs = Table(title="runs")
    for col in ("run", "input", "status", "progress", "applied", "unchanged", "rejected", "units p/a/d/f",
                "held by", "error"):
        runs.add_column(col)
    for r in status.runs:
        # a catalog export has no unit progress yet: a "0%" would read as stuck; how far the export got
        progress = (r.phase_detail or "") if r.status == SYNCING else f"{r.progress:.0%}"
        runs.add_row(str(r.run_id), r.input_name, r.status, progress, str(r.applied),
                     str(r.unchanged), str(r.rejected),
                     f"{r.units_pending}/{r.units_active}/{r.units_done}/{r.units_failed}", r.held_by or "",
                     r.error or "")
    console.print(runs)
    workers = Table(title="workers seen recently")
    for col in ("worker", "host", "pid", "last seen"):
        workers.add_column(col)
    for w in status.workers:
        workers.add_row(w.worker_id, w.host, str(w.pid), w.last_seen_at.isoformat(timespec="seconds"))
    console.print(workers)
    ops = Table(title="bulk operations running")
    for col in ("run", "unit", "token", "operation", "held by"):
        ops.add_column(col)
    for o in status.operations:
        holder = o.holder or "(adoptable)"
        ops.add_row(str(o.run_id), str(o.unit_id), f"#{o.token_index}", o.operation, holder)
    console.print(ops)
    if status.scheduler is not None:
        s = status.scheduler
        buckets = Table(title=f"scheduler: {s.in_flight}/{s.max_in_flight} permits in flight, "
                              f"{s.clients} clients, {s.throttled} throttled")
        for col in ("token", "level", "capacity", "restore/s"):
            buckets.add_column(col)
        for t in s.tokens:
            buckets.add_row(f"#{t.index}", f"{t.level:.0f}", f"{t.capacity:.0f}", f"{t.restore_rate:.0f}")
        console.print(buckets)
