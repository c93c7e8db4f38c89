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
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from bulk.catalog import CatalogStore
from bulk.catalog.sync import ExportPort
from bulk.clock import Clock, MonotonicClock, wait_event
from bulk.errors import BulkError
from bulk.journal import Journal, Outcome, RunStatus, UnitState
from bulk.lanes.bulk import BulkLane, BulkOpsPort
from bulk.lanes.bulk.feed import LinePool, ResumeIndex, root_of
from bulk.lanes.bulk.reconcile import all_processed
from bulk.lanes.bulk.shard_data import from_shard_file
from bulk.lanes.direct import direct_units, send_line
from bulk.models import InventoryUpdate, OnEvent, Outcomes, OutcomeStatus
from bulk.plan import PlannedLine, Route, choose_route, line_cost
from bulk.plan import write_shards as _write_shards
from bulk.plan.ordering import KindAdmission
from bulk.plan.stream import ChunkPlan, StreamPlanner
from bulk.shopify.requester import Requester
from bulk.sources.readahead import Source, chunks
from bulk.submit._dry_run import DryRunBook
from bulk.submit._media_followup import MediaFollowUp, amend_outcomes
from bulk.submit._outcome_book import OutcomeBook
from bulk.submit._types import (
    InventorySender,
    InventoryUndo,
    SubmissionResult,
    SubmitOptions,
    run_key_for,
)
from bulk.submit._watchdog import Waiting, Watchdog, WatchedPort
from bulk.submit.report import append_undo, summarize, write_report_csv, write_undo

__all__ = ["InventorySender", "Requester", "Submission", "SubmissionResult", "SubmitOptions", "run_key_for"]

