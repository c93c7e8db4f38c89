"""The urgent lane: inventory changes that arrive together leave together, within a few milliseconds.

Why micro-batching: 10,000 changes sent one by one would cost 10,000 calls of 10 points; grouped by
the ≤ 250 input-list limit they cost 40. A change waits at most ``window_s`` for company (a full
batch leaves at once), so latency stays close to the shop's own.

Rules (pure functions in :mod:`bulk.lanes._urgent_rules`, carried out by :class:`UrgentLane`):

- a batch holds at most one change per (item, location): Shopify refuses duplicates, and two changes
  to one pair must land in arrival order, so a later one waits for the batch holding the earlier one —
  unless both still wait to leave: then they merge (:func:`merge`: the later quantity, the earlier
  check) and travel as one item, each answered as if sent in turn (:func:`split_result`);
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
  :class:`~bulk.errors.RunStoppedError`) is not a per-change answer: the changes' futures raise it;
- a send whose permit lost its lease goes again with a fresh permit (the client,
  :mod:`bulk.shopify.client`; on the same token when it may have reached the shop: the key replays);
  a permit lost again and again makes the batch's changes REJECTED with the reason, never a raise.

Every answered change leaves a :class:`ChangeTiming` (where its time went: lookups, window, loop,
grant, wire; :mod:`bulk.lanes._urgent_timing`); :meth:`UrgentLane.statistics` summarizes the last
``TIMINGS_KEPT`` of them. What the lane keeps per change and per batch, and its deadline wait:
:mod:`bulk.lanes._urgent_records`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from bulk.clock import Clock, MonotonicClock
from bulk.errors import PermitLostError, RunStoppedError, ShopifyError
from bulk.lanes import _urgent_records as records
from bulk.lanes._urgent_records import BatchTimes, Entry, Track, UrgentStatistics, members
from bulk.lanes._urgent_rules import (  # the lane's vocabulary and pure decisions, re-exported
    DEADLINE_CODE,
    STALE_CODES,
    InventoryResult,
    InventoryStatus,
    UrgentConfig,
    change_result,
    idempotency_key,
    interpret,
    merge,
    split_result,
    take_batch,
)
from bulk.lanes._urgent_timing import (  # where a change's time goes, re-exported
    PHASES,
    ChangeTiming,
    SendTimes,
    add_http,
    add_permit,
    recording,
    summarize,
)
from bulk.shopify.inventory import QuantityChange

__all__ = ["DEADLINE_CODE", "PHASES", "STALE_CODES", "ChangeTiming", "InventoryResult", "InventoryStatus",
           "SendTimes", "Sender", "UrgentConfig", "UrgentLane", "UrgentStatistics", "add_http", "add_permit",
           "idempotency_key", "interpret", "merge", "recording", "split_result", "summarize",
           "take_batch"]

log = logging.getLogger(__name__)
T = TypeVar("T")

Sender = Callable[[Sequence[QuantityChange], str], Awaitable[Mapping[str, Any]]]
"""Sends one batch with its idempotency key; returns the ``inventorySetQuantities`` payload."""

TIMINGS_KEPT = 10_000  # the latest changes' timings kept for statistics() and timings()


class UrgentLane:
    """Collects changes for ``window_s`` (or until a batch is full) and sends them through ``send``."""

    def __init__(
        self, send: Sender, *, config: UrgentConfig | None = None, clock: Clock | None = None
    ) -> None:
        self._send = send
        self.config = config or UrgentConfig()
        self.clock: Clock = clock or MonotonicClock()
        self._pending: list[Entry] = []
        self._last: dict[tuple[str, str], Entry] = {}  # pair → its latest pending entry
        self._tracks: dict[int, Track] = {}  # id(future) → its change's times
        self._timings: deque[ChangeTiming] = deque(maxlen=TIMINGS_KEPT)
        self._busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._open = False
        self._batches = 0
        self._submitted = 0
        self._by_status: dict[str, int] = {}
        self._largest_batch = 0
        self._merged = 0

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
        for entry in self._pending:
            for _, future in entry.members:
                future.cancel()
        self._pending.clear()
        self._last.clear()

    def submit(
        self, change: QuantityChange, *, since: float | None = None, lookups: SendTimes | None = None
    ) -> asyncio.Future[InventoryResult]:
        """Queue one change; the future resolves to its :class:`InventoryResult`. Its deadline counts
        from ``since`` (on the lane's clock; default now): a caller that looked the SKU up first
        passes when it was asked, and what the slowest lookup it waited for spent (``lookups``)."""
        if not self._open:
            raise RuntimeError("UrgentLane is not open: use 'async with'")
        future: asyncio.Future[InventoryResult] = asyncio.get_running_loop().create_future()
        now = self.clock.now()
        self._tracks[id(future)] = Track(since=now if since is None else since, entered=now,
                                         lookups=lookups or SendTimes())
        future.add_done_callback(lambda f: self._tracks.pop(id(f), None))
        self._submitted += 1
        entry = self._last.get(change.pair)
        merged = merge(entry.change, change) if entry is not None and entry.mergeable else None
        if entry is not None and merged is not None:
            entry.change = merged
            entry.members.append((change, future))
            self._merged += 1
            return future
        entry = self._last[change.pair] = Entry(change, [(change, future)])
        self._pending.append(entry)
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
            taken, waiting = take_batch([e.change for e in self._pending], self._busy, self.config.max_batch)
            batch = [self._pending[i] for i in taken]
            self._pending = [self._pending[i] for i in waiting]
            for entry in batch:
                self._busy.add(entry.change.pair)
                if self._last.get(entry.change.pair) is entry:
                    del self._last[entry.change.pair]  # on its way: later changes wait, not merge
            for entry in self._pending:  # an earlier change to its pair holds it back
                for _, future in entry.members if entry.change.pair in self._busy else ():
                    if (track := self._tracks.get(id(future))) is not None:
                        track.pair_wait = True
            if not batch:
                return
            task = asyncio.create_task(self._run_batch(batch, self.clock.now()),
                                       name=f"urgent-batch-{self._batches}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[Entry], created: float) -> None:
        started = self.clock.now()
        times = SendTimes()
        sending = 0.0  # seconds spent in sends (grants, wire and the rest)
        try:
            while batch:
                changes = [e.change for e in batch]
                key = idempotency_key(changes, scope=self.config.scope)
                self._batches += 1
                self._largest_batch = max(self._largest_batch, len(batch))
                due = min(self._since(f) for e in batch for _, f in e.members) + self.config.deadline_s
                sent = self.clock.now()
                try:
                    with recording(times):  # the send's tasks inherit it: grants and wire add to it
                        payload = await self.before(due, self._send(changes, key))
                except RunStoppedError as exc:  # the whole run stops: not a per-change answer
                    for _, future in members(batch):
                        if not future.done():
                            future.set_exception(exc)
                    return
                except (ShopifyError, PermitLostError) as exc:  # PermitLostError: lost again and again
                    sending += self.clock.now() - sent
                    for change, future in members(batch):
                        self._resolve(future, change_result(change, InventoryStatus.REJECTED, str(exc), None),
                                      (created, started, sending, times))
                    return
                except TimeoutError:
                    sending += self.clock.now() - sent
                    reason = (f"no answer from the shop within the {self.config.deadline_s:g}s deadline: "
                              "the change may or may not have been applied; check the shop before "
                              "sending it again")
                    for change, future in members(batch):
                        self._resolve(future, change_result(change, InventoryStatus.REJECTED, reason,
                                                      DEADLINE_CODE), (created, started, sending, times))
                    return
                sending += self.clock.now() - sent
                results, resend = interpret(changes, payload)
                for i, result in results.items():
                    self._answer(batch[i], result, (created, started, sending, times))
                batch = [batch[i] for i in resend]
        except Exception as exc:  # a bug, not a shop answer: fail the callers loudly, not silently
            for _, future in members(batch):
                if not future.done():
                    future.set_exception(exc)
        except BaseException:
            for _, future in members(batch):
                future.cancel()
            raise
        finally:
            self._busy.difference_update(e.change.pair for e in batch)
            if self._pending and self._open:
                self._flush()

    async def before(self, due: float, send: Awaitable[T]) -> T:
        """``send``'s answer, or :class:`TimeoutError` (the send cancelled) once the lane's clock
        reaches ``due``: the deadline is kept on the lane's clock, so tests never sleep."""
        return await records.before(self.clock, due, send)

    def _answer(self, entry: Entry, result: InventoryResult, batch: BatchTimes) -> None:
        """Answer an entry's changes. A merged entry the shop refused goes again one change at a
        time, first in line (which of its changes would have passed is not known)."""
        if len(entry.members) == 1:
            self._resolve(entry.members[0][1], result, batch)
        elif result.status is InventoryStatus.APPLIED:
            for (_, future), own in zip(entry.members, split_result(result, [c.quantity for c, _ in
                                                                             entry.members]), strict=True):
                self._resolve(future, own, batch)
        else:
            self._pending[:0] = [Entry(c, [(c, f)], mergeable=False) for c, f in entry.members]
            self._busy.discard(entry.change.pair)  # answered: they leave when this batch ends

    def _since(self, future: asyncio.Future[InventoryResult]) -> float:
        track = self._tracks.get(id(future))
        return self.clock.now() if track is None else track.since

    def _resolve(
        self,
        future: asyncio.Future[InventoryResult],
        result: InventoryResult,
        batch: BatchTimes,
    ) -> None:
        """Answer one change and keep its timing. ``batch``: when its batch was created and started,
        the seconds its sends took so far, and what they spent on grants and on the wire."""
        track = self._tracks.get(id(future))
        if track is not None and not future.done():
            self._timings.append(records.change_timing(track, batch, self.clock.now()))
        self._by_status[result.status.value] = self._by_status.get(result.status.value, 0) + 1
        self._busy.discard((result.inventory_item_id or "", result.location_id or ""))
        if not future.done():
            future.set_result(result)

    def statistics(self) -> UrgentStatistics:
        """Changes submitted, batches sent, results by status, what is pending and in flight."""
        return UrgentStatistics(submitted=self._submitted, batches=self._batches,
                                largest_batch=self._largest_batch, results=dict(self._by_status),
                                pending=sum(len(e.members) for e in self._pending),
                                in_flight_batches=len(self._tasks), merged=self._merged,
                                phases=summarize(self._timings))

    def timings(self) -> list[ChangeTiming]:
        """The latest answered changes' timings (at most ``TIMINGS_KEPT``), oldest first."""
        return list(self._timings)

    def __repr__(self) -> str:
        return (
            f"UrgentLane(window_s={self.config.window_s}, submitted={self._submitted}, "
            f"batches={self._batches}, pending={len(self._pending)}, in_flight={len(self._tasks)})"
        )

