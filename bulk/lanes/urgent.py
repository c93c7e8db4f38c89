"""The urgent lane: inventory changes that arrive together leave together, within a few milliseconds.

Why micro-batching: 10,000 changes sent one by one would cost 10,000 calls of 10 points; grouped by
the ≤ 250 input-list limit they cost 40. A change waits at most ``window_s`` for company (a full
batch leaves at once), so latency stays close to the shop's own.

Rules (pure functions below, carried out by :class:`UrgentLane`):

- a batch holds at most one change per (item, location): Shopify refuses duplicates, and two changes
  to one pair must land in arrival order, so a later one waits for the batch holding the earlier one;
- each batch carries ``@idempotent(key:)`` = a hash of its content (and the lane's ``scope``), so a
  retry after a dropped connection is applied at most once, whatever the transport retries;
- per-item answers: ``userErrors[].field = ["input", "quantities", i, …]`` names item *i*; a stale
  ``changeFromQuantity`` is STALE, any other code REJECTED. When the shop applied nothing
  (``inventoryAdjustmentGroup`` null) the untouched items are re-sent as a new batch (new key).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from bulk.clock import Clock, MonotonicClock
from bulk.errors import ShopifyError
from bulk.shopify.inventory import MAX_QUANTITIES, QuantityChange

log = logging.getLogger(__name__)

STALE_CODES = frozenset({"CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"})

Sender = Callable[[Sequence[QuantityChange], str], Awaitable[Mapping[str, Any]]]
"""Sends one batch with its idempotency key; returns the ``inventorySetQuantities`` payload."""


class InventoryStatus(enum.StrEnum):
    """How one inventory change ended."""

    APPLIED = "applied"
    STALE = "stale"  # compare-and-set: the shop no longer had ``change_from``
    REJECTED = "rejected"  # with a reason (unknown SKU, bad location, shop refused, …)


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryResult:
    """The outcome of one change, in the order the changes were given."""

    status: InventoryStatus
    sku: str | None = None
    inventory_item_id: str | None = None
    location_id: str | None = None
    quantity: int | None = None
    reason: str | None = None
    code: str | None = None
    previous: int | None = None  # the quantity before an applied change (None: unchanged, or not said)

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` output and reports."""
        return {
            "status": self.status.value,
            "sku": self.sku,
            "inventory_item_id": self.inventory_item_id,
            "location_id": self.location_id,
            "quantity": self.quantity,
            "reason": self.reason,
            "code": self.code,
            "previous": self.previous,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UrgentConfig:
    """Micro-batching knobs. ``scope`` salts idempotency keys (default: random per lane)."""

    window_s: float = 0.003
    max_batch: int = MAX_QUANTITIES
    scope: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= MAX_QUANTITIES:
            raise ValueError(f"max_batch must be 1..{MAX_QUANTITIES}")
        if self.window_s < 0:
            raise ValueError("window_s must be >= 0")


# -- pure decisions ------------------------------------------------------------------------------


def idempotency_key(changes: Sequence[QuantityChange], *, scope: str) -> str:
    """A key derived from the batch content: the same batch always gets the same key."""
    content = [scope, [[c.inventory_item_id, c.location_id, c.quantity, c.change_from] for c in changes]]
    digest = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    return f"bulk-inv-{digest[:40]}"


def take_batch(
    pending: Sequence[QuantityChange], busy: set[tuple[str, str]], max_batch: int
) -> tuple[list[int], list[int]]:
    """Split ``pending`` (in arrival order) into (indexes to send now, indexes that must wait).

    A change waits if its pair is ``busy`` (in flight) or already taken, or the batch is full; once a
    pair must wait, every later change to it waits too (order per pair is kept).
    """
    taken: list[int] = []
    waiting: list[int] = []
    blocked = set(busy)
    for i, change in enumerate(pending):
        if change.pair in blocked or len(taken) >= max_batch:
            waiting.append(i)
            blocked.add(change.pair)
            continue
        taken.append(i)
        blocked.add(change.pair)
    return taken, waiting


def _item_index(error: Mapping[str, Any], size: int) -> int | None:
    path = error.get("field") or []
    if len(path) >= 3 and path[0] == "input" and path[1] == "quantities":
        try:
            index = int(path[2])
        except (TypeError, ValueError):
            return None
        return index if 0 <= index < size else None
    return None


def interpret(
    batch: Sequence[QuantityChange], payload: Mapping[str, Any]
) -> tuple[dict[int, InventoryResult], list[int]]:
    """Per-item results of one answer, and the indexes to re-send (applied nothing, no error of theirs)."""
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, Mapping)]
    applied_any = payload.get("inventoryAdjustmentGroup") is not None
    results: dict[int, InventoryResult] = {}
    general: list[Mapping[str, Any]] = []
    for error in errors:
        index = _item_index(error, len(batch))
        if index is None:
            general.append(error)
            continue
        code = error.get("code")
        status = InventoryStatus.STALE if code in STALE_CODES else InventoryStatus.REJECTED
        results.setdefault(index, _result(batch[index], status, str(error.get("message")), code))
    if general:
        reason = "; ".join(str(e.get("message")) for e in general)
        code = general[0].get("code")
        for i, change in enumerate(batch):
            results.setdefault(i, _result(change, InventoryStatus.REJECTED, reason, code))
        return results, []
    if errors and not applied_any:
        return results, [i for i in range(len(batch)) if i not in results]
    before = _quantities_before(payload.get("inventoryAdjustmentGroup"))
    for i, change in enumerate(batch):
        if i not in results:
            results[i] = _result(change, InventoryStatus.APPLIED, None, None,
                                 previous=before.get((change.inventory_item_id, change.location_id)))
    return results, []


def _quantities_before(group: Any) -> dict[tuple[str, str], int]:
    """(item, location) → the available quantity before the change, from the group's changes
    (``quantityAfterChange - delta``); an unchanged quantity has no change and is absent."""
    out: dict[tuple[str, str], int] = {}
    changes = group.get("changes") if isinstance(group, Mapping) else None
    for ch in changes or []:
        after, delta = ch.get("quantityAfterChange"), ch.get("delta")
        if ch.get("name") == "available" and isinstance(after, int) and isinstance(delta, int):
            item, location = (ch.get("item") or {}).get("id"), (ch.get("location") or {}).get("id")
            out[(str(item), str(location))] = after - delta
    return out


def _result(
    change: QuantityChange, status: InventoryStatus, reason: str | None, code: Any, *,
    previous: int | None = None,
) -> InventoryResult:
    return InventoryResult(
        status=status,
        inventory_item_id=change.inventory_item_id,
        location_id=change.location_id,
        quantity=change.quantity,
        reason=reason,
        code=code if isinstance(code, str) else None,
        previous=previous,
    )


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

    def submit(self, change: QuantityChange) -> asyncio.Future[InventoryResult]:
        """Queue one change; the future resolves to its :class:`InventoryResult`."""
        if not self._open:
            raise RuntimeError("UrgentLane is not open: use 'async with'")
        future: asyncio.Future[InventoryResult] = asyncio.get_running_loop().create_future()
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
                try:
                    payload = await self._send(changes, key)
                except ShopifyError as exc:
                    for change, future in batch:
                        self._resolve(future, _result(change, InventoryStatus.REJECTED, str(exc), None))
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