class Submission:
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
        worker_id: str = "local",
        inventory: InventorySender | None = None,
        on_event: OnEvent | None = None,
        clock: Clock | None = None,
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
        self._planner = StreamPlanner(catalog)
        self._admission = KindAdmission()
        self._unit_lines: dict[str, list[PlannedLine]] = {}
        self._ended: set[str] = set()  # shards (root identities) seen to end in this process
        self._pool: LinePool | None = None  # a local run cuts shards just in time from here
        self._resume: ResumeIndex | None = None  # planned again after a crash: what is where
        self._book: OutcomeBook | None = None  # the run's outcomes, once the run is known
        self._released = asyncio.Event()
        self._read_done = asyncio.Event()
        self._routes: list[Route] = []
        self._stats: Counter[str] = Counter()
        # images the run adds, read back while it goes on (a sped-up simulator's clock: shop time)
        self._media_follow_up = MediaFollowUp(requester, clock=self._wait_clock, wait_s=options.media_wait_s,
                                              export=_export_port(port))
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
            outcomes, report = await self._report(workdir)
            return self._result(run_key, outcomes, report, None, undo=self._undo_path(workdir))
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
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        if error is not None:
            self._media_follow_up.cancel()
            await self._journal.set_run_status(run.run_id, RunStatus.FAILED, error=str(error))
        elif not self._options.drain:
            self._media_follow_up.cancel()  # the fleet's workers send the lines: no follow-up here
            await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
            return self._result(run_key, {}, None, lane)
        else:
            await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
            self._media = await self._media_follow_up.finish(self._catalog, await self.book.all(), workdir,
                                                             self._on_event)
            await self._journal.set_run_status(run.run_id, RunStatus.DONE)
        outcomes, report = await self._report(workdir)
        if error is not None:
            raise error
        return self._result(run_key, outcomes, report, lane, undo=self._undo_path(workdir))

    async def _work(self, source: Source, run_id: int, run_key: str, workdir: Path, lane: BulkLane, *,
                    resume: bool, created: bool) -> BulkError | None:
        """Plan and send (or, for a run planned before, only drain); the planning error, if any."""
        planning_done = asyncio.Event()
        error: BulkError | None = None
        if self._options.drain:
            self._pool = LinePool(self._journal, run_id, run_key=run_key, directory=workdir / "shards",
                                  inline=self._options.inline_shards, on_unit=self._unit_lines.__setitem__,
                                  on_event=self._on_event, min_lines=self._options.lane.min_op_lines,
                                  all_known=self._read_done)
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
                        self._resume = await ResumeIndex.load(self._journal, run_id)
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

    async def _report(self, workdir: Path) -> tuple[Outcomes, Path]:
        """Every row's outcome the journal holds for this run — rows whose images Shopify could not
        process made ``rejected`` (:mod:`bulk.submit._media_followup`) — written to the report CSV."""
        outcomes = await asyncio.to_thread(amend_outcomes, await self.book.all(), workdir)
        report = self._options.report_path or workdir / "report.csv"
        await asyncio.to_thread(write_report_csv, report, outcomes)
        return outcomes, report

    @property
    def book(self) -> OutcomeBook:
        """Where this run's outcomes are recorded (and noted for the report)."""
        assert self._book is not None, "the run has not started"
        return self._book

    def _result(self, run_key: str, outcomes: Outcomes, report: Path | None, lane: BulkLane | None,
                *, undo: Path | None = None) -> SubmissionResult:
        bulk = [r for r in self._routes if r.kind == "bulk"]
        route = Route("bulk" if bulk else "direct", sum(r.eta_bulk_s for r in self._routes),
                      sum(r.eta_direct_s for r in self._routes), sum(r.shards for r in bulk))
        result = SubmissionResult(run_key, route, dict(self._stats), summarize(outcomes), outcomes, report,
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

    def _count(self, part: ChunkPlan) -> None:
        for key, value in part.plan.statistics().items():
            self._stats[key] += value
        self._stats["rejected"] += len(part.rejected)  # rows refused at reading count as rejected too
        self._stats["unchanged"] += len(part.nothing)  # and rows with nothing to change as unchanged

    async def _stream(self, source: Source, run_id: int, run_key: str, workdir: Path, lane: BulkLane,
                      tg: asyncio.TaskGroup) -> None:
        undo = self._undo_file = self._undo_path(workdir)
        await asyncio.to_thread(write_undo, undo, [])  # a fresh file; each chunk appends its old values
        number = 0
        async for chunk in chunks(source, self._options.read_ahead):
            self._progress()
            part = await asyncio.to_thread(self._planner.plan_chunk, chunk)
            self._count(part)
            self._source_state = f"waiting for chunk {number + 2} ({self._planner.rows} rows read)"
            decided = [Outcome(o.row[0], o.row[1], o.status, o.reason or None)
                       for o in [*part.rejected, *part.nothing, *part.plan.outcomes]]
            await self.book.record(decided)
            async with self._undo_lock:
                await asyncio.to_thread(append_undo, undo, part.plan.undo)
            if part.inventory:
                tg.create_task(self._send_inventory(part.inventory, run_id))
            ready = self._admission.release_held() + self._admission.admit(part.plan.lines)
            self._on_event("planned", {"plan": dict(self._stats), "route": self._route(part.plan.lines),
                                       "chunk": number, "held": self._admission.held})
            await self._dispatch(ready, f"{run_key}/{number}", run_id, workdir, lane, tg)
            number += 1
        # read and planned: only lines held behind running ones of their product will come (a handful
        # at chunk boundaries); the lane's cuts are final from now on, not once those are released
        self._source_state = f"read to the end ({self._planner.rows} rows)"
        self._read_done.set()
        while self._admission.held:  # lines waiting behind in-flight lines of their product
            self._released.clear()
            if self._options.drain:
                await self._released.wait()  # our own lane reports each finished shard
            else:
                # the fleet's workers run the shards: watch the journal for finished ones
                await self._release_finished_units(run_id)
                await wait_event(self._released, self._options.lane.idle_wait_s, self._wait_clock)
            ready = self._admission.release_held()
            await self._dispatch(ready, f"{run_key}/h{_digest(ready)}", run_id, workdir, lane, tg)

    async def _dispatch(self, lines: list[PlannedLine], ident: str, run_id: int, workdir: Path,
                        lane: BulkLane, tg: asyncio.TaskGroup) -> None:
        if not lines:
            return
        route = self._route(lines)
        self._routes.append(route)
        if route.kind == "direct":
            if self._options.drain:
                tg.create_task(self._send_direct(lines, run_id))
            else:
                await self._enqueue_direct(lines, ident, run_id)
            return
        if self._pool is not None:
            self._pool_lines(lines, lane)
            return
        shards = await asyncio.to_thread(_write_shards, lines, workdir / "shards", shards=route.shards,
                                         prefix=ident.rsplit("/", 1)[-1])
        units = []
        for i, shard in enumerate(shards):
            unit_ident = f"{ident}/{i}"
            self._unit_lines[unit_ident] = [lines[n] for n in shard.line_indexes]
            units.append(await asyncio.to_thread(from_shard_file, unit_ident, shard,
                                                 inline=self._options.inline_shards))
        await self._journal.add_units(run_id, units)
        lane.notify()
        self._on_event("sharded", {"shards": len(shards), "lines": len(lines)})

    def _pool_lines(self, lines: list[PlannedLine], lane: BulkLane) -> None:
        """Hand bulk lines to the pool the lane cuts its shards from (after a crash, only lines that
        are in no shard yet: the others wait for their shard, or are finished)."""
        assert self._pool is not None
        if self._resume is not None:
            lines, in_shards, finished = self._resume.sort(lines)
            for root, mine in in_shards.items():
                if root in self._ended:
                    # the shard (an adopted operation, often) ended before its lines were planned
                    # again: nothing will release them later, and every later line of their
                    # products would be held for ever (the resume hang of issue 15)
                    finished += mine
                else:
                    self._unit_lines.setdefault(root, []).extend(mine)
            self._finished(finished)
        self._pool.add(lines)
        lane.notify()
        self._on_event("pooled", {"lines": len(lines), "pooled": self._pool.pooled})

    async def _release_finished_units(self, run_id: int) -> None:
        """Release the lines of shards finished elsewhere (with every retry shard they spawned)."""
        open_roots = {root_of(u.client_identifier)
                      for u in await self._journal.list_units(run_id)
                      if u.state not in (UnitState.DONE, UnitState.FAILED)}
        for root in [r for r in self._unit_lines if r not in open_roots]:
            self._finished(self._unit_lines.pop(root))

    def _lane_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        self.book.note(outcomes)
        self._media_follow_up.note_outcomes(outcomes)  # media GIDs the results named

    def _lane_event(self, name: str, data: dict[str, Any]) -> None:
        finished = name == "op_finished" and all_processed(
            str(data.get("status")), int(data.get("objects", 0)), int(data.get("lines", 1 << 62)))
        if finished or (name == "shard_done" and not data.get("retried")):
            root = root_of(str(data.get("ident", "")))
            self._ended.add(root)
            self._finished(self._unit_lines.pop(root, []))
        self._progress()
        self._on_event(name, data)

    def _finished(self, lines: list[PlannedLine]) -> None:
        if lines:
            self._admission.done(lines)
            self._released.set()
            self._media_follow_up.lines_done(lines)

    async def _send_direct(self, lines: list[PlannedLine], run_id: int) -> None:
        # a re-run after a crash skips lines whose rows all had their outcome before it started (not
        # rows decided in this run: a row without a SKU is rejected for its price at planning, and
        # its description and images are still sent)
        done = self._resume.finished if self._resume is not None else set()
        todo = [line for line in lines if not all(row in done for row in line.rows)]
        gate = asyncio.Semaphore(self._options.direct_concurrency)

        async def send(line: PlannedLine) -> None:
            async with gate:
                self._direct_in_flight += 1
                try:
                    status, reason = await self._send_line(line)
                finally:
                    self._direct_in_flight -= 1
            await self.book.record([Outcome(f, n, status, reason or None) for f, n in line.rows])
            self._on_event("line_done", {"rows": len(line.rows)})

        async with asyncio.TaskGroup() as tg:
            for line in todo:
                tg.create_task(send(line))
        self._finished(lines)

    async def _send_line(self, line: PlannedLine) -> tuple[OutcomeStatus, str]:
        return await send_line(self._requester, line.kind, line.variables, cost=line_cost(line))

    async def _enqueue_direct(self, lines: list[PlannedLine], ident: str, run_id: int) -> None:
        """A fleet's run: the direct lines become journal units the workers send (this process sends
        nothing); a unit's lines are released to the per-product order once the unit is finished."""
        units = direct_units(ident, lines, batch=self._options.direct_batch)
        for unit, start in zip(units, range(0, len(lines), self._options.direct_batch), strict=True):
            self._unit_lines[unit.client_identifier] = lines[start:start + self._options.direct_batch]
        await self._journal.add_units(run_id, units)
        self._on_event("direct_enqueued", {"units": len(units), "lines": len(lines)})

    async def _send_inventory(self, updates: list[InventoryUpdate], run_id: int) -> None:
        if self._inventory is None:
            reason = "inventory rows need the urgent lane (use `bulk inventory submit`)"
            results: Sequence[tuple[OutcomeStatus, str, InventoryUndo | None]] = [
                (OutcomeStatus.REJECTED, reason, None)] * len(updates)
        else:
            results = await self._inventory(updates)
        await self.book.record([Outcome(u.source.file, u.source.line, status, reason or None)
                                for u, (status, reason, _) in zip(updates, results, strict=True)])
        undo = [{"kind": "inventory", "inventoryItemId": r[2][0], "locationId": r[2][1], "quantity": r[2][2]}
                for r in results if r[2] is not None]
        if undo and self._undo_file is not None:
            async with self._undo_lock:  # chunks' old values are appended to the same file meanwhile
                await asyncio.to_thread(append_undo, self._undo_file, undo)


def _export_port(port: BulkOpsPort) -> ExportPort | None:
    """The bulk port as a bulk *query* port, when it is one (the shop's is; a test's fake may not be)."""
    return cast(ExportPort, port) if hasattr(port, "start_query") else None


def _first_cause(group: BaseExceptionGroup[BulkError]) -> BulkError:
    """The first error of a (possibly nested) group: the one the run stops for."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, BulkError)
    return first


def _digest(lines: list[PlannedLine]) -> str:
    """A content hash: held lines released in the same groups get the same unit identity on a re-run."""
    h = hashlib.sha256()
    for line in lines:
        h.update(json.dumps(line.variables, sort_keys=True).encode())
    return h.hexdigest()[:16]
