"""One submission end to end: read → coalesce → plan → route → send → every row's outcome → report.

The CLI's ``bulk submit`` and the library's ``shop.submit`` both run this. What it decides is pure
(planning, routing); what it does goes through ports: a :class:`Requester` for direct mutations (the
scheduler-backed client), a :class:`~bulk.lanes.bulk.BulkOpsPort` for bulk operations, and an
``inventory`` callable for the urgent lane. Every input row ends in exactly one outcome (invariant 5):
rejected at reading or planning, unchanged, or decided by the shop's answer.

Exactly-once across a crash: the run key is a hash of the input and options, the plan is deterministic,
and each bulk operation carries ``clientIdentifier = runkey/shard/attempt``; running the same command
again adopts the operations already started instead of starting them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from bulk.catalog import CatalogStore
from bulk.errors import BulkError, ShopifyError
from bulk.journal import Journal, Outcome, RunStatus, UnitState
from bulk.lanes.bulk import BulkLane, BulkLaneConfig, BulkOpsPort, decide
from bulk.lanes.shard_data import from_shard_file
from bulk.models import InventoryUpdate, Lane, OutcomeStatus, RowError
from bulk.plan import (
    Plan,
    PlannedLine,
    Route,
    ShopProfile,
    choose_route,
    line_cost,
)
from bulk.plan import write_shards as _write_shards
from bulk.plan.stream import StreamPlanner
from bulk.report import append_undo, summarize, write_report_csv, write_undo
from bulk.shopify.documents import document
from bulk.sources import ReadAhead, Source, chunks

RowId = tuple[str, int]
Outcomes = dict[RowId, tuple[OutcomeStatus, str]]
OnEvent = Callable[[str, dict[str, Any]], None]
InventorySender = Callable[[Sequence[InventoryUpdate]], Awaitable[Sequence[tuple[OutcomeStatus, str]]]]

DIRECT_DOCUMENTS = {"variants": "product_variants_bulk_update", "product": "product_update"}


class Requester(Protocol):
    """Sends one document through the scheduler (``ShopifyClient.request``)."""

    async def request(
        self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float, priority: Lane
    ) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """How to run one submission."""

    state_dir: Path
    route: Literal["auto", "bulk", "direct"] = "auto"
    dry_run: bool = False
    report_path: Path | None = None  # default: next to the state of the run
    undo_path: Path | None = None  # default: next to the state of the run
    profile: ShopProfile = field(default_factory=ShopProfile)
    lane: BulkLaneConfig = field(default_factory=BulkLaneConfig)
    direct_concurrency: int = 32  # tasks queued at the scheduler at once; the scheduler caps in flight
    inline_shards: bool = False  # store shards in the journal (a fleet's workers share no disk)
    read_ahead: ReadAhead = field(default_factory=ReadAhead)
    drain: bool = True  # run the shards here; False = enqueue for `bulk worker` processes


@dataclass
class SubmissionResult:
    """What happened to a submission."""

    run_key: str
    route: Route
    plan: dict[str, int]
    summary: dict[str, int]
    outcomes: Outcomes
    report_path: Path | None
    undo_path: Path | None
    operations: list[dict[str, Any]] = field(default_factory=list)
    simulated: bool = False

    @property
    def rejected(self) -> int:
        """Rows that were not applied because of a problem (not no-ops)."""
        return self.summary.get(OutcomeStatus.REJECTED.value, 0)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` and the CLI summary (no per-row data: see the report CSV)."""
        return {
            "run_key": self.run_key,
            "simulated": self.simulated,
            "route": self.route.kind,
            "eta_bulk_s": round(self.route.eta_bulk_s, 1),
            "eta_direct_s": round(self.route.eta_direct_s, 1),
            "plan": self.plan,
            "summary": self.summary,
            "operations": self.operations,
            "report": str(self.report_path) if self.report_path else None,
            "undo": str(self.undo_path) if self.undo_path else None,
        }


