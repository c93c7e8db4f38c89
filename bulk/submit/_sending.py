"""How a :class:`~bulk.submit.submission.Submission` sends what it plans: chunks planned and recorded,
bulk lines pooled (or shards cut per chunk for a fleet), direct lines sent (or enqueued for a fleet's
workers), inventory rows through the urgent lane, and lines released to the per-product order as they
finish (a mixin: the state is the submission's; split from ``submission.py`` to keep each module
short).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bulk.clock import Clock, wait_event
from bulk.journal import Journal, Outcome, UnitState
from bulk.lanes.bulk import BulkLane
from bulk.lanes.bulk.feed import LinePool, ResumeIndex, root_of
from bulk.lanes.bulk.reconcile import all_processed
from bulk.lanes.bulk.shard_data import from_shard_file
from bulk.lanes.direct import direct_units, send_line
from bulk.models import InventoryUpdate, OnEvent, OutcomeStatus
from bulk.plan import PlannedLine, Route, line_cost
from bulk.plan import write_shards as _write_shards
from bulk.plan.stream import ChunkPlan, StreamPlanner
from bulk.shopify.requester import Requester
from bulk.sources.readahead import Item, Source, chunks
from bulk.submit._admission_thread import AdmissionThread
from bulk.submit._media_followup import MediaFollowUp
from bulk.submit._outcome_book import OutcomeBook
from bulk.submit._types import InventorySender, InventoryUndo, SubmitOptions
from bulk.submit.report import append_undo, write_undo

T = TypeVar("T")
WALKED_ON_LOOP = 1_000  # lines a step may walk on the event loop; more go to a worker thread (`_walk`)


class Sending:
    """The sending half of a submission (see the module docstring)."""

    _requester: Requester
    _options: SubmitOptions
    _journal: Journal
    _inventory: InventorySender | None
    _on_event: OnEvent
    _wait_clock: Clock
    _planner: StreamPlanner
    _admission: AdmissionThread
    _unit_lines: dict[str, list[PlannedLine]]
    _ended: set[str]
    _results_due: dict[str, list[PlannedLine]]
    _pool: LinePool | None
    _resume: ResumeIndex | None
    _released: asyncio.Event
    _read_done: asyncio.Event
    _routes: list[Route]
    _stats: Counter[str]
    _media_follow_up: MediaFollowUp
    _undo_file: Path | None
    _undo_lock: asyncio.Lock
    _source_state: str
    _direct_in_flight: int

    @property
    def book(self) -> OutcomeBook:
        """Where the run's outcomes are recorded (the submission's)."""
        raise NotImplementedError

    def _progress(self) -> None:
        raise NotImplementedError

    def _route(self, lines: list[PlannedLine]) -> Route:
        raise NotImplementedError

    def _undo_path(self, workdir: Path) -> Path:
        raise NotImplementedError

    def _count(self, part: ChunkPlan) -> None:
        for key, value in dataclasses.asdict(part.plan.statistics()).items():
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
            part, route, decided = await asyncio.to_thread(self._plan_chunk, chunk)
            self._count(part)
            self._source_state = f"waiting for chunk {number + 2} ({self._planner.rows} rows read)"
            await self.book.record(decided)
            async with self._undo_lock:
                await asyncio.to_thread(append_undo, undo, part.plan.undo)
            if part.inventory:
                tg.create_task(self._send_inventory(part.inventory, run_id))
            # in the admission's own thread: ~0.2 s of Python for a chunk of 240,000 lines
            released, admitted = await self._admission.admit(part.plan.lines)
            self._on_event("planned", {"plan": dict(self._stats), "route": route,
                                       "chunk": number, "held": self._admission.held})
            # the usual case, every line of the chunk and nothing else: routed already, with its planning
            whole = not released and len(admitted) == len(part.plan.lines)
            await self._dispatch(released + admitted, f"{run_key}/{number}", run_id, workdir, lane, tg,
                                 route=route if whole else None)
            number += 1
            # the last references to the chunk's plan and outcomes go in a worker thread, so their
            # objects are freed there: tens of ms for a chunk's, on the loop the urgent lane shares
            parcel: list[object] = [part, decided, released, admitted]
            del part, decided, released, admitted
            await asyncio.to_thread(parcel.clear)
        # read and planned: only lines held behind running ones of their product will come (a handful
        # at chunk boundaries); the lane's cuts are final from now on, not once those are released
        self._source_state = f"read to the end ({self._planner.rows} rows)"
        self._read_done.set()
        self._on_event("input_read", {"rows": self._planner.rows})
        while self._admission.held:  # lines waiting behind in-flight lines of their product
            self._released.clear()
            if self._options.drain:
                await self._released.wait()  # our own lane reports each finished shard
            else:
                # the fleet's workers run the shards: watch the journal for finished ones
                await self._release_finished_units(run_id)
                await wait_event(self._released, self._options.lane.idle_wait_s, self._wait_clock)
            ready = await self._admission.release_held()
            tag = await _walk(digest_of, ready)  # a JSON text per line
            await self._dispatch(ready, f"{run_key}/h{tag}", run_id, workdir, lane, tg)

    def _plan_chunk(self, chunk: list[Item]) -> tuple[ChunkPlan, Route, list[Outcome]]:
        """Plan a chunk (its list is emptied), route its lines and list the outcomes planning decided
        (blocking: a worker thread; the route walks every line, and 45,000 decided rows are ~50 ms of
        Python the event loop, which is the urgent lane's too, need not spend)."""
        part = self._planner.plan_chunk(chunk)
        chunk.clear()  # planned: its rows are freed here, not on the event loop when the next comes
        decided = [Outcome(o.row[0], o.row[1], o.status, o.reason or None)
                   for o in [*part.rejected, *part.nothing, *part.plan.outcomes]]
        return part, self._route(part.plan.lines), decided

    async def _dispatch(self, lines: list[PlannedLine], ident: str, run_id: int, workdir: Path,
                        lane: BulkLane, tg: asyncio.TaskGroup, *, route: Route | None = None) -> None:
        if not lines:
            return
        if route is None:
            route = await _walk(self._route, lines)
        self._routes.append(route)
        if route.kind == "direct":
            if self._options.drain:
                tg.create_task(self._send_direct(lines, run_id))
            else:
                await self._enqueue_direct(lines, ident, run_id)
            return
        if self._pool is not None:
            await self._pool_lines(lines, lane)
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

    async def _pool_lines(self, lines: list[PlannedLine], lane: BulkLane) -> None:
        """Hand bulk lines to the pool the lane cuts its shards from (after a crash, only lines that
        are in no shard yet: the others wait for their shard, or are finished)."""
        assert self._pool is not None
        if self._resume is not None:
            lines, in_shards, finished = await _walk(self._resume.sort, lines)  # a look-up per line
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
            lines = self._unit_lines.pop(root, [])
            if finished:
                # the products are free for their next lines now; the images are followed once the
                # results are read, which name the new images: a watch without their ids is read by
                # product, several points a product instead of one an image, and fifteen operations'
                # results take ~20 s to read (at Black Friday, a round of 104,000 such reads ran
                # until the run's end and left 113,100 images unread)
                self._release(lines)
                self._results_due.setdefault(root, []).extend(lines)
            else:
                self._finished(lines)
                read = self._results_due.pop(root, [])  # released at their operation's end already
                if read:
                    self._media_follow_up.lines_done(read)
        self._progress()
        self._on_event(name, data)

    def _finished(self, lines: list[PlannedLine]) -> None:
        self._release(lines)
        if lines:
            self._media_follow_up.lines_done(lines)

    def _release(self, lines: list[PlannedLine]) -> None:
        if lines:
            self._admission.done(lines)
            self._released.set()

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


async def _walk(call: Callable[[list[PlannedLine]], T], lines: list[PlannedLine]) -> T:
    """``call(lines)``, in a worker thread when the lines are many: tens of thousands of lines walked
    one by one are tens of ms of Python, and the event loop is the urgent lane's too."""
    return await asyncio.to_thread(call, lines) if len(lines) > WALKED_ON_LOOP else call(lines)


def digest_of(lines: list[PlannedLine]) -> str:
    """A content hash: held lines released in the same groups get the same unit identity on a re-run."""
    h = hashlib.sha256()
    for line in lines:
        h.update(json.dumps(line.variables, sort_keys=True).encode())
    return h.hexdigest()[:16]
