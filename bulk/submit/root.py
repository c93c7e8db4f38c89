"""The composition root of a submission: journal, catalog cache, ports — wired once, here.

``bulk submit`` (:mod:`bulk.cli._request`) and ``Shop.submit`` (:mod:`bulk.session.runs`) both end up in
:func:`run_submission`, given an open shop session: this module never builds one (that is the session
layer's job), it only needs the narrow :class:`SessionPort`. For simulated shops embedded in the process
the state (journal, catalog cache, shards) goes to a throwaway directory unless one is given: a fresh
simulated shop has nothing to resume. Files come as a :class:`~bulk.sources.files.FileInput` and are
opened here, after the catalog sync: they are read in a second process that looks the catalog up.

Every run decides from the shop's truth (invariant 7): the catalog cache of *this* shop (keyed on its
identity, :attr:`SessionPort.identity`) is brought up to date before planning
(:func:`bulk.catalog.freshness.decide_sync`, :func:`bulk.catalog.sync.sync_catalog`), and the values our
writes set go into it as the answers arrive (:mod:`bulk.submit._catalog_tap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bulk.catalog import CatalogStore
from bulk.catalog.freshness import decide_sync
from bulk.catalog.sync import last_full_sync, sync_catalog
from bulk.clock import Clock
from bulk.ingest.statistics import IngestStatistics
from bulk.journal import open_journal
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.lanes.urgent import InventoryResult, InventoryStatus
from bulk.models import InventoryUpdate, OnEvent, OutcomeStatus
from bulk.plan import ShopProfile
from bulk.plan.gcpause import survivors_frozen
from bulk.shopify.client import ShopifyClient
from bulk.shopify.simulated import Simulation
from bulk.sources.files import FileInput
from bulk.sources.readahead import Source
from bulk.submit import picture, runlock
from bulk.submit._catalog_tap import CatalogTap
from bulk.submit._run_choice import run_to_plan
from bulk.submit._types import InventoryUndo
from bulk.submit.options import DRY_RUN_SUFFIX, RunOptions, default_state_dir, shop_id
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

    @property
    def identity(self) -> str:
        """Which shop this is, the same however its address was written (the catalog cache and the
        run keys are kept per identity)."""
        ...


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
        stack.enter_context(survivors_frozen(1))  # full collections stay short: see gcpause
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
        key = request.catalog_key or shop.identity
        journal_location = request.database_url or request.journal or (
            str(state_dir / "journal.sqlite3") if embedded else None)
        async with aiohttp.ClientSession() as session, open_journal(journal_location) as journal:
            port = ShopBulkOps(shop.client, session)
            catalog = stack.enter_context(CatalogStore(state_dir / "catalog" / f"{shop_id(key)}.sqlite3"))
            options = SubmitOptions(
                state_dir=state_dir, route=request.route, dry_run=request.dry_run,
                # a dry run's report never takes the run's name: `bulk run --inbox` would take the
                # file for done
                report_path=request.report or _beside(input_name, DRY_RUN_SUFFIX if request.dry_run
                                                      else ".report.csv"),
                undo_path=request.undo or _beside(input_name, ".undo.jsonl"), profile=profile,
                lane=request.lane,
                inline_shards=request.enqueue, drain=not request.enqueue,
                stall_after_s=request.stall_after_s)
            run_key = request.run_key
            if run_key is None:
                paths, read = _input_paths(input_name), {"dialect": None, "location": None,
                                                         **request.key_options}
                if isinstance(source, FileInput):
                    paths, read = list(source.paths), source.run_key_options()
                run_key = await asyncio.to_thread(
                    run_key_for, paths, key, {"route": request.route, **read, "input": input_name})
            run_key, anew, lock = await run_to_plan(journal, run_key, request, input_name, on_event,
                                                     runs_dir=state_dir / "runs")
            if lock is not None:  # one run, one process (runlock); the kernel frees it if we are killed
                stack.callback(lock.release)
            if anew:
                # not `statistics()`: counting 3M variants held the event loop (urgent changes with
                # it) for 0.4–3 s at the start of every run
                empty = await asyncio.to_thread(catalog.is_empty)
                decision = decide_sync(request.sync_catalog, empty=empty,
                                       last_full_at=last_full_sync(catalog), now=time.time(),
                                       max_age_s=request.catalog_max_age_s, new_shop=embedded)
                if decision.mode != "none":
                    if lock is not None:
                        lock.phase(runlock.SYNCING)  # `bulk status`: not `planning 0%` for minutes
                    synced = await sync_catalog(port, catalog, full=decision.mode == "full", clock=shop_clock,
                                                on_progress=lock.sync_progress if lock else None)
                    on_event("catalog_synced", {"lines": synced.lines, "full": synced.full,
                                                "since": synced.since, "seconds": synced.seconds,
                                                "reason": decision.reason})
            if lock is not None:
                lock.phase(runlock.APPLYING)
                on_event = runlock.telling_when_read(on_event, lock)
            tap = CatalogTap(stack.enter_context(CatalogStore(catalog.path)), run_key)
            inputs: list[dict[str, Any]] = []  # what the reader did with each file

            def on_read(stats: IngestStatistics) -> None:
                inputs.append(input_account(stats))
                on_event("read", inputs[-1])

            if isinstance(source, FileInput):  # after the sync: the reading process looks it up
                source = stack.enter_context(
                    source.open(catalog=catalog.path, rows=options.read_ahead.rows_of, on_read=on_read))
            recorder = None if request.dry_run else \
                RunRecorder(state_dir / "runs" / run_key / EVENTS_FILE, shop.clock)  # its picture
            inventory = _inventory_sender(shop)
            submission = Submission(
                requester=tap.requester(shop.client), port=tap.bulk_port(port), catalog=catalog,
                journal=journal, options=options,
                inventory=recorder.timed(inventory) if recorder else inventory,
                on_event=recorder.listener(on_event) if recorder else on_event, clock=shop_clock,
                # what the run applied becomes the cache's picture (never before its lines are all
                # done, so a resumed run plans against the picture it was first planned from)
                settle=lambda: asyncio.to_thread(tap.store.merge_applied, run_key))
            statistics = getattr(shop.client.scheduler, "statistics", None)
            sampler = recorder and statistics and asyncio.create_task(recorder.sample(statistics))
            try:
                result = await submission.run(source, run_key=run_key, input_name=input_name)
            finally:
                if sampler:
                    await cancelled(sampler)
                if recorder:
                    recorder.close()
            result.inputs = inputs
            result.elapsed_s = shop.clock.now() - started
            result.refused_tokens = list(shop.client.statistics().refused_tokens)
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




def input_account(stats: IngestStatistics) -> dict[str, Any]:
    """What the reader did with one file, for the ``read`` event and ``--json``."""
    return {"file": stats.file, "format": stats.format, "dialect": stats.dialect,
            "encoding": stats.encoding, "encoding_reason": stats.encoding_reason,
            "delimiter": stats.delimiter, "records": stats.records,
            "columns_used": [{"column": name, "field": what} for name, what in stats.columns_used],
            "columns_ignored": [{"column": c.name, "why": c.reason} for c in stats.ignored],
            "summary": stats.summary()}


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


Sent = tuple[OutcomeStatus, str, InventoryUndo | None]  # a change's outcome and what undoes it


def _inventory_sender(shop: SessionPort) -> Callable[[Sequence[InventoryUpdate]], Any]:
    async def send(updates: Sequence[InventoryUpdate]) -> list[Sent]:
        results = await shop.inventory.set(list(updates))
        out: list[Sent] = []
        for r in results:
            if r.status is InventoryStatus.APPLIED:
                undo: InventoryUndo | None = None  # the quantity before, for the undo file
                if r.previous is not None and r.inventory_item_id and r.location_id:
                    undo = (r.inventory_item_id, r.location_id, r.previous)
                out.append((OutcomeStatus.APPLIED, "", undo))
            elif r.status is InventoryStatus.STALE:
                out.append((OutcomeStatus.REJECTED, f"stale: {r.reason or 'the quantity changed meanwhile'}",
                            None))
            else:
                out.append((OutcomeStatus.REJECTED, r.reason or "rejected", None))
        return out

    return send
