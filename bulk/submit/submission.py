"""One submission end to end: read → coalesce → plan → route → send → every row's outcome → report.

The CLI's ``bulk submit`` and the library's ``shop.submit`` both run this. What it decides is pure
(planning, routing); what it does goes through ports: a :class:`Requester` for direct mutations (the
scheduler-backed client), a :class:`~bulk.lanes.bulk._lane.BulkOpsPort` for bulk operations, and an
``inventory`` callable for the urgent lane. Every input row ends in exactly one outcome (invariant 5):
rejected at reading or planning, unchanged, or decided by the shop's answer.

Exactly-once across a crash: the run key is a hash of the input and options, and every shard's
identity (the bulk operation's ``clientIdentifier``) is a hash of the rows it holds; running the same
command again plans again, leaves lines that are already in a shard to that shard
(:class:`~bulk.lanes.bulk.feed.ResumeIndex`) and adopts the operations already started instead of starting
them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from bulk.catalog import CatalogStore
from bulk.clock import Clock, MonotonicClock
from bulk.errors import BulkError
from bulk.journal import Journal, RunStatus, UnitState
from bulk.lanes.bulk import BulkLane, BulkOpsPort
from bulk.lanes.bulk.feed import LinePool, ResumeIndex
from bulk.models import OnEvent, Outcomes, OutcomeStatus
from bulk.plan import PlannedLine, Route, choose_route
from bulk.plan.stream import StreamPlanner
from bulk.shopify.requester import Requester
from bulk.sources.readahead import Source, chunks
from bulk.submit._admission_thread import AdmissionThread
from bulk.submit._dry_run import DryRunBook
from bulk.submit._media_followup import MediaFollowUp, amend_outcomes, export_of
from bulk.submit._outcome_book import OutcomeBook
from bulk.submit._sending import Sending
from bulk.submit._types import (
    InventorySender,
    SubmissionResult,
    SubmitOptions,
    run_key_for,
)
from bulk.submit._watchdog import Waiting, Watchdog, WatchedPort
from bulk.submit.report import summarize, write_report

__all__ = ["InventorySender", "Requester", "Submission", "SubmissionResult", "SubmitOptions", "run_key_for"]

INLINE_WORKER = "local"  # the lease owner of the units a submission sends itself


class Submission(Sending):
    """Runs one submission against one shop, durably: its state lives in the journal.

    The source is read ahead in chunks; each chunk is planned (against the catalog and what earlier
    chunks planned) and sent — bulk shards to the journal for the lane, small chunks directly — while
    the next chunk is read and earlier bulk operations run."""

    def __init__(
        self,
        *,
        requester: Requester,
        port: BulkOpsPort,
        catalog: CatalogStore,
        journal: Journal,
        options: SubmitOptions,
        worker_id: str = INLINE_WORKER,
        inventory: InventorySender | None = None,
        on_event: OnEvent | None = None,
        clock: Clock | None = None,
        settle: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._requester = requester
        self._wait_clock: Clock = clock or MonotonicClock()  # waits for units the fleet finishes
        self._clock = clock  # the bulk lane's polls and back-offs (a sped-up simulator's own time; the
        # journal's leases stay on real time)
        self._port = port
        self._catalog = catalog
        self._journal = journal
        self._options = options
        self._worker_id = worker_id
        self._inventory = inventory
        self._on_event = on_event or (lambda _name, _data: None)
        # what the run applied becomes the catalog's picture (the composition root's merge): once the
        # run can no longer be planned again, and never when it failed
        self._settle = settle
        self._planner = StreamPlanner(catalog)
        self._admission = AdmissionThread()  # the per-product order, off the event loop
        self._unit_lines: dict[str, list[PlannedLine]] = {}
        self._ended: set[str] = set()  # shards (root identities) seen to end in this process
        # lines of operations that ended, for the image follow-up once their results are read
        self._results_due: dict[str, list[PlannedLine]] = {}
        self._pool: LinePool | None = None  # a local run cuts shards just in time from here
        self._resume: ResumeIndex | None = None  # planned again after a crash: what is where
        self._book: OutcomeBook | None = None  # the run's outcomes, once the run is known
        self._released = asyncio.Event()
        self._read_done = asyncio.Event()
        self._routes: list[Route] = []
        self._stats: Counter[str] = Counter()
        # images the run adds, read back while it goes on (a sped-up simulator's clock: shop time)
        self._media_follow_up = MediaFollowUp(requester, clock=self._wait_clock, wait_s=options.media_wait_s,
                                              export=export_of(port), catalog_path=catalog.path)
        self._media: dict[str, int] = {}
        self._undo_file: Path | None = None
        self._undo_lock = asyncio.Lock()
        self._watchdog: Watchdog | None = None  # says what a run that stopped moving waits for
        self._source_state = "waiting for the first chunk"
        self._direct_in_flight = 0

    async def run(self, source: Source, *, run_key: str, input_name: str) -> SubmissionResult:
        """Apply what ``source`` yields (updates and row errors in input order).

        A run whose planning finished before resumes: nothing is read again and bulk operations
        already started are adopted, not started twice. A source that fails part-way leaves what it
        yielded planned, sent and reported; then its error is raised."""
        if self._options.dry_run:
            return await self._dry_run(source, run_key)
        run, created = await self._journal.create_run(
            run_key, input_name=input_name, input_hash=run_key, options={"route": self._options.route})
        workdir = self._options.state_dir / "runs" / run_key
        self._book = OutcomeBook(self._journal, run.run_id, on_noted=self._progress)
        if not created and run.status is RunStatus.DONE:
            # the same input again after its run finished: nothing is sent twice (invariant 5); the
            # answer is the journal's, and the report is written again
            self._on_event("already_done", {"run": run.run_id,
                                            "at": run.updated_at.isoformat(timespec="seconds")})
            known, report, summary = await self._report(workdir)
            await self._settle_catalog()
            return self._result(run_key, known, report, None, undo=self._undo_path(workdir), summary=summary)
        if not created and run.status is RunStatus.FAILED:
            # stopped before (shop locked, tokens refused, cancelled by the operator…): the same command
            # again takes it up at once, planning again around what is already in shards (its units
            # are claimable again; not resumed as fully planned: it may have stopped while planning)
            run = await self._journal.set_run_status(run.run_id, RunStatus.PLANNING)
            self._on_event("retrying_failed_run", {"run": run.run_id})
        resume = not created and run.status is RunStatus.RUNNING
        port = WatchedPort(self._port, self._progress)
        lane = BulkLane(port, self._journal, self._options.lane, worker_id=self._worker_id,
                        workdir=workdir / "uploads", on_event=self._lane_event,
                        on_outcomes=self._lane_outcomes, keep=self._book.fresh,
                        clock=self._clock, lease_clock=MonotonicClock() if self._clock else None)
        self._watchdog = Watchdog(self._options.stall_after_s, self._wait_clock,
                                  lambda: self._waiting(run.run_id, lane, port), self._on_event)
        watch = asyncio.create_task(self._watchdog.run(), name="watchdog")
        error: BulkError | None = None
        try:
            error = await self._work(source, run.run_id, run_key, workdir, lane, resume=resume,
                                     created=created)
        except* BulkError as group:  # a lane or a send stopped the run (402/423, no token left…)
            error = _first_cause(group)
        finally:
            self._admission.close()  # planned and sent: nothing is admitted any more
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        settling: list[asyncio.Task[object]] = []
        outcomes: Outcomes | None = None
        try:
            if error is not None:
                await self._media_follow_up.cancel()
                await self._journal.set_run_status(run.run_id, RunStatus.FAILED, error=str(error))
            elif not self._options.drain:
                await self._media_follow_up.cancel()  # the fleet's workers send the lines: no follow-up
                await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
                await self._settle_catalog()
                return self._result(run_key, {}, None, lane)
            else:
                await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
                outcomes = await self.book.all()
                self._media = await self._media_follow_up.finish(outcomes, workdir, self._on_event)
                await self._journal.set_run_status(run.run_id, RunStatus.DONE)
                # the run's end: every row's outcome is kept, its images judged. What follows is our
                # own bookkeeping and holds nothing of the shop's: what the run applied becomes the
                # catalog's picture (a Black Friday run's 750k prices: ~2 s of SQLite) beside the
                # report — after the end, so neither slows the images' verdicts before it
                self._on_event("run_done", {"run": run.run_id})
                merge = asyncio.create_task(self._settle_catalog(), name="catalog-merge")
                # the images' last catalog writes after the merge: one writer at a time on the file
                settling += [merge, asyncio.create_task(self._store_media_after(merge), name="media-store")]
            outcomes, report, summary = await self._report(workdir, outcomes)
        finally:
            await asyncio.gather(*settling)
        if error is not None:
            raise error
        return self._result(run_key, outcomes, report, lane, undo=self._undo_path(workdir), summary=summary)

    async def _work(self, source: Source, run_id: int, run_key: str, workdir: Path, lane: BulkLane, *,
                    resume: bool, created: bool) -> BulkError | None:
        """Plan and send (or, for a run planned before, only drain); the planning error, if any."""
        planning_done = asyncio.Event()
        error: BulkError | None = None
        if self._options.drain:
            self._pool = LinePool(self._journal, run_id, run_key=run_key, directory=workdir / "shards",
                                  inline=self._options.inline_shards, on_unit=self._unit_lines.__setitem__,
                                  on_event=self._on_event, min_lines=self._options.lane.min_op_lines,
                                  all_known=self._read_done,
                                  slots=self._options.lane.tokens * self._options.lane.ops_per_token)
        async with asyncio.TaskGroup() as tg:
            if self._options.drain:
                tg.create_task(lane.drain(run_id, until=planning_done, feed=self._pool,
                                          all_known=self._read_done), name="bulk-lane")
            try:
                if resume:
                    self._source_state = "not read again (planned by an earlier run)"
                    self._on_event("resumed", {"run": run_id})
                else:
                    if not created:  # planned before, then interrupted: some lines are in shards already
                        index = await ResumeIndex.load(self._journal, run_id)
                        # nothing in a shard and no outcome (the composition root created the run just
                        # now): every line is fresh, and no line need be looked up on the event loop
                        self._resume = index if index.in_shard or index.finished else None
                    await self._stream(source, run_id, run_key, workdir, lane, tg)
            except BulkError as exc:
                error = exc
            finally:
                planning_done.set()
                lane.notify()
        return error

    def _progress(self) -> None:
        if self._watchdog is not None:
            self._watchdog.progress()

    async def _waiting(self, run_id: int, lane: BulkLane, port: WatchedPort) -> Waiting:
        """What the run waits for now (the watchdog's report)."""
        units = [f"{u.client_identifier} {u.state.value}" + (f" by {u.lease_owner}" if u.lease_owner else "")
                 for u in await self._journal.list_units(run_id)
                 if u.state not in (UnitState.DONE, UnitState.FAILED)]
        return Waiting(operations=[port.describe(op, token) for op, token in lane.running()], units=units,
                       held=self._admission.held, pooled=self._pool.pooled if self._pool else 0,
                       direct=self._direct_in_flight, source=self._source_state)

    async def _settle_catalog(self) -> object:
        return await self._settle() if self._settle is not None else None

    async def _store_media_after(self, merge: asyncio.Task[object]) -> object:
        await asyncio.wait([merge])
        await self._media_follow_up.store(self._catalog)
        return None

    async def _report(self, workdir: Path, outcomes: Outcomes | None = None
                      ) -> tuple[Outcomes, Path, dict[str, int]]:
        """Every row's outcome the journal holds for this run (``outcomes``: read already) — rows
        whose images Shopify could not process made ``rejected`` (:mod:`bulk.submit._media_followup`)
        — written to the report CSV, and counted (a million rows: in the worker thread too)."""
        if outcomes is None:
            outcomes = await self.book.all()
        report = self._options.report_path or workdir / "report.csv"
        amended, summary = await asyncio.to_thread(
            write_report, report, outcomes, functools.partial(amend_outcomes, workdir=workdir))
        return amended, report, summary

    @property
    def book(self) -> OutcomeBook:
        """Where this run's outcomes are recorded (and noted for the report)."""
        assert self._book is not None, "the run has not started"
        return self._book

    def _result(self, run_key: str, outcomes: Outcomes, report: Path | None, lane: BulkLane | None,
                *, undo: Path | None = None, summary: dict[str, int] | None = None) -> SubmissionResult:
        bulk = [r for r in self._routes if r.kind == "bulk"]
        route = Route("bulk" if bulk else "direct", sum(r.eta_bulk_s for r in self._routes),
                      sum(r.eta_direct_s for r in self._routes), sum(r.shards for r in bulk))
        result = SubmissionResult(run_key, route, dict(self._stats),
                                  summarize(outcomes) if summary is None else summary, outcomes, report,
                                  undo, media=dict(self._media))
        if lane is not None:
            result.operations = [{"id": op.id, "status": op.status, "objects": op.object_count,
                                  "error": op.error_code} for op in lane.operations]
        return result

    def _undo_path(self, workdir: Path) -> Path:
        return self._options.undo_path or workdir / "undo.jsonl"

    def _route(self, lines: list[PlannedLine]) -> Route:
        force = None if self._options.route == "auto" else self._options.route
        return choose_route(lines, self._options.profile, force=force)

    async def _dry_run(self, source: Source, run_key: str) -> SubmissionResult:
        """Plan everything, send nothing: the plan's figures, the route's ETA, and the report the run
        would write (rows that would be rejected, with reasons; unchanged rows; rows it would send)."""
        book = DryRunBook()
        outcomes: Outcomes = {}  # the rows decided at reading or planning, as a run's result has them
        self._stats.update(dict.fromkeys(("lines", "rows_in_lines", *(s.value for s in OutcomeStatus)), 0))
        async for chunk in chunks(source, self._options.read_ahead):
            part = await asyncio.to_thread(self._planner.plan_chunk, chunk)
            self._count(part)
            decided = [*part.rejected, *part.nothing, *part.plan.outcomes]
            book.decided(decided)
            outcomes.update((o.row, (o.status, o.reason)) for o in decided)
            book.planned(part.plan.lines)
            book.urgent(part.inventory)
        self._routes.append(self._route(book.lines))
        self._on_event("planned", {"plan": dict(self._stats), "route": self._routes[-1]})
        report = self._options.report_path or self._options.state_dir / "runs" / run_key / "report.csv"
        await asyncio.to_thread(book.write, report, self._routes[-1].kind)
        result = self._result(run_key, outcomes, report, None)
        result.summary, result.dry_run = book.summary(), True
        return result


def _first_cause(group: BaseExceptionGroup[BulkError]) -> BulkError:
    """The first error of a (possibly nested) group: the one the run stops for."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, BulkError)
    return first
