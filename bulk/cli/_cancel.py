"""``bulk cancel RUN``: stop a run — its bulk operations on the shop included — and say how to resume.

A thin shell over :func:`bulk.session.runs.cancel_run`: find the run in the journal (the embedded one by
default, the fleet's with ``--database-url``), mark it failed with "cancelled by the operator" (fleet
workers stop claiming its work), send ``bulkOperationCancel`` for every bulk operation it has running
(through the token that started it: give the run's ``--shop`` and ``--tokens``), and print what was
decided, what was not applied and the command that resumes it. Rows not applied keep no outcome: they
are not rejected, so the same submission run again applies them (nothing already applied is sent twice).
A ``bulk submit`` working on the run in another terminal notices within seconds and stops
(:mod:`bulk.cli._watch`); one stopped with Ctrl-C leaves its bulk operations running on the shop until
this command cancels them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

import aiohttp

from bulk.cli import EXIT_OK
from bulk.cli._failures import check_reachable
from bulk.cli._options import add_shared
from bulk.cli._status import journal_location
from bulk.errors import ConfigError
from bulk.journal import Journal, Run, UnitState, open_journal
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.connect import shop_session
from bulk.session.runs import CancelReport, cancel_run


def register(subparsers: Any) -> None:
    """Add ``bulk cancel``."""
    p = subparsers.add_parser(
        "cancel", help="stop a run and its running bulk operations; the same submission resumes it",
        description="Cancel a run: its bulk operations on the shop get bulkOperationCancel, workers stop "
                    "claiming its work, rows already decided keep their outcomes and the rest keep none "
                    "(submit the same input again to resume). RUN is the run's number or key, as "
                    "`bulk status` and `bulk submit` show them.")
    p.add_argument("run", metavar="RUN", help="the run's number or key (or a unique prefix of the key)")
    add_shared(p, "database_url", "journal", "state_dir", "shop", "tokens", "redis_url", "max_in_flight")
    p.add_argument("--json", action="store_true", help="print what was cancelled as JSON")
    p.set_defaults(handler=handle)


async def find_run(journal: Journal, wanted: str) -> Run:
    """The run numbered ``wanted``, or whose key is (or uniquely starts with) ``wanted``."""
    runs = await journal.list_runs(limit=10_000)
    if wanted.isdigit():
        by_id = [r for r in runs if r.run_id == int(wanted)]
        if by_id:
            return by_id[0]
    exact = [r for r in runs if r.run_key == wanted]
    matches = exact or [r for r in runs if r.run_key.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no run {wanted!r} in this journal: `bulk status` lists the runs it holds")
    raise ConfigError(f"{len(matches)} runs have keys starting with {wanted!r}: give more of the key")


async def handle(args: argparse.Namespace) -> int:
    """Cancel and report."""
    async with open_journal(journal_location(args)) as journal:
        run = await find_run(journal, args.run)
        units = await journal.list_units(run.run_id)
        if any(u.remote_id for u in units if u.state is UnitState.SUBMITTED) and not args.shop:
            raise ConfigError(f"run {run.run_id} has bulk operations running on the shop: give the --shop "
                              "and --tokens it was submitted with, so they can be cancelled")
        if args.shop:
            await check_reachable(args.shop)
            async with shop_session(args.shop, args.tokens, redis_url=args.redis_url,
                                    max_in_flight=args.max_in_flight) as shop, \
                    aiohttp.ClientSession() as session:
                report = await cancel_run(journal, ShopBulkOps(shop.client, session), run.run_id)
        else:
            report = await cancel_run(journal, _NoShop(), run.run_id)
    if args.json:
        print(json.dumps({**asdict(report), "resume": resume_hint(report)}, indent=2, default=str))
    else:
        print(describe(report))
    return EXIT_OK


class _NoShop:
    """The port when no shop was named: only reached with no bulk operation running (checked above)."""

    async def cancel(self, op_id: str, *, token_index: int) -> str:
        """Never called: a run with operations running needs --shop."""
        raise ConfigError("give --shop and --tokens to cancel the run's bulk operations")


def resume_hint(report: CancelReport) -> str:
    """How to pick the run up again."""
    return (f"run the same `bulk submit {report.input_name} …` command again (same file, same options): "
            "it resumes this run and applies only what was not applied")


def describe(report: CancelReport) -> str:
    """The human lines."""
    c = report.counters
    decided = f"{c.applied:,} applied, {c.unchanged:,} unchanged, {c.rejected:,} rejected"
    if report.finished_before:
        return f"run {report.run_id} ({report.input_name}) had already ended ({report.previous_status}): " \
               f"nothing to cancel; {decided}"
    lines = [f"run {report.run_id} ({report.input_name}) cancelled by the operator"]
    for op in report.operations:
        lines.append(f"  bulk operation {op.operation} on token #{op.token_index}: {op.status}")
    if not report.operations:
        lines.append("  no bulk operation was running on the shop")
    lines.append(f"  rows decided before the cancel: {decided}")
    lines.append(f"  not applied: {report.lines_not_applied:,} mutation lines in {report.units_not_done} "
                 "shard(s)/batch(es), and any rows not planned yet; they keep no outcome (lines a "
                 "cancelled operation had applied are recorded as it reports them)")
    lines.append(f"  to resume: {resume_hint(report)}")
    return "\n".join(lines)