def run_key_for(paths: Iterable[Path], shop_id: str, options: Mapping[str, Any]) -> str:
    """A stable key for (input bytes, shop, options): the same command again is the same run."""
    digest = hashlib.sha256(shop_id.encode())
    digest.update(json.dumps(dict(options), sort_keys=True, default=str).encode())
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


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
    ) -> None:
        self._requester = requester
        self._port = port
        self._catalog = catalog
        self._journal = journal
        self._options = options
        self._worker_id = worker_id
        self._inventory = inventory
        self._on_event = on_event or (lambda _name, _data: None)
        self._planner = StreamPlanner(catalog)
        self._unit_lines: dict[str, list[PlannedLine]] = {}
        self._released = asyncio.Event()
        self._routes: list[Route] = []
        self._stats: Counter[str] = Counter()

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
        resume = not created and run.status in (RunStatus.RUNNING, RunStatus.DONE)
        lane = BulkLane(self._port, self._journal, self._options.lane, worker_id=self._worker_id,
                        workdir=workdir / "uploads", on_event=self._lane_event)
        planning_done = asyncio.Event()
        error: BulkError | None = None
        async with asyncio.TaskGroup() as tg:
            if self._options.drain:
                tg.create_task(lane.drain(run.run_id, until=planning_done), name="bulk-lane")
            try:
                if resume:
                    self._on_event("resumed", {"run": run.run_id})
                else:
                    await self._stream(source, run.run_id, run_key, workdir, lane, tg)
            except BulkError as exc:
                error = exc
            finally:
                planning_done.set()
                lane.notify()
        if error is not None:
            await self._journal.set_run_status(run.run_id, RunStatus.FAILED, error=str(error))
        elif not self._options.drain:
            await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
            return self._result(run_key, {}, None, lane)
        else:
            await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
            await self._journal.set_run_status(run.run_id, RunStatus.DONE)
        outcomes = {(o.file, o.line): (o.status, o.reason or "")
                    for o in await self._journal.list_outcomes(run.run_id)}
        report = self._options.report_path or workdir / "report.csv"
        await asyncio.to_thread(write_report_csv, report, outcomes)
        if error is not None:
            raise error
        return self._result(run_key, outcomes, report, lane, undo=self._undo_path(workdir))

    def _result(self, run_key: str, outcomes: Outcomes, report: Path | None, lane: BulkLane | None,
                *, undo: Path | None = None) -> SubmissionResult:
        bulk = [r for r in self._routes if r.kind == "bulk"]
        route = Route("bulk" if bulk else "direct", sum(r.eta_bulk_s for r in self._routes),
                      sum(r.eta_direct_s for r in self._routes), sum(r.shards for r in bulk))
        result = SubmissionResult(run_key, route, dict(self._stats), summarize(outcomes), outcomes, report,
                                  undo)
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
        """Plan everything, send nothing: the plan's figures and both routes' ETA."""
        outcomes: Outcomes = {}
        lines: list[PlannedLine] = []
        async for chunk in chunks(source, self._options.read_ahead):
            part = await asyncio.to_thread(self._planner.plan_chunk, chunk)
            self._count(part.plan)
            lines += part.plan.lines
            for o in [*part.rejected, *part.plan.outcomes]:
                outcomes[o.row] = (o.status, o.reason)
        self._routes.append(self._route(lines))
        self._on_event("planned", {"plan": dict(self._stats), "route": self._routes[-1]})
        return self._result(run_key, outcomes, None, None)

    def _count(self, plan: Plan) -> None:
        for key, value in plan.statistics().items():
            self._stats[key] += value

    async def _stream(self, source: Source, run_id: int, run_key: str, workdir: Path, lane: BulkLane,
                      tg: asyncio.TaskGroup) -> None:
        undo = self._undo_path(workdir)
        await asyncio.to_thread(write_undo, undo, [])  # a fresh file; each chunk appends its old values
        number = 0
        async for chunk in chunks(source, self._options.read_ahead):
            part = await asyncio.to_thread(self._planner.plan_chunk, chunk)
            self._count(part.plan)
            decided = [Outcome(o.row[0], o.row[1], o.status, o.reason or None)
                       for o in [*part.rejected, *part.plan.outcomes]]
            await self._journal.record_outcomes(run_id, decided)
            await asyncio.to_thread(append_undo, undo, part.plan.undo)
            if part.inventory:
                tg.create_task(self._send_inventory(part.inventory, run_id))
            ready = self._planner.release_held() + self._planner.admit(part.plan.lines)
            self._on_event("planned", {"plan": dict(self._stats), "route": self._route(part.plan.lines),
                                       "chunk": number, "held": self._planner.held})
            await self._dispatch(ready, f"{run_key}/{number}", run_id, workdir, lane, tg)
            number += 1
        while self._planner.held:  # lines waiting behind in-flight lines of their product
            self._released.clear()
            if self._options.drain:
                await self._released.wait()  # our own lane reports each finished shard
            else:
                # the fleet's workers run the shards: watch the journal for finished ones
                await self._release_finished_units(run_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), self._options.lane.idle_wait_s)
            ready = self._planner.release_held()
            await self._dispatch(ready, f"{run_key}/h{_digest(ready)}", run_id, workdir, lane, tg)

    async def _dispatch(self, lines: list[PlannedLine], ident: str, run_id: int, workdir: Path,
                        lane: BulkLane, tg: asyncio.TaskGroup) -> None:
        if not lines:
            return
        route = self._route(lines)
        self._routes.append(route)
        if route.kind == "direct":
            tg.create_task(self._send_direct(lines, run_id))
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

    async def _release_finished_units(self, run_id: int) -> None:
        """Release the lines of shards finished elsewhere (with every retry shard they spawned)."""
        open_roots = {u.client_identifier.split("/retry", 1)[0]
                      for u in await self._journal.list_units(run_id)
                      if u.state not in (UnitState.DONE, UnitState.FAILED)}
        for root in [r for r in self._unit_lines if r not in open_roots]:
            self._finished(self._unit_lines.pop(root))

    def _lane_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "shard_done" and not data.get("retried"):
            root = str(data.get("ident", "")).split("/retry", 1)[0]
            self._finished(self._unit_lines.pop(root, []))
        self._on_event(name, data)

    def _finished(self, lines: list[PlannedLine]) -> None:
        if lines:
            self._planner.done(lines)
            self._released.set()

    async def _send_direct(self, lines: list[PlannedLine], run_id: int) -> None:
        # a re-run after a crash skips lines whose rows all have their outcome already
        done = {(o.file, o.line) for o in await self._journal.list_outcomes(run_id)}
        todo = [line for line in lines if not all(row in done for row in line.rows)]
        gate = asyncio.Semaphore(self._options.direct_concurrency)

        async def send(line: PlannedLine) -> None:
            async with gate:
                status, reason = await self._send_line(line)
            await self._journal.record_outcomes(
                run_id, [Outcome(f, n, status, reason or None) for f, n in line.rows])
            self._on_event("line_done", {"rows": len(line.rows)})

        async with asyncio.TaskGroup() as tg:
            for line in todo:
                tg.create_task(send(line))
        self._finished(lines)

    async def _send_line(self, line: PlannedLine) -> tuple[OutcomeStatus, str]:
        try:
            response = await self._requester.request(
                document(DIRECT_DOCUMENTS[line.kind]), line.variables, cost=line_cost(line),
                priority=Lane.NORMAL,
            )
        except ShopifyError as exc:
            return OutcomeStatus.REJECTED, f"shop refused: {exc}"
        return decide({"data": getattr(response, "data", None) or {}})

    async def _send_inventory(self, updates: list[InventoryUpdate], run_id: int) -> None:
        if self._inventory is None:
            reason = "inventory rows need the urgent lane (use `bulk inventory submit`)"
            results: Sequence[tuple[OutcomeStatus, str]] = [(OutcomeStatus.REJECTED, reason)] * len(updates)
        else:
            results = await self._inventory(updates)
        await self._journal.record_outcomes(run_id, [
            Outcome(u.source.file, u.source.line, status, reason or None)
            for u, (status, reason) in zip(updates, results, strict=True)])


def _digest(lines: list[PlannedLine]) -> str:
    """A content hash: held lines released in the same groups get the same unit identity on a re-run."""
    h = hashlib.sha256()
    for line in lines:
        h.update(json.dumps(line.variables, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _row_error(err: RowError) -> str:
    return f"column {err.column}: {err.reason}" if err.column is not None else err.reason
