"""The composition root of a submission: shop, journal, catalog cache, ports — wired once, here.

``bulk submit`` and ``Shop.submit`` both end up in :func:`submit_file` / :func:`run_submission`, so the
CLI stays a thin shell and the library is the one path. For ``sim://`` shops the state (journal, catalog
cache, shards) goes to a throwaway directory unless one is given: a fresh simulated shop has nothing to
resume. Files are handed over as a :class:`~bulk.sources_files.FileInput` and opened here, after the
catalog sync: they are read in a second process that looks the catalog up (:mod:`bulk.sources_files`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import aiohttp

from bulk.catalog import CatalogStore
from bulk.catalog.sync import sync_catalog
from bulk.errors import ConfigError, InputError
from bulk.journal import open_journal
from bulk.lanes.bulk import BulkLaneConfig
from bulk.lanes.shop_port import ShopBulkOps
from bulk.lanes.urgent import InventoryStatus
from bulk.models import InventoryUpdate, OutcomeStatus
from bulk.plan import ShopProfile
from bulk.shop import Shop, ShopConfig
from bulk.sources import Source
from bulk.sources_files import FileInput, ReaderOptions
from bulk.sources_sql import sql_source
from bulk.submission import Submission, SubmissionResult, SubmitOptions, run_key_for

OnEvent = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class SubmitRequest:
    """Everything ``bulk submit`` was asked to do."""

    file: Path
    shop: str | None
    tokens: str | Sequence[str] | None = None
    dialect: str | None = None
    max_errors: int = 1000
    location: str | None = None
    route: Literal["auto", "bulk", "direct"] = "auto"
    dry_run: bool = False
    report: Path | None = None
    journal: str | None = None
    state_dir: Path | None = None
    sync_catalog: Literal["auto", "always", "never"] = "auto"
    lane: BulkLaneConfig = field(default_factory=BulkLaneConfig)
    run_key: str | None = None  # default: a hash of the input file, the shop and the options
    from_sql: str | None = None  # a query whose rows are the changes (instead of ``file``)
    sql_url: str | None = None  # the PostgreSQL database to run ``from_sql`` on
    database_url: str | None = None  # a shared journal: enqueue for `bulk worker` processes
    redis_url: str | None = None  # a shared scheduler: every process of the fleet under one cap
    max_in_flight: int = 8

    @property
    def enqueue(self) -> bool:
        """True when the work is left to a fleet of workers (a shared journal was named)."""
        return self.database_url is not None


def default_state_dir() -> Path:
    """``$XDG_DATA_HOME/bulk`` (``~/.local/share/bulk``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bulk"


def shop_id(shop: str) -> str:
    """A file-name-safe identity of a shop."""
    return hashlib.sha256(shop.encode()).hexdigest()[:12]


async def submit_file(request: SubmitRequest, *, on_event: OnEvent | None = None) -> SubmissionResult:
    """Read ``request.file`` (or run ``request.from_sql``) and apply it to ``request.shop``."""
    if not request.shop:
        raise ConfigError("no shop given: use --shop NAME.myshopify.com (or SHOPIFY_SHOP), or --shop sim://")
    emit = on_event or (lambda _name, _data: None)
    source: Source | FileInput
    if request.from_sql is not None:
        if not request.sql_url:
            raise ConfigError("--from-sql needs the database to run it on: --sql-url postgresql://… "
                              "(or BULK_SOURCE_DATABASE_URL)")
        source = sql_source(request.sql_url, request.from_sql, label="query", location=request.location)
        input_name = f"sql:{hashlib.sha256(request.from_sql.encode()).hexdigest()[:12]}"
        if request.run_key is None:  # the same query tomorrow is new data: a new run
            request = replace(request, run_key=f"sql-{uuid.uuid4().hex[:16]}")
    else:
        if not request.file.is_file():
            raise InputError("no such file", file=str(request.file), line=0)
        source = FileInput(paths=(request.file,), options=ReaderOptions(
            dialect=request.dialect, max_errors=request.max_errors, location=request.location))
        input_name = str(request.file)
    async with shop_session(request.shop or "", request.tokens, redis_url=request.redis_url,
                            max_in_flight=request.max_in_flight) as shop:
        return await run_submission(shop, request, source, input_name=input_name, on_event=emit)


@contextlib.asynccontextmanager
async def shop_session(
    shop: str, tokens: str | Sequence[str] | None, *, redis_url: str | None, max_in_flight: int = 8
) -> AsyncIterator[Shop]:
    """An open :class:`Shop`; with ``redis_url`` its scheduler is the fleet's shared one (Redis), keyed
    by the shop so every submitter and worker of that shop draws on the same buckets and cap."""
    factory = None
    if redis_url is not None:
        from bulk.scheduler import Scheduler

        def factory(token_count: int, time_scale: float) -> Scheduler:
            return Scheduler.redis(redis_url, shop=shop_id(shop), token_count=token_count,
                                   max_in_flight=max_in_flight, time_scale=time_scale)

    async with Shop.connect(shop, tokens, config=ShopConfig(max_in_flight=max_in_flight),
                            scheduler_factory=factory) as s:
        yield s


async def run_submission(
    shop: Shop,
    request: SubmitRequest,
    source: Source | FileInput,
    *,
    input_name: str,
    on_event: OnEvent,
) -> SubmissionResult:
    """Run one submission on an open shop (the library's ``shop.submit`` goes through here too).

    ``source``: updates (any iterable or async iterable, see :mod:`bulk.sources`), or files — a
    :class:`~bulk.sources_files.FileInput`, opened here once the catalog is synced and closed when the
    run ends, however it ends."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_responsive_event_loop())
        started = shop.clock.now()
        embedded = shop.sim is not None  # sim://: a throwaway state dir and journal, like the shop
        simulation = shop.simulation
        # a sped-up simulator's operations end sooner: poll and back off on its time, or a rehearsal
        # measures our poll intervals instead of the shop
        shop_clock = shop.shop_clock
        state_dir = request.state_dir
        if state_dir is None:
            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bulk-sim-"))) \
                if embedded else default_state_dir()
        profile = ShopProfile()
        if simulation is not None:
            on_event("simulated", {"products": simulation.products, "plan": simulation.plan,
                                   "speed": simulation.speed, "served_at": simulation.served_at})
        if embedded:
            cfg = shop.sim.config
            # the ETA model of a rehearsal uses the simulator's own figures
            profile = ShopProfile(bulk_lines_per_s=cfg.bulk_lines_per_s, bulk_overhead_s=2.0,
                                  tokens=len(cfg.tokens))
        key = request.shop or "sim://"
        journal_location = request.database_url or request.journal or (
            str(state_dir / "journal.sqlite3") if embedded else None)
        async with aiohttp.ClientSession() as session:
            port = ShopBulkOps(shop.client, session)
            catalog = stack.enter_context(CatalogStore(state_dir / "catalog" / f"{shop_id(key)}.sqlite3"))
            empty = catalog.statistics()["variants"] == 0
            if request.sync_catalog == "always" or (request.sync_catalog == "auto" and empty):
                lines = await sync_catalog(port, catalog, full=empty, clock=shop_clock)
                on_event("catalog_synced", {"lines": lines})
            async with open_journal(journal_location) as journal:
                options = SubmitOptions(
                    state_dir=state_dir, route=request.route, dry_run=request.dry_run,
                    report_path=request.report or _beside(input_name, ".report.csv"),
                    undo_path=_beside(input_name, ".undo.jsonl"), profile=profile, lane=request.lane,
                    inline_shards=request.enqueue, drain=not request.enqueue)
                run_key = request.run_key
                if run_key is None:
                    paths, read = _input_paths(input_name), {"dialect": request.dialect,
                                                             "location": request.location}
                    if isinstance(source, FileInput):
                        paths, read = list(source.paths), source.run_key_options()
                    run_key = await asyncio.to_thread(
                        run_key_for, paths, key, {"route": request.route, **read, "input": input_name})
                if isinstance(source, FileInput):  # after the sync: the reading process looks it up
                    source = stack.enter_context(
                        source.open(catalog=catalog.path, rows=options.read_ahead.rows_of))
                submission = Submission(
                    requester=shop.client, port=port, catalog=catalog, journal=journal, options=options,
                    inventory=_inventory_sender(shop), on_event=on_event, clock=shop_clock)
                result = await submission.run(source, run_key=run_key, input_name=input_name)
                result.elapsed_s = shop.clock.now() - started
                if simulation is not None:
                    result.simulated_at = simulation.served_at or "sim://"
                    result.shop_elapsed_s = simulation.shop_seconds(result.elapsed_s)
                return result
    raise AssertionError("unreachable")  # pragma: no cover


LOOP_SWITCH_S = 0.001  # how long a worker thread holds the GIL before the event loop may take it


class _SwitchInterval:
    """The interpreter's GIL switch interval, shortened while at least one submission runs."""

    def __init__(self) -> None:
        self.users = 0
        self.saved = 0.0

    @contextlib.contextmanager
    def shortened(self) -> Iterator[None]:
        """While a submission runs, worker threads (planning, result parsing, the journal) hand the
        GIL back after 1 ms instead of Python's 5: every step of an urgent request waits for the GIL
        once per await, and at 5 ms a request behind a busy planner took hundreds of ms. The first of
        submissions running side by side saves the setting, the last one restores it."""
        if self.users == 0:
            self.saved = sys.getswitchinterval()
            sys.setswitchinterval(min(self.saved, LOOP_SWITCH_S))
        self.users += 1
        try:
            yield
        finally:
            self.users -= 1
            if self.users == 0:
                sys.setswitchinterval(self.saved)


_responsive_event_loop = _SwitchInterval().shortened


def _input_paths(input_name: str) -> list[Path]:
    path = Path(input_name)
    return [path] if path.is_file() else []


def _beside(input_name: str, suffix: str) -> Path | None:
    """``prices.csv`` → ``prices{suffix}`` in the same folder (None when the input is not a file)."""
    path = Path(input_name)
    return path.with_name(path.stem + suffix) if path.is_file() else None


def _inventory_sender(shop: Shop) -> Callable[[Sequence[InventoryUpdate]], Any]:
    async def send(updates: Sequence[InventoryUpdate]) -> list[tuple[OutcomeStatus, str]]:
        results = await shop.inventory.set(list(updates))
        out: list[tuple[OutcomeStatus, str]] = []
        for r in results:
            if r.status is InventoryStatus.APPLIED:
                out.append((OutcomeStatus.APPLIED, ""))
            elif r.status is InventoryStatus.STALE:
                out.append((OutcomeStatus.REJECTED, f"stale: {r.reason or 'the quantity changed meanwhile'}"))
            else:
                out.append((OutcomeStatus.REJECTED, r.reason or "rejected"))
        return out

    return send
