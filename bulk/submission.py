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
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from bulk.catalog import CatalogStore
from bulk.errors import ShopifyError
from bulk.journal import Journal, Outcome, RunStatus
from bulk.lanes.bulk import BulkLane, BulkLaneConfig, BulkOpsPort, decide
from bulk.lanes.shard_data import from_shard_file
from bulk.models import InventoryUpdate, Lane, OutcomeStatus, RowError, Update
from bulk.plan import (
    Coalescer,
    Plan,
    PlannedLine,
    Route,
    RowOutcome,
    ShopProfile,
    build_plan,
    choose_route,
    line_cost,
)
from bulk.plan import write_shards as _write_shards
from bulk.plan.gcpause import cyclic_gc_paused
from bulk.report import summarize, write_report_csv, write_undo
from bulk.shopify.documents import document

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
    """Runs one submission against one shop, durably: its state lives in the journal."""

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

    async def run(
        self, items: Callable[[], Iterable[Update | RowError]], *, run_key: str, input_name: str
    ) -> SubmissionResult:
        """Apply what ``items()`` yields (updates and row errors in input order).

        A run key seen before resumes that run: its plan is in the journal, nothing is read again and
        bulk operations already started are adopted, not started twice."""
        run, created = await self._journal.create_run(
            run_key, input_name=input_name, input_hash=run_key, options={"route": self._options.route})
        units = [] if created else await self._journal.list_units(run.run_id)
        workdir = self._options.state_dir / "runs" / run_key
        if units:
            self._on_event("resumed", {"run": run.run_id, "units": len(units)})
            route = Route("bulk", 0.0, 0.0, len(units))
            plan_stats: dict[str, int] = {"lines": sum(u.line_count for u in units)}
        else:
            plan, route = await self._plan(items, run.run_id)
            plan_stats = plan.statistics()
            if self._options.dry_run:
                outcomes = {(o.row[0], o.row[1]): (o.status, o.reason) for o in plan.outcomes}
                return SubmissionResult(run_key, route, plan_stats, summarize(outcomes), outcomes, None, None)
            await asyncio.to_thread(write_undo, self._undo_path(workdir), plan.undo)
            if route.kind == "bulk":
                shards = await asyncio.to_thread(_write_shards, plan.lines, workdir / "shards",
                                                 shards=route.shards)
                await self._journal.add_units(run.run_id, [
                    from_shard_file(f"{run_key}/{i}", s, inline=self._options.inline_shards)
                    for i, s in enumerate(shards)])
                self._on_event("sharded", {"shards": len(shards), "lines": len(plan.lines)})
            else:
                await self._send_direct(plan.lines, run.run_id)
        await self._journal.set_run_status(run.run_id, RunStatus.RUNNING)
        lane = BulkLane(self._port, self._journal, self._options.lane, worker_id=self._worker_id,
                        workdir=workdir / "uploads", on_event=self._on_event)
        if not self._options.drain:
            return SubmissionResult(run_key, route, plan_stats, {}, {}, None, self._undo_path(workdir))
        await lane.drain(run.run_id)
        await self._journal.set_run_status(run.run_id, RunStatus.DONE)
        outcomes = {(o.file, o.line): (o.status, o.reason or "")
                    for o in await self._journal.list_outcomes(run.run_id)}
        report = self._options.report_path or workdir / "report.csv"
        await asyncio.to_thread(write_report_csv, report, outcomes)
        result = SubmissionResult(run_key, route, plan_stats, summarize(outcomes), outcomes, report,
                                  self._undo_path(workdir))
        result.operations = [{"id": op.id, "status": op.status, "objects": op.object_count,
                              "error": op.error_code} for op in lane.operations]
        return result

    def _undo_path(self, workdir: Path) -> Path:
        return self._options.undo_path or workdir / "undo.jsonl"

    async def _plan(self, items: Callable[[], Iterable[Update | RowError]], run_id: int
                    ) -> tuple[Plan, Route]:
        # reading and planning are CPU-bound: a worker thread keeps the event loop responsive
        plan, route, inventory, rejected = await asyncio.to_thread(self._plan_sync, items)
        self._on_event("planned", {"plan": plan.statistics(), "route": route})
        if not self._options.dry_run:
            decided = [Outcome(o.row[0], o.row[1], o.status, o.reason or None) for o in plan.outcomes]
            await self._journal.record_outcomes(run_id, rejected + decided)
            if inventory:
                await self._send_inventory(inventory, run_id)
        else:
            plan.outcomes.extend(RowOutcome((o.file, o.line), o.status, o.reason or "") for o in rejected)
        return plan, route

    def _plan_sync(self, items: Callable[[], Iterable[Update | RowError]]
                   ) -> tuple[Plan, Route, list[InventoryUpdate], list[Outcome]]:
        coalescer = Coalescer()
        inventory: list[InventoryUpdate] = []
        rejected: list[Outcome] = []
        with cyclic_gc_paused():
            for item in items():
                if isinstance(item, RowError):
                    rejected.append(Outcome(item.file, item.line, OutcomeStatus.REJECTED, _row_error(item)))
                elif isinstance(item, InventoryUpdate):
                    inventory.append(item)
                else:
                    coalescer.add(item)
            plan = build_plan(coalescer, self._catalog)
        route = choose_route(plan.lines, self._options.profile,
                             force=None if self._options.route == "auto" else self._options.route)
        return plan, route, inventory, rejected

    async def _send_direct(self, lines: list[PlannedLine], run_id: int) -> None:
        # a re-run after a crash skips lines whose rows all have their outcome already
        done = {(o.file, o.line) for o in await self._journal.list_outcomes(run_id)}
        queue: asyncio.Queue[PlannedLine] = asyncio.Queue()
        for line in lines:
            if not all(row in done for row in line.rows):
                queue.put_nowait(line)

        async def worker() -> None:
            while not queue.empty():
                line = queue.get_nowait()
                status, reason = await self._send_line(line)
                await self._journal.record_outcomes(
                    run_id, [Outcome(f, n, status, reason or None) for f, n in line.rows])
                self._on_event("line_done", {"rows": len(line.rows)})

        async with asyncio.TaskGroup() as tg:
            for _ in range(min(self._options.direct_concurrency, queue.qsize())):
                tg.create_task(worker())

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


def _row_error(err: RowError) -> str:
    return f"column {err.column}: {err.reason}" if err.column is not None else err.reason
