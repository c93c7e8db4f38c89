"""``bulk run --inbox DIR``: the command for cron.

A thin shell over :mod:`bulk.fleet.inbox` and :func:`bulk.submit.root.submit_file`: take the inbox lock (an
overlapping start prints who holds it and exits at once with status 75), then for every file without
an up-to-date report: submit it (the same file again resumes its unfinished run), and write
``NAME.report.csv`` next to it. Without ``--database-url`` the work is done here; with it, the files
are enqueued for the fleet's ``bulk worker`` processes and this command waits for their runs to finish
before writing the reports. A file whose run another ``bulk submit`` is applying right now (a
merchant ran it by hand) is skipped with a line saying so, and taken up by the next tick. Exit
status: 0 all rows fine, 1 some rows rejected, 2 bad input or configuration, 75 another run holds
the inbox, or a file was skipped for that reason (and no row was rejected).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulk.cli import EXIT_OK, EXIT_REJECTED
from bulk.cli._failures import check_reachable
from bulk.cli._options import add_shared
from bulk.cli._request import SubmitRequest, submit_file
from bulk.clock import MonotonicClock
from bulk.errors import ConfigError, RunHeldError
from bulk.fleet.inbox import InboxFile, inbox_lock, pending_files
from bulk.journal import Journal, OutcomeStatus, Run, RunStatus, open_journal
from bulk.submit.report import write_report_csv

EXIT_LOCKED = 75  # EX_TEMPFAIL: try again at the next cron tick

EPILOG = """\
crontab line (every 10 minutes; an overlapping start exits at once with status 75, and so does a
run that skipped a file another bulk process was applying):
  */10 * * * * cd /srv/prices && bulk run --inbox /srv/prices/inbox >> /var/log/bulk-run.log 2>&1
environment: SHOPIFY_SHOP, SHOPIFY_ACCESS_TOKENS, and for a fleet BULK_DATABASE_URL, BULK_REDIS_URL.
"""


def register(subparsers: Any) -> None:
    """Add ``bulk run``."""
    p = subparsers.add_parser("run", help="cron: apply every new file of an inbox directory, once",
                              description="Apply every file of --inbox that has no up-to-date report yet.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inbox", type=Path, required=True, help="directory where input files land")
    add_shared(p, "shop", "tokens", "state_dir")
    p.add_argument("--poll-s", type=float, default=5.0, help="fleet mode: how often to look at the runs")
    add_shared(p, "database_url", "redis_url", "max_in_flight")
    p.set_defaults(handler=handle)


async def handle(args: argparse.Namespace) -> int:
    """Process the inbox under its lock."""
    inbox: Path = args.inbox
    if not await asyncio.to_thread(inbox.is_dir):
        raise ConfigError(f"--inbox {inbox}: no such directory")
    with inbox_lock(inbox) as lock:
        if not lock.held:
            print(f"bulk run: another run is already working on {inbox} ({lock.holder}); exiting",
                  file=sys.stderr)
            return EXIT_LOCKED
        files = await asyncio.to_thread(pending_files, inbox)
        if not files:
            print(f"bulk run: nothing new in {inbox}")
            return EXIT_OK
        await check_reachable(args.shop)  # only when there is work: a quiet tick needs no network
        rejected = skipped = 0
        for item in files:
            try:
                rejected += await _process(args, item)
            except RunHeldError as exc:  # its report is not written: the next tick finds it pending
                skipped += 1
                print(f"bulk run: {item.path.name} skipped: {exc}; the next run takes it up", file=sys.stderr)
        if rejected:
            return EXIT_REJECTED
        return EXIT_LOCKED if skipped else EXIT_OK


async def _process(args: argparse.Namespace, item: InboxFile) -> int:
    """Submit one file (or resume its run); write its report; the number of rejected rows."""
    request = SubmitRequest(file=item.path, shop=args.shop, tokens=args.tokens, report=item.report,
                            state_dir=args.state_dir, database_url=args.database_url,
                            redis_url=args.redis_url, max_in_flight=args.max_in_flight)
    if not request.enqueue:
        result = await submit_file(request)
        print(f"{item.path.name}: {describe_summary(result.summary)} -> {item.report.name}")
        return result.rejected
    async with open_journal(args.database_url) as journal:
        run = await _latest_run(journal, str(item.path))
        if run is None or run.status is not RunStatus.DONE:
            await submit_file(request)  # new: enqueued; unfinished: resumed (same key, same run)
            print(f"{item.path.name}: enqueued for the fleet; waiting for it to finish", flush=True)
            run = await _wait_done(journal, str(item.path), args.poll_s)
        recorded = await journal.list_outcomes(run.run_id)
    outcomes = {(o.file, o.line): (o.status, o.reason or "") for o in recorded}
    await asyncio.to_thread(write_report_csv, item.report, outcomes)
    rejected = sum(1 for status, _ in outcomes.values() if status is OutcomeStatus.REJECTED)
    print(f"{item.path.name}: {len(outcomes)} rows, {rejected} rejected -> {item.report.name}")
    return rejected


def describe_summary(summary: Mapping[str, int]) -> str:
    """``2,003 rows: 1,830 applied, 170 unchanged, 3 rejected`` (words, not a Python dict)."""
    rows = summary.get("rows", sum(v for k, v in summary.items() if k != "rows"))
    parts = ", ".join(f"{summary.get(k, 0):,} {k}" for k in ("applied", "unchanged", "rejected"))
    return f"{rows:,} rows: {parts}"


async def _latest_run(journal: Journal, input_name: str) -> Run | None:
    for run in await journal.list_runs(limit=200):
        if run.input_name == input_name:
            return run
    return None


async def _wait_done(journal: Journal, input_name: str, poll_s: float) -> Run:
    clock = MonotonicClock()
    while True:
        run = await _latest_run(journal, input_name)
        if run is not None and run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED):
            return run
        await clock.sleep(poll_s)
