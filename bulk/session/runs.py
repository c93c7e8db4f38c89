"""Mass changes from the library: ``run = shop.submit(updates)`` — progress, wait, outcomes, cancel.

``updates`` is anything a file reader produces, from the caller's own code: an iterable or async
iterable of update models (or of lists of them — a batch per slow query is fine). The run reads its
source ahead concurrently with planning and sending (see :mod:`bulk.sources.readahead`), records everything in
the journal, and hands back a :class:`RunHandle` at once. The CLI's ``bulk submit`` is the same path
with files as the source (a :class:`~bulk.sources.files.FileInput`, which ``updates`` may be too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiohttp

from bulk.errors import ShopifyError
from bulk.journal import Journal, RunCounters, RunStatus, UnitState
from bulk.lanes.bulk.ports import decode_remote
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.models import OutcomeStatus
from bulk.sources.files import FileInput
from bulk.sources.readahead import Source
from bulk.submit.options import CANCELLED_REASON, RunOptions, rehearsal_outputs
from bulk.submit.root import run_submission
from bulk.submit.submission import SubmissionResult

if TYPE_CHECKING:
    from bulk.session.shop import Shop

log = logging.getLogger(__name__)


class CancelPort(Protocol):
    """What cancelling needs of the shop: ``bulkOperationCancel`` (:class:`ShopBulkOps` is one)."""

    async def cancel(self, op_id: str, *, token_index: int) -> str: ...


@dataclass(frozen=True, slots=True)
class CancelledOperation:
    """One bulk operation a cancel asked the shop to stop, and the status the shop answered
    (``CANCELING``/``CANCELED``; the final status if it had ended already; ``ERROR: …``)."""

    token_index: int
    operation: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReport:
    """What a cancel did. Rows not applied keep *no* outcome (they are not rejected): a final outcome
    could never change again (invariant 5), and the same submission run again must apply them."""

    run_id: int | None = None
    input_name: str = ""
    previous_status: str = ""
    operations: tuple[CancelledOperation, ...] = ()
    counters: RunCounters = field(default_factory=RunCounters)  # rows decided before the cancel
    units_not_done: int = 0  # shards and batches the cancel left pending: given back, not claimed
    lines_not_applied: int = 0  # their mutation lines (each holds one or more input rows)

    @property
    def finished_before(self) -> bool:
        """True when the run had already ended (done, or cancelled) and nothing was cancelled now."""
        ended = self.previous_status in (RunStatus.DONE.value, RunStatus.CANCELLED.value)
        return ended and not self.operations


async def cancel_operations(port: CancelPort, running: Mapping[str, int | None],
                            tokens: int) -> tuple[CancelledOperation, ...]:
    """``bulkOperationCancel`` for each running operation (``op id → token``; an unknown token is looked
    for on every token: an operation belongs to the app that started it). A refusal is reported, not
    raised: the other operations must still be cancelled."""
    out: list[CancelledOperation] = []
    for op, token in running.items():
        candidates = [token] if token is not None else list(range(tokens))
        status = "NOT_FOUND"
        for index in candidates:
            try:
                status = await port.cancel(op, token_index=index)
            except ShopifyError as exc:
                status = f"ERROR: {exc}"
            if status != "NOT_FOUND":
                out.append(CancelledOperation(index, op, status))
                break
        else:
            out.append(CancelledOperation(candidates[0] if candidates else 0, op, status))
        log.info("bulk operation cancel asked", extra={"action": "run.cancel_operation", "op": op,
                                                       "status": out[-1].status})
    return tuple(out)


async def cancel_run(journal: Journal, port: CancelPort, run_id: int) -> CancelReport:
    """Cancel a run recorded in ``journal`` from any process: mark it failed with
    :data:`CANCELLED_REASON` — workers stop claiming its units, and a re-submission of the same input
    resumes it (a *failed* run may resume; a ``cancelled`` one never could) — then cancel every bulk
    operation it has running on the shop. Rows already decided keep their outcomes; the rest keep none."""
    run = await journal.get_run(run_id)
    if run.status in (RunStatus.DONE, RunStatus.CANCELLED):
        return CancelReport(run_id=run_id, input_name=run.input_name, previous_status=run.status.value,
                            counters=run.counters)
    # cancelled before (a failed run with the operator's reason): said as such, and only an operation
    # the first cancel could not stop is asked again
    cancelled_before = run.status is RunStatus.FAILED and run.error == CANCELLED_REASON
    previous = RunStatus.CANCELLED.value if cancelled_before else run.status.value
    if not cancelled_before:
        await journal.set_run_status(run_id, RunStatus.FAILED, error=CANCELLED_REASON)
    units = await journal.list_units(run_id)
    running: dict[str, int | None] = {}
    for unit in units:
        if unit.state is UnitState.SUBMITTED and unit.remote_id:
            token, op = decode_remote(unit.remote_id)
            running[op] = token
    if cancelled_before and not running:
        return CancelReport(run_id=run_id, input_name=run.input_name, previous_status=previous,
                            counters=run.counters)
    operations = await cancel_operations(port, running, tokens=1)
    left = [u for u in units if u.state not in (UnitState.DONE, UnitState.FAILED)]
    run = await journal.get_run(run_id)
    return CancelReport(run_id=run_id, input_name=run.input_name, previous_status=previous,
                        operations=operations, counters=run.counters, units_not_done=len(left),
                        lines_not_applied=sum(u.line_count for u in left))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunProgress:
    """A snapshot of a running submission."""

    name: str
    done: bool
    plan: Mapping[str, int]  # rows planned so far, by outcome ("rows", "lines", "unchanged", …)
    shards_added: int
    shards_started: int
    shards_done: int
    direct_lines_done: int


class RunHandle:
    """A submission running in the background of an open :class:`~bulk.session.shop.Shop`."""

    def __init__(self, name: str, shop: Shop | None = None) -> None:
        self.name = name
        self._shop = shop
        self._events: Counter[str] = Counter()
        self._plan: dict[str, int] = {}
        self._task: asyncio.Task[SubmissionResult] | None = None
        self._running: dict[str, int | None] = {}  # bulk operations running now: op id → token

    def _on_event(self, name: str, data: dict[str, Any]) -> None:
        self._events[name] += 1
        if name == "planned":
            self._plan = dict(data.get("plan", {}))
        elif name == "shard_started":
            self._running[str(data["op"])] = int(data["token"])
        elif name == "shard_adopted":
            self._running[str(data["op"])] = data.get("token")
        elif name == "op_finished":
            self._running.pop(str(data["op"]), None)

    def progress(self) -> RunProgress:
        """A snapshot: rows planned so far by outcome, shards added and finished, lines sent directly."""
        events = self._events
        return RunProgress(name=self.name, done=self.done, plan=dict(self._plan),
                           shards_added=events["sharded"], shards_started=events["shard_started"],
                           shards_done=events["shard_done"], direct_lines_done=events["line_done"])

    @property
    def done(self) -> bool:
        """True once the run has finished (successfully, with an error, or cancelled)."""
        return self._task is not None and self._task.done()

    async def wait(self) -> SubmissionResult:
        """The run's result once every row has its outcome (raises what the run raised)."""
        assert self._task is not None
        return await self._task

    def cancel(self) -> asyncio.Task[CancelReport]:
        """Stop the run, and its bulk operations on the shop. Returns a task: ``await run.cancel()``
        waits until it is done and says what was cancelled (``run.cancel()`` alone starts it).

        The run stops sending at once (its claims are handed back, the journal keeps what was
        decided); each bulk operation it had running gets ``bulkOperationCancel`` — lines the shop
        applied before it stopped stay applied. Rows not applied keep no outcome, so submitting the
        same ``run_key`` again resumes the run and applies them."""
        running = dict(self._running)
        if self._task is not None:
            self._task.cancel()
        return asyncio.ensure_future(self._cancel_operations(running))

    async def _cancel_operations(self, running: Mapping[str, int | None]) -> CancelReport:
        operations: tuple[CancelledOperation, ...] = ()
        if running and self._shop is not None:
            async with aiohttp.ClientSession() as session:
                port = ShopBulkOps(self._shop.client, session)
                tokens = self._shop.client.transport.token_count
                operations = await cancel_operations(port, running, tokens=tokens)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task  # its own error, if any, is the caller's through wait()
        return CancelReport(operations=operations, previous_status=RunStatus.RUNNING.value)

    def outcomes(self) -> dict[tuple[str, int], tuple[OutcomeStatus, str]]:
        """Every row's outcome (after :meth:`wait`)."""
        assert self._task is not None and self._task.done(), "wait for the run first"
        return self._task.result().outcomes

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"RunHandle({self.name!r}, {state}, shards_done={self._events['shard_done']})"


