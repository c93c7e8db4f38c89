"""``bulk submit FILE…``: plan and apply files of product changes (several files are one run).

A thin shell over :func:`bulk.submit.root.submit_file`: parse options (flags, then ``SHOPIFY_*`` / ``BULK_*``
environment variables), show progress, print the summary, exit 1 when rows were rejected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from rich.console import Console
from rich.table import Table

from bulk.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_REJECTED
from bulk.cli._failures import check_input_file, check_reachable
from bulk.cli._logs import PROGRESS
from bulk.cli._options import add_shared
from bulk.cli._request import SubmitRequest, submit_file
from bulk.cli._submit_progress import SubmitProgress
from bulk.cli._watch import RunCancelled, unless_cancelled
from bulk.errors import ConfigError
from bulk.journal.locations import default_sqlite_path
from bulk.lanes.bulk import BulkLaneConfig
from bulk.submit.options import outputs_named
from bulk.submit.options import rehearsal_outputs as library_rehearsal_outputs

log = logging.getLogger(PROGRESS)

EPILOG = """\
examples:
  bulk submit prices.csv --shop sim://                 rehearse on the built-in simulated shop
                                                       (seeded with the file's SKUs and handles)
  bulk submit prices.csv --shop NAME.myshopify.com --dry-run
                                                       show the plan, its report and ETA, send nothing
  SHOPIFY_ACCESS_TOKENS=t1,t2,t3 bulk submit export.csv --shop NAME.myshopify.com
  bulk submit prices.csv images.jsonl descriptions.csv --shop NAME.myshopify.com
                                                       one run: planned together, images first, every
                                                       slot shared, one report (prices+images+
                                                       descriptions.report.csv beside prices.csv)

Accepted files: CSV (simple `sku,price,compare_at_price`, Shopify's product export in its legacy and
2025 dialects, Matrixify) and JSONL. Every row ends in the report as applied, unchanged or rejected
(with the reason); running the same command again resumes an interrupted run and never applies a change
twice. Exit status: 0 all rows fine, 1 some rows rejected, 2 bad input or configuration.
"""


def register(subparsers: Any) -> None:
    """Add ``bulk submit``."""
    p = subparsers.add_parser(
        "submit", help="plan and apply a file of price/description/image changes",
        description="Read a file of changes, drop no-ops, and apply the rest through parallel bulk "
                    "operations (or direct mutations when that is faster).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", type=Path, nargs="*", metavar="FILE",
                   help="CSV or JSONL file of changes; several files are one run (their rows planned "
                        "together, one report whose file column names each row's file)")
    p.add_argument("--from-sql", metavar="QUERY",
                   help="take the changes from a PostgreSQL query instead of a file (rows streamed; "
                        "columns named like the simple CSV dialect: sku, price, compare_at_price, …)")
    add_shared(p, "sql_url", "shop", "tokens")
    p.add_argument("--dialect", choices=["simple", "shopify-legacy", "shopify-2025", "matrixify"],
                   help="column dialect (detected from the header by default)")
    p.add_argument("--encoding", metavar="CODEC",
                   help="the file's text encoding, e.g. utf-8, utf-16, cp1252 (detected by default: a "
                        "byte-order mark, else UTF-8 if the whole file is valid UTF-8, else Windows-1252)")
    p.add_argument("--max-errors", type=int, default=1000, help="stop reading after this many bad rows")
    p.add_argument("--location", help="location name for quantity columns without one")
    p.add_argument("--route", choices=["auto", "bulk", "direct"], default="auto",
                   help="bulk operations, direct mutations, or whichever the ETA model says is faster")
    p.add_argument("--dry-run", action="store_true",
                   help="plan, write the report the run would write (FILE.dry-run.report.csv) and print "
                        "the ETA; send nothing")
    p.add_argument("--report", type=Path,
                   help="per-row report CSV (default: FILE.report.csv beside FILE, its undo file "
                        "FILE.undo.jsonl too; several files: named after them all, e.g. "
                        "prices+images.report.csv beside the first; for sim:// both go to a temporary "
                        "folder, printed)")
    add_shared(p, "journal", "state_dir")
    p.add_argument("--sync-catalog", choices=["auto", "always", "never"], default="auto",
                   help="bring the local catalog cache up to date first (auto: what changed since the last "
                        "sync, in full when empty or a week old; always: in full; never: use it as it is)")
    p.add_argument("--again", action="store_true",
                   help="this input's run finished already: compare with the shop anew and send what differs")
    p.add_argument("--lease-s", type=float, default=60.0,
                   help="how long a shard stays claimed without renewal: after a crash (kill -9), the same "
                        "command run again adopts the running bulk operations after this long (default 60)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_shared(p, "database_url", "redis_url", "max_in_flight")  # a database: enqueue for the fleet
    p.set_defaults(handler=handle)


def matching_sim_url(shop: str | None, files: Sequence[Path]) -> str | None:
    """``sim://…`` embedded in this process, plus ``match=`` every file unless the URL already says
    ``match=``: a rehearsal finds the files' own SKUs and handles (see docs/simulator.md)."""
    if not shop or not files or not all(file.is_file() for file in files):
        return shop
    parts = urlsplit(shop)
    if parts.scheme != "sim" or parts.netloc or "match" in parse_qs(parts.query, keep_blank_values=True):
        return shop
    matched = "match=" + ",".join(quote(str(file.resolve())) for file in files)
    query = "&".join(q for q in (parts.query, matched) if q)
    return f"sim://{parts.path}?{query}"  # urlunsplit would drop the empty authority's "//"


def run_name(files: Sequence[Path]) -> Path:
    """What a run's report and undo file are named after: its one file, or for several files every
    stem joined with ``+`` in the first file's folder (``prices.csv images.jsonl`` →
    ``prices+images.jsonl``), so a run of several files never takes one file's report name."""
    if len(files) == 1:
        return files[0]
    return files[0].with_name("+".join(file.stem for file in files) + files[0].suffix)


def several_files_outputs(files: Sequence[Path], *, dry_run: bool) -> tuple[Path | None, Path | None]:
    """The report and undo file of a run of several files on a real (or served) shop: beside the first
    file, named after them all (one file: None, None — the library's rule, beside it)."""
    if len(files) < 2:
        return None, None
    return outputs_named(files[0].parent, run_name(files).stem, dry_run=dry_run)


def watched_journal(request: SubmitRequest) -> str | None:
    """The journal this process's run is recorded in, where `bulk cancel` would mark it (None when
    nobody else can: a dry run, a throwaway rehearsal, or enqueued work this process does not run)."""
    if request.dry_run or request.enqueue or request.from_sql is not None:
        return None
    if request.journal_location:
        return request.journal_location
    if request.shop and urlsplit(request.shop).scheme == "sim":
        return None  # a throwaway journal nobody else knows
    return str(default_sqlite_path())  # where run_submission opens it (bulk.journal.locations)


def rehearsal_outputs(shop: str | None, files: Sequence[Path], state_dir: Path | None, *,
                      dry_run: bool = False) -> tuple[Path, Path | None] | None:
    """Where a ``sim://`` rehearsal's report and undo file go: never beside the input, but in
    ``STATE_DIR/reports/`` or a new temporary folder, which the summary names (the library's rule:
    :func:`bulk.submit.options.rehearsal_outputs`). None for a real (or served) shop: its files stay
    beside the input, as documented."""
    if not shop or urlsplit(shop).scheme != "sim":
        return None
    return library_rehearsal_outputs(str(run_name(files)), state_dir, dry_run=dry_run)


def _prepared_files(files: Sequence[Path], args: argparse.Namespace) -> tuple[str | None, Path | None,
                                                                             Path | None]:
    """Check every input file; the shop (``sim://`` seeded from them), the report and the undo file."""
    seen: set[Path] = set()
    for file in files:
        check_input_file(file)  # before the simulator is seeded from it
        if (resolved := file.resolve()) in seen:  # its rows would be read twice, each line two outcomes
            raise ConfigError(f"{file}: given twice: name each file once")
        seen.add(resolved)
    shop = args.shop
    outputs = rehearsal_outputs(shop, files, args.state_dir, dry_run=args.dry_run) or \
        several_files_outputs(files, dry_run=args.dry_run)
    if (matched := matching_sim_url(shop, files)) != shop:
        log.info("simulated shop: seeded with the SKUs and handles of %s", ", ".join(map(str, files)),
                 extra={"action": "sim_seeded"})
        shop = matched
    return shop, args.report or outputs[0], outputs[1]


async def handle(args: argparse.Namespace) -> int:
    """Run the submission and print what happened."""
    console = Console(stderr=True)
    files: list[Path] = args.files
    if bool(files) == (args.from_sql is not None):
        raise ConfigError("give a FILE (or several), or --from-sql QUERY (not both)")
    shop, report, undo = args.shop, args.report, None
    if files:
        shop, report, undo = _prepared_files(files, args)
    await check_reachable(shop)  # a wrong name fails now, not after the transport's retries
    request = SubmitRequest(
        file=files[0] if files else Path("sql"), more_files=tuple(files[1:]),
        from_sql=args.from_sql, sql_url=args.sql_url,
        shop=shop, tokens=args.tokens, dialect=args.dialect, encoding=args.encoding,
        max_errors=args.max_errors, location=args.location, route=args.route, dry_run=args.dry_run,
        report=report, undo=undo, journal=args.journal, state_dir=args.state_dir,
        sync_catalog=args.sync_catalog, again=args.again,
        database_url=args.database_url, redis_url=args.redis_url, max_in_flight=args.max_in_flight,
        lane=BulkLaneConfig(lease_s=args.lease_s),
    )
    try:
        with SubmitProgress(console) as progress:
            result = await unless_cancelled(submit_file(request, on_event=progress.event),
                                            journal=watched_journal(request), input_name=request.input_name)
    except RunCancelled as cancelled:
        print(f"bulk: {cancelled}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if request.enqueue and not args.dry_run:
        print(json.dumps(result.to_json(), indent=2) if args.json else
              f"enqueued run {result.run_key}: `bulk worker` processes apply it; "
              "`bulk status` shows progress")
        return EXIT_OK
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:  # off a terminal, no width: a long report path must not be wrapped or cut
        out = Console()
        _print_summary(out if out.is_terminal else Console(width=10_000), result.to_json())
    return EXIT_REJECTED if result.rejected else EXIT_OK


def _print_summary(console: Console, result: dict[str, Any]) -> None:
    table = Table(title="bulk submit", show_header=False)
    if result.get("simulated"):
        table.add_row("shop", f"[yellow]SIMULATED[/] ({result.get('simulated_at') or 'sim://'})")
    table.add_row("run", result["run_key"])
    table.add_row("route", result["route"])
    keys = ("rows", "planned", "unchanged", "rejected") if result.get("dry_run") else \
        ("rows", "applied", "unchanged", "rejected")
    for key in keys:
        table.add_row(key, str(result["summary"].get(key, 0)))
    if result.get("dry_run"):  # nothing was sent: what the run would take instead of what it took
        table.add_row("ETA", f"{_duration(float(result['eta_s']))} (bulk {_duration(result['eta_bulk_s'])}, "
                             f"direct {_duration(result['eta_direct_s'])}); nothing was sent")
    else:
        table.add_row("bulk operations", str(len(result["operations"])))
        if result.get("refused_tokens"):
            which = ", ".join(f"#{i}" for i in result["refused_tokens"])
            table.add_row("tokens refused", f"{which} (401/403: out for the run; it finished on the others)")
        if media := result.get("media"):  # products whose new images were followed up
            table.add_row("new images", f"{media['ready']} ready, {media['failed']} failed (rows rejected), "
                                        f"{media['processing'] + media['unread']} not verified")
        table.add_row("took", _took(result))
    if result.get("report"):
        table.add_row("report", result["report"])
    if result.get("undo"):
        table.add_row("undo file", result["undo"])
    if result.get("picture"):
        table.add_row("picture", result["picture"])
    console.print(table)


def _took(result: dict[str, Any]) -> str:
    """Real time; for a sped-up simulated shop also its own clock: what a rehearsal predicts."""
    took = _duration(float(result.get("elapsed_s") or 0.0))
    shop_s, real_s = result.get("shop_elapsed_s"), float(result.get("elapsed_s") or 0.0)
    if shop_s is None or real_s <= 0 or abs(shop_s / real_s - 1.0) < 0.01:
        return took
    return f"{took} ({_duration(shop_s)} on the simulated shop's clock, x{shop_s / real_s:.3g})"


def _duration(seconds: float) -> str:
    """``42.0 s``, ``12 min 5 s``, ``2 h 03 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
