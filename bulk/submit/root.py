"""The composition root of a submission: journal, catalog cache, ports — wired once, here.

``bulk submit`` (:mod:`bulk.cli.request`) and ``Shop.submit`` (:mod:`bulk.session.runs`) both end up in
:func:`run_submission`, given an open shop session: this module never builds one (that is the session
layer's job), it only needs the narrow :class:`SessionPort`. For simulated shops embedded in the process
the state (journal, catalog cache, shards) goes to a throwaway directory unless one is given: a fresh
simulated shop has nothing to resume. Files come as a :class:`~bulk.sources.files.FileInput` and are
opened here, after the catalog sync: they are read in a second process that looks the catalog up.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bulk.catalog import CatalogStore
from bulk.catalog.sync import sync_catalog
from bulk.clock import Clock
from bulk.journal import open_journal
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.lanes.urgent import InventoryResult, InventoryStatus
from bulk.models import InventoryUpdate, OnEvent, OutcomeStatus
from bulk.plan import ShopProfile
from bulk.shopify.client import ShopifyClient
from bulk.shopify.simulated import Simulation
from bulk.sources.files import FileInput
from bulk.sources.readahead import Source
from bulk.submit import picture
from bulk.submit.options import RunOptions, default_state_dir, shop_id
from bulk.submit.submission import Submission, SubmissionResult, SubmitOptions, run_key_for
from bulk.submit.timeline import EVENTS_FILE, RunRecorder, cancelled


class InventoryFront(Protocol):
    """``shop.inventory``: urgent inventory changes, one result per change."""

    async def set(self, changes: Sequence[InventoryUpdate]) -> list[InventoryResult]: ...


class SessionPort(Protocol):
    """What a run needs of an open shop session (:class:`bulk.session.Shop` is one)."""

    @property
    def client(self) -> ShopifyClient: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def shop_clock(self) -> Clock | None: ...

    @property
    def simulation(self) -> Simulation | None: ...

    @property
    def inventory(self) -> InventoryFront: ...


async def run_submission(
    shop: SessionPort,
    request: RunOptions,
    source: Source | FileInput,
    *,
    input_name: str,
    on_event: OnEvent,
) -> SubmissionResult:
    """Run one submission on an open shop (the library's ``shop.submit`` goes through here too).

    ``source``: updates (any iterable or async iterable, see :mod:`bulk.sources.readahead`), or files — a
    :class:`~bulk.sources.files.FileInput`, opened here once the catalog is synced and closed when the
    run ends, however it ends."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_responsive_event_loop())
        started = shop.clock.now()
        simulation = shop.simulation
        # sim://: a throwaway state dir and journal, like the shop
        embedded = simulation is not None and simulation.embedded
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
        if simulation is not None:  # the ETA model of a rehearsal uses the simulator's measured figures
            profile = ShopProfile.simulator(
                tokens=simulation.tokens or profile.tokens, plan=simulation.plan, speed=simulation.speed,
                bulk_lines_per_s=simulation.bulk_lines_per_s or 2000.0)
        key = request.catalog_key or "sim://"
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
                    # a dry run's report never takes the run's name: `bulk run --inbox` would take the
                    # file for done
                    report_path=request.report or _beside(input_name, DRY_RUN_SUFFIX if request.dry_run
                                                          else ".report.csv"),
                    undo_path=_beside(input_name, ".undo.jsonl"), profile=profile, lane=request.lane,
                    inline_shards=request.enqueue, drain=not request.enqueue)
                run_key = request.run_key
                if run_key is None:
                    paths, read = _input_paths(input_name), {"dialect": None, "location": None,
                                                             **request.key_options}
                    if isinstance(source, FileInput):
                        paths, read = list(source.paths), source.run_key_options()
                    run_key = await asyncio.to_thread(
                        run_key_for, paths, key, {"route": request.route, **read, "input": input_name})
                if isinstance(source, FileInput):  # after the sync: the reading process looks it up
                    source = stack.enter_context(
                        source.open(catalog=catalog.path, rows=options.read_ahead.rows_of))
                recorder = None if request.dry_run else \
                    RunRecorder(state_dir / "runs" / run_key / EVENTS_FILE, shop.clock)  # its picture
                inventory = _inventory_sender(shop)
                submission = Submission(
                    requester=shop.client, port=port, catalog=catalog, journal=journal, options=options,
                    inventory=recorder.timed(inventory) if recorder else inventory,
                    on_event=recorder.listener(on_event) if recorder else on_event, clock=shop_clock)
                statistics = getattr(shop.client.scheduler, "statistics", None)
                sampler = recorder and statistics and asyncio.create_task(recorder.sample(statistics))
                try:
                    result = await submission.run(source, run_key=run_key, input_name=input_name)
                finally:
                    if sampler:
                        await cancelled(sampler)
                    if recorder:
                        recorder.close()
                result.elapsed_s = shop.clock.now() - started
                if simulation is not None:
                    result.simulated_at = simulation.served_at or "sim://"
                    result.shop_elapsed_s = simulation.shop_seconds(result.elapsed_s)
                # a picture beside a report the caller sees (a file's, or one asked for); a library run
                # of in-memory updates draws none by default (`bulk report RUN --html` can)
                if recorder and options.report_path and result.report_path and picture.available():
                    result.picture_path = await asyncio.to_thread(
                        picture.draw_run, result, recorder.path, profile,
                        title=f"bulk run {run_key}: {input_name}")
                return result
    raise AssertionError("unreachable")  # pragma: no cover


DRY_RUN_SUFFIX = ".dry-run.report.csv"  # prices.csv → prices.dry-run.report.csv

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


def _inventory_sender(shop: SessionPort) -> Callable[[Sequence[InventoryUpdate]], Any]:
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