def start_run(
    shop: Shop,
    updates: Source | FileInput,
    *,
    name: str = "library",
    run_key: str | None = None,
    route: Literal["auto", "bulk", "direct"] = "auto",
    state_dir: Path | None = None,
    journal: str | None = None,
    report: Path | None = None,
    undo: Path | None = None,
) -> RunHandle:
    """Start applying ``updates`` on ``shop`` in the background; see :meth:`bulk.session.shop.Shop.submit`.

    The report and undo file go where ``report``/``undo`` say; by default beside the input when
    ``name`` is its path — except on an embedded simulated shop (``sim://``), where they go where
    ``bulk submit`` puts a rehearsal's (:func:`bulk.submit.options.rehearsal_outputs`)."""
    handle = RunHandle(name, shop)
    simulation = shop.simulation
    if simulation is not None and simulation.embedded and (report is None or undo is None):
        default_report, default_undo = rehearsal_outputs(name, state_dir)
        report, undo = report or default_report, undo or default_undo
    options = RunOptions(route=route, state_dir=state_dir, journal=journal, report=report, undo=undo,
                         run_key=run_key or f"lib-{uuid.uuid4().hex[:16]}")
    handle._task = asyncio.create_task(
        run_submission(shop, options, updates, input_name=name, on_event=handle._on_event),
        name=f"bulk-run-{name}",
    )
    return handle
