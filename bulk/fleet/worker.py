"""``bulk worker``: a long-lived process that shares a fleet's work through the journal and the scheduler.

Why a loop of our own around the lanes: any number of workers, on any machine, come and go. Each one
claims units (bulk shards, direct batches) from the shared journal under a lease, works them through
the shop's one shared scheduler, says it is alive (``touch_worker``), and marks a run done once no
unit of it is left. An idle worker waits for the journal's work notices (PostgreSQL LISTEN/NOTIFY;
see :mod:`bulk.journal._wakeups`) and re-checks on its own only as a fallback (``idle_wait_s``).
Nothing is migrated here (``bulk db upgrade`` does that, once, deliberately).

Shutdown (SIGTERM, or :meth:`Worker.stop`) is graceful: no new claims, no new bulk operation started
and no new request sent; the requests already in flight finish (their scheduler permits are released
as they do); what a unit had reached is recorded; then every unit still held is given back at once —
a started bulk operation stays ``submitted`` with an expired lease, so the next worker adopts it
instead of waiting for the lease. After ``shutdown_grace_s`` the rest is cancelled and given back.

Drain mode (``drain=True``) processes what is there and returns when no unit of a running run is
pending or held by anyone: for tests and cron.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from bulk.clock import Clock, MonotonicClock
from bulk.errors import JournalError, RunStoppedError, SchedulerError
from bulk.fleet import _lease
from bulk.fleet._config import WorkerConfig, WorkerStatistics, default_worker_id
from bulk.fleet._stoppable import StoppablePort, race, run_stopper
from bulk.journal import Claim, Journal, RunStatus, UnitKind
from bulk.lanes.bulk import BulkLane, BulkOpsPort
from bulk.lanes.direct import send_batch
from bulk.models import OnEvent
from bulk.shopify.requester import Requester

__all__ = ["Worker", "WorkerConfig", "WorkerStatistics", "default_worker_id"]

log = logging.getLogger(__name__)



class Worker:
    """Claims and works units until stopped (or, in drain mode, until nothing is left)."""

    def __init__(
        self,
        *,
        journal: Journal,
        port: BulkOpsPort,
        requester: Requester,
        config: WorkerConfig | None = None,
        clock: Clock | None = None,
        on_event: OnEvent | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self._journal = journal
        self._requester = requester
        self._clock = clock or MonotonicClock()
        self._on_event = on_event or (lambda _name, _data: None)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._lane = BulkLane(StoppablePort(port, self._stopping), journal, self.config.lane,
                              worker_id=self.config.worker_id, workdir=self.config.workdir,
                              clock=self._clock, on_event=self._on_event)
        self._held: dict[asyncio.Task[None], Claim] = {}
        self._draining: set[asyncio.Task[Any]] = set()  # direct batches with no line left to start
        self._counts = {"claimed": 0, "completed": 0, "released": 0, "runs_finished": 0}
        self._finished_since_check = False
        self._next_runs_check = 0.0
        self._stopped: RunStoppedError | None = None  # why the shop refuses every run (402/423, tokens)

    @property
    def stopped(self) -> RunStoppedError | None:
        """The shop-level refusal that stopped this worker (raised by :meth:`run` too), if any."""
        return self._stopped

    @property
    def worker_id(self) -> str:
        """This worker's id in the journal."""
        return self.config.worker_id

    def stop(self) -> None:
        """Begin a graceful shutdown (safe to call from a signal handler, twice)."""
        if not self._stopping.is_set():
            log.info("stopping", extra={"action": "worker.stop", "worker": self.worker_id})
        self._stopping.set()
        self._wake.set()

    def statistics(self) -> WorkerStatistics:
        """What this worker holds and has done."""
        return WorkerStatistics(self.worker_id, len(self._held), self._counts["claimed"],
                                self._counts["completed"], self._counts["released"],
                                self._counts["runs_finished"], self._stopping.is_set())

    def __repr__(self) -> str:
        s = self.statistics()
        return (f"Worker(id={s.worker_id!r}, held={s.held}, claimed={s.claimed}, completed={s.completed}, "
                f"released={s.released}, stopping={s.stopping})")

    async def run(self) -> None:
        """Work until :meth:`stop` (or drained); always leaves nothing held. A shop that refuses
        every request (frozen, locked, every token refused) stops the worker: the runs it met are
        marked failed with the cause, their units given back, and the :class:`RunStoppedError` is
        raised (``bulk worker`` prints it on one line and exits 2)."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._heartbeat(), name=f"{self.worker_id}-heartbeat")
                try:
                    await self._loop(tg)
                finally:
                    self.stop()
                    await asyncio.shield(self._settle())
        finally:
            await asyncio.shield(self._give_back())
        if self._stopped is not None:
            raise self._stopped

    # -- the claim loop -----------------------------------------------------------------------
    async def _loop(self, tg: asyncio.TaskGroup) -> None:
        lane = self.config.lane
        while not self._stopping.is_set():
            self._wake.clear()
            claimed = 0
            mark: int | None = None
            try:
                mark = await self._journal.work_mark()  # before claiming: no notice is missed
                for kind in (UnitKind.BULK_SHARD, UnitKind.DIRECT_BATCH):
                    free = self._free(kind)
                    if free > 0 and not self._stopping.is_set():
                        claims = await self._journal.claim(self.worker_id, [kind], lease_s=lane.lease_s,
                                                           limit=free, run_id=self.config.run_id)
                        for claim in claims:
                            self._start(tg, claim)
                        claimed += len(claims)
                if self._finished_since_check or self._clock.now() >= self._next_runs_check:
                    await self._finish_runs()
                if self.config.drain and not claimed and not self._held and not await self._work_left():
                    return
            except JournalError as exc:  # the journal may come back: keep the units we hold, retry
                log.warning("journal unavailable: %s", exc, extra={"action": "worker.journal_error"})
            if not claimed:
                await self._wait(self.config.idle_wait_s, mark)

    def _free(self, kind: UnitKind) -> int:
        """How many units of ``kind`` to claim now. Direct batches: ``direct_units`` sending, plus a
        prefetch of one — a batch with no line left to start (its last requests in flight) no longer
        counts, so the next one is claimed and its senders queue for permits while it ends."""
        held = [task for task, c in self._held.items() if c.unit.kind == kind]
        if kind == UnitKind.BULK_SHARD:
            return self.config.lane.tokens * self.config.lane.ops_per_token - len(held)
        sending = sum(1 for task in held if task not in self._draining)
        return min(self.config.direct_units - sending, self.config.direct_units + 1 - len(held))

    def _drained(self, task: asyncio.Task[None] | None) -> None:
        if task is not None and task in self._held:
            self._draining.add(task)
            self._wake.set()

    def _start(self, tg: asyncio.TaskGroup, claim: Claim) -> None:
        self._counts["claimed"] += 1
        task = tg.create_task(self._guard(claim), name=f"unit-{claim.unit_id}")
        self._held[task] = claim
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._draining.discard(task)
        claim = self._held.get(task)
        if claim is not None and not task.cancelled() and task.exception() is None:
            del self._held[task]  # finished (completed, failed or handed back by the lane itself)
            self._counts["completed"] += 1
        self._finished_since_check = True
        self._wake.set()

    async def _guard(self, claim: Claim) -> None:
        """Work one unit; an unexpected error gives it back (bounded by the lane's ``max_claims``)
        instead of taking the whole worker down."""
        try:
            if claim.unit.kind == UnitKind.BULK_SHARD:
                await self._lane.process(claim)
                if self._lane.stopped is not None:  # the lane gave the shard back itself
                    await self._run_stopped(claim, self._lane.stopped)
            else:
                await self._direct(claim)
        except Exception as exc:
            stop = run_stopper(exc)
            if stop is not None:
                await self._run_stopped(claim, stop)
                return
            if run_stopper(exc, SchedulerError) is not None:
                # the coordination store is away (fail closed: nothing was sent without a permit):
                # wait a moment before the unit is given back, not a hot loop of claims
                log.warning("scheduler unavailable; unit given back", extra={
                    "action": "worker.scheduler_error", "unit": claim.unit_id, "error": type(exc).__name__})
                await self._wait_stop(self.config.idle_wait_s)
            else:
                log.exception("unit failed; given back", extra={
                    "action": "worker.unit_error", "unit": claim.unit_id, "error": type(exc).__name__})
            with contextlib.suppress(JournalError):
                await self._journal.release(claim)
                self._counts["released"] += 1

    async def _run_stopped(self, claim: Claim, exc: RunStoppedError) -> None:
        """The shop refuses the whole run: give the unit back, mark its run failed with the cause (no
        worker claims its units again until the same command is run again), stop this worker."""
        log.warning("the shop refuses the run: %s", exc, extra={
            "action": "worker.run_stopped", "unit": claim.unit_id, "error": type(exc).__name__})
        with contextlib.suppress(JournalError):
            await self._journal.release(claim)
        with contextlib.suppress(JournalError):
            await self._journal.set_run_status(claim.unit.run_id, RunStatus.FAILED, error=str(exc))
            self._on_event("run_stopped", {"run": claim.unit.run_id, "error": str(exc)})
        if self._stopped is None:
            self._stopped = exc
        self.stop()

    async def _direct(self, claim: Claim) -> None:
        async with _lease.held(self._journal, claim, lease_s=self.config.lane.lease_s,
                               clock=self._clock, stopping=self._stopping) as fenced:
            task = asyncio.current_task()
            finished = await send_batch(claim, self._journal, self._requester,
                                        concurrency=self.config.direct_concurrency, stopping=fenced,
                                        on_drained=lambda: self._drained(task))
            if fenced.is_set() and not self._stopping.is_set():
                return  # lease lost: the next holder finishes it; never write on it again
            if finished:
                await self._journal.complete(claim)
            else:
                await self._journal.release(claim)
                self._counts["released"] += 1

    # -- runs, liveness, shutdown --------------------------------------------------------------
    async def _finish_runs(self) -> None:
        """Mark running runs with no open unit as done (any worker may; repeating it is harmless).

        Checked after one of our units finished, else every ``heartbeat_s``: the query counts every
        run's units and outcomes, too much to repeat on every claim of a busy fleet."""
        self._finished_since_check = False
        self._next_runs_check = self._clock.now() + self.config.heartbeat_s
        for run in await self._journal.list_runs(limit=50):
            c = run.counters
            if run.status is RunStatus.RUNNING and c.units_pending == 0 and c.units_active == 0:
                if self.config.run_id is not None and run.run_id != self.config.run_id:
                    continue
                with contextlib.suppress(JournalError):
                    await self._journal.set_run_status(run.run_id, RunStatus.DONE)
                    self._counts["runs_finished"] += 1
                    self._on_event("run_done", {"run": run.run_id})

    async def _work_left(self) -> bool:
        return any(self.config.run_id in (None, run.run_id)
                   and run.status in (RunStatus.PLANNING, RunStatus.RUNNING)
                   and (run.counters.units_pending or run.counters.units_active)
                   for run in await self._journal.list_runs(limit=50))

    async def _heartbeat(self) -> None:
        host, pid = socket.gethostname(), os.getpid()
        while not self._stopping.is_set():
            try:
                await self._journal.touch_worker(self.worker_id, host=host, pid=pid)
            except JournalError as exc:  # the journal may come back; claims will tell
                log.warning("heartbeat failed: %s", exc, extra={"action": "worker.heartbeat_failed"})
            await self._wait_stop(self.config.heartbeat_s)

    async def _settle(self) -> None:
        """Let held units reach a safe point (bounded by ``shutdown_grace_s``), then cancel the rest."""
        if not self._held:
            return
        _, late = await asyncio.wait(list(self._held), timeout=self.config.shutdown_grace_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _give_back(self) -> None:
        """Release every unit still held (the bulk lane may have released a cancelled shard itself)."""
        for task, claim in list(self._held.items()):
            with contextlib.suppress(JournalError):
                unit = await self._journal.get_unit(claim.unit_id)
                if unit.lease_owner == self.worker_id and unit.fence == claim.fence:
                    await self._journal.release(claim)
                self._counts["released"] += 1
                log.info("unit given back", extra={"action": "worker.released", "unit": claim.unit_id})
            self._held.pop(task, None)

    async def _wait(self, seconds: float, mark: int | None) -> None:
        """Sleep on the injected clock, cut short by a finished unit, :meth:`stop`, or a work notice
        from the journal after ``mark`` (units added, released, retried); the sleep is the fallback
        for what no notice announces (a lease that ran out) and for a journal that cannot listen."""
        waits: list[Any] = [self._clock.sleep(seconds), self._wake.wait()]
        if mark is not None:
            waits.append(self._journal.wait_for_work(mark))
        await race(*waits)

    async def _wait_stop(self, seconds: float) -> None:
        await race(self._clock.sleep(seconds), self._stopping.wait())
