"""The urgent lane: inventory changes that arrive together leave together, within a few milliseconds.

Why micro-batching: 10,000 changes sent one by one would cost 10,000 calls of 10 points; grouped by
the ≤ 250 input-list limit they cost 40. A change waits at most ``window_s`` for company (a full
batch leaves at once), so latency stays close to the shop's own.

Rules (pure functions in :mod:`bulk.lanes._urgent_rules`, carried out by :class:`UrgentLane`):

- a batch holds at most one change per (item, location): Shopify refuses duplicates, and two changes
  to one pair must land in arrival order, so a later one waits for the batch holding the earlier one;
- each batch carries ``@idempotent(key:)`` = a hash of its content (and the lane's ``scope``), so a
  retry after a dropped connection is applied at most once, whatever the transport retries;
- per-item answers: ``userErrors[].field = ["input", "quantities", i, …]`` names item *i*; a stale
  ``changeFromQuantity`` is STALE, any other code REJECTED. When the shop applied nothing
  (``inventoryAdjustmentGroup`` null) the untouched items are re-sent as a new batch (new key);
- a deadline (``UrgentConfig.deadline_s``, 10 s by default, counted from a change's submission on
  the lane's clock): whatever the shop does (hangs, 5xx bursts, throttling), every change has its
  answer by then — applied, or REJECTED with code ``DEADLINE`` saying the shop did not answer in time
  (the batch carried an idempotency key, so sending the same change again cannot apply it twice);
- a shop that refuses the whole run (402 frozen, 423 locked, every token refused: a
  :class:`~bulk.errors.RunStoppedError`) is not a per-change answer: the changes' futures raise it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from bulk.clock import Clock, MonotonicClock
from bulk.errors import RunStoppedError, ShopifyError
from bulk.lanes._urgent_rules import (  # the lane's vocabulary and pure decisions, re-exported
    DEADLINE_CODE,
    STALE_CODES,
    InventoryResult,
    InventoryStatus,
    UrgentConfig,
    change_result,
    idempotency_key,
    interpret,
    take_batch,
)
from bulk.shopify.inventory import QuantityChange

__all__ = ["DEADLINE_CODE", "STALE_CODES", "InventoryResult", "InventoryStatus", "Sender", "UrgentConfig",
           "UrgentLane", "UrgentStatistics", "idempotency_key", "interpret", "take_batch"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Sender = Callable[[Sequence[QuantityChange], str], Awaitable[Mapping[str, Any]]]
"""Sends one batch with its idempotency key; returns the ``inventorySetQuantities`` payload."""


# -- the lane ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UrgentStatistics:
    """A snapshot of the urgent lane's counters."""

    submitted: int
    batches: int
    largest_batch: int
    results: Mapping[str, int]  # results by status ("applied", "stale", "rejected")
    pending: int  # waiting for the micro-batch window
    in_flight_batches: int


class UrgentLane:
    """Collects changes for ``window_s`` (or until a batch is full) and sends them through ``send``."""

    def __init__(
        self, send: Sender, *, config: UrgentConfig | None = None, clock: Clock | None = None
    ) -> None:
        self._send = send
        self.config = config or UrgentConfig()
        self.clock: Clock = clock or MonotonicClock()
        self._pending: list[tuple[QuantityChange, asyncio.Future[InventoryResult]]] = []
        self._submitted_at: dict[int, float] = {}  # id(future) → when its change was submitted
        self._busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._open = False
        self._batches = 0
        self._submitted = 0
        self._by_status: dict[str, int] = {}
        self._largest_batch = 0

    async def __aenter__(self) -> Self:
        self._open = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        if exc is None:  # drain: every change submitted gets its answer
            while self._pending or self._tasks:
                self._flush()
                if self._tasks:
                    await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for task in [*self._tasks, *([self._timer] if self._timer else [])]:
            task.cancel()
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()

    def submit(
        self, change: QuantityChange, *, since: float | None = None
    ) -> asyncio.Future[InventoryResult]:
        """Queue one change; the future resolves to its :class:`InventoryResult`. Its deadline counts
        from ``since`` (on the lane's clock; default now): a caller that looked the SKU up first
        passes when it was asked."""
        if not self._open:
            raise RuntimeError("UrgentLane is not open: use 'async with'")
        future: asyncio.Future[InventoryResult] = asyncio.get_running_loop().create_future()
        self._submitted_at[id(future)] = self.clock.now() if since is None else since
        future.add_done_callback(lambda f: self._submitted_at.pop(id(f), None))
        self._pending.append((change, future))
        self._submitted += 1
        if len(self._pending) >= self.config.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_after_window(), name="urgent-lane-window")
        return future

    async def set(self, changes: Sequence[QuantityChange]) -> list[InventoryResult]:
        """Submit ``changes`` together and wait for all their results (same order)."""
        futures = [self.submit(c) for c in changes]
        return list(await asyncio.gather(*futures))

    async def _flush_after_window(self) -> None:
        try:
            await self.clock.sleep(self.config.window_s)
        finally:
            self._timer = None
        self._flush()

    def _flush(self) -> None:
        """Start every batch that may leave now (waiting pairs stay pending)."""
        while self._pending:
            taken, waiting = take_batch([c for c, _ in self._pending], self._busy, self.config.max_batch)
            if not taken:
                return
            batch = [self._pending[i] for i in taken]
            self._pending = [self._pending[i] for i in waiting]
            self._busy.update(change.pair for change, _ in batch)
            task = asyncio.create_task(self._run_batch(batch), name=f"urgent-batch-{self._batches}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[tuple[QuantityChange, asyncio.Future[InventoryResult]]]) -> None:
        try:
            while batch:
                changes = [c for c, _ in batch]
                key = idempotency_key(changes, scope=self.config.scope)
                self._batches += 1
                self._largest_batch = max(self._largest_batch, len(batch))
                due = min(self._submitted_at.get(id(f), self.clock.now()) for _, f in batch) \
                    + self.config.deadline_s
                try:
                    payload = await self.before(due, self._send(changes, key))
                except RunStoppedError as exc:  # the whole run stops: not a per-change answer
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    return
                except ShopifyError as exc:
                    for change, future in batch:
                        self._resolve(future, change_result(change, InventoryStatus.REJECTED, str(exc), None))
                    return
                except TimeoutError:
                    reason = (f"no answer from the shop within the {self.config.deadline_s:g}s deadline: "
                              "the change may or may not have been applied; check the shop before "
                              "sending it again")
                    for change, future in batch:
                        self._resolve(future, change_result(change, InventoryStatus.REJECTED, reason,
                                                      DEADLINE_CODE))
                    return
                results, resend = interpret(changes, payload)
                for i, result in results.items():
                    self._resolve(batch[i][1], result)
                batch = [batch[i] for i in resend]
        except Exception as exc:  # a bug, not a shop answer: fail the callers loudly, not silently
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        finally:
            self._busy.difference_update(change.pair for change, _ in batch)
            if self._pending and self._open:
                self._flush()

    async def before(self, due: float, send: Awaitable[T]) -> T:
        """``send``'s answer, or :class:`TimeoutError` (the send cancelled) once the lane's clock
        reaches ``due``: the deadline is kept on the lane's clock, so tests never sleep."""
        sending = asyncio.ensure_future(send)
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, due - self.clock.now())))
        try:
            await asyncio.wait({sending, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not sending.done():
                sending.cancel()
                with contextlib.suppress(BaseException):
                    await sending
        if sending.cancelled():
            raise TimeoutError
        return sending.result()

    def _resolve(self, future: asyncio.Future[InventoryResult], result: InventoryResult) -> None:
        self._by_status[result.status.value] = self._by_status.get(result.status.value, 0) + 1
        self._busy.discard((result.inventory_item_id or "", result.location_id or ""))
        if not future.done():
            future.set_result(result)

    def statistics(self) -> UrgentStatistics:
        """Changes submitted, batches sent, results by status, what is pending and in flight."""
        return UrgentStatistics(submitted=self._submitted, batches=self._batches,
                                largest_batch=self._largest_batch, results=dict(self._by_status),
                                pending=len(self._pending), in_flight_batches=len(self._tasks))

    def __repr__(self) -> str:
        return (
            f"UrgentLane(window_s={self.config.window_s}, submitted={self._submitted}, "
            f"batches={self._batches}, pending={len(self._pending)}, in_flight={len(self._tasks)})"
        )
