"""What a coordination backend must do, and the snapshot every backend reports.

The facade (:mod:`bulk.scheduler._scheduler`) only talks to this Protocol; the in-process backend and
the Redis backend both run the :class:`~bulk.scheduler._admission.State` machine (one in Python, one in
Lua) and wake waiters through a :class:`Notifier` when something they wait for may have changed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from bulk.clock import Clock
from bulk.scheduler import core
from bulk.scheduler._admission import Granted, State, Wait
from bulk.scheduler._config import SchedulerConfig


@dataclass(frozen=True, slots=True)
class TokenStatistics:
    """One token's modelled bucket (points, points/s) and what happened on it."""

    index: int
    level: float
    capacity: float
    restore_rate: float
    outstanding: float
    learned: bool
    throttled: int


@dataclass(frozen=True, slots=True)
class SchedulerStatistics:
    """A snapshot of the shop's scheduler (every worker's view is the same state)."""

    tokens: tuple[TokenStatistics, ...]
    in_flight: int
    max_in_flight: int
    waiters: dict[int, int]  # priority -> count
    admitted: int
    throttled: int
    expired_permits: int
    clients: int
    standby: int = 0  # requests admitted onto a permit of their own client, to start when it ends


def statistics_of(state: State, now: float) -> SchedulerStatistics:
    """Snapshot of ``state`` at coordination time ``now``."""
    model_now = now * state.config.time_scale
    return SchedulerStatistics(
        tokens=tuple(
            TokenStatistics(
                index=i,
                level=round(core.level_at(b, model_now), 3),
                capacity=b.capacity,
                restore_rate=b.restore_rate,
                outstanding=b.outstanding,
                learned=b.learned,
                throttled=state.throttled[i],
            )
            for i, b in enumerate(state.buckets)
        ),
        in_flight=len(state.permits),
        max_in_flight=state.config.max_in_flight,
        waiters=state.waiters_by_priority(),
        admitted=state.admitted,
        throttled=sum(state.throttled),
        expired_permits=state.expired,
        clients=len(state.clients),
        standby=len(state.standbys),
    )


class Backend(Protocol):
    """Shared scheduler state for one shop, and a way to wait for it to change."""

    config: SchedulerConfig
    clock: Clock  # local time, on the same scale as ``config.lease`` (for self-fencing deadlines)
    notifier: Notifier

    async def open(self, client: str) -> None:
        """Connect for ``client`` (wake-ups are addressed to it); raises
        CoordinationUnavailableError if the store is unreachable."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def acquire(
        self, client: str, waiter: str, cost: float, priority: int, token: int | None = None
    ) -> Granted | Wait:
        """One admission attempt (queues the waiter on first call)."""
        ...

    async def cancel(self, client: str, waiter: str) -> None:
        """Remove a waiter that gave up."""
        ...

    async def heartbeat(self, client: str, forget: Collection[str]) -> list[str]:
        """Renew the client's lease and drop its waiters named in ``forget``; the permits it holds."""
        ...

    async def release(
        self, client: str, permit: str, token: int, report: core.CostReport | None, throttled: bool,
        *, started: str | None = None,
    ) -> bool:
        """End a permit (refund/re-sync); False if it had already been lost. ``started``: the
        standby the client started when this request ended (it takes the slot)."""
        ...

    async def snapshot(self) -> SchedulerStatistics:
        """A fresh statistics snapshot."""
        ...

    def statistics(self) -> SchedulerStatistics:
        """The latest snapshot without I/O (Redis: as of the last heartbeat)."""
        ...


class Notifier:
    """Wakes waiters when shared state changed; no polling.

    A change either names the waiter now first in line (``notify(target)``: only that waiter wakes,
    so a freed permit costs one retry, not one per waiter) or is broadcast (``notify()``); a permit
    the store already handed to a waiter (:mod:`bulk.scheduler._handoff`) comes with its grant
    (``hand(waiter, granted)``), which the waiter takes (``take``) instead of asking again. A
    standby grant (``standby(waiter, granted, on)``) is kept until the request on the permit ``on``
    ends in this process (``start(on)`` hands it then, without asking the store).
    ``mark(waiter)`` before an attempt, ``wait(mark, within, waiter)`` after a failed one: a change
    in between is never missed because the counters have already moved.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._generation = 0
        self._broadcast = asyncio.Event()
        self._pokes: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._handed: dict[str, Granted] = {}
        self._standby: dict[str, tuple[str, Granted]] = {}  # carrier permit -> (waiter, its grant)
        self._over: set[str] = set()  # our permits whose request ended, not yet released

    def register(self, waiter: str) -> None:
        """``waiter`` lives in this process: targeted wake-ups for it are kept."""
        self._pokes[waiter] = 0
        self._events[waiter] = asyncio.Event()

    def forget(self, waiter: str) -> None:
        """``waiter`` is done (granted or gave up)."""
        self._pokes.pop(waiter, None)
        self._events.pop(waiter, None)
        self._handed.pop(waiter, None)
        for on in [on for on, (w, _) in self._standby.items() if w == waiter]:
            del self._standby[on]

    def hand(self, waiter: str, granted: Granted) -> None:
        """The store admitted ``waiter`` on its own (a freed permit went straight to it): keep the
        grant for it and wake it. Ignored if the waiter is not ours (any more): the store's permit
        then comes back through the scheduler's orphan check or its lease."""
        if waiter in self._events:
            self._handed[waiter] = granted
            self.notify(waiter)

    def standby(self, waiter: str, granted: Granted, on: str) -> None:
        """The store admitted ``waiter`` ahead of time onto our permit ``on``: keep the grant until
        that request ends (:meth:`start`). No wake-up: the waiter has nothing to do until then.
        Ignored if the waiter is not ours (any more)."""
        if waiter in self._events and on not in self._over:
            self._standby[on] = (waiter, granted)  # (a newer message for the same permit replaces it)

    def start(self, on: str) -> str | None:
        """The request on our permit ``on`` ended: hand its standby (if any) to its waiter now; the
        standby's permit id, which the release must name. Nothing is started on ``on`` after this
        (a standby message arriving later is ignored until :meth:`released`)."""
        self._over.add(on)
        entry = self._standby.pop(on, None)
        if entry is None:
            return None
        self.hand(*entry)
        return entry[1].permit

    def released(self, on: str) -> None:
        """The permit ``on`` was released: forget that its request ended."""
        self._over.discard(on)

    def revoke(self, on: str, permit: str) -> None:
        """The store revoked the standby ``permit`` riding on ``on`` (a higher lane waits): do not
        start it when ``on``'s request ends. Too late if it already started; the release says so."""
        entry = self._standby.get(on)
        if entry is not None and entry[1].permit == permit:
            del self._standby[on]

    def standbys(self) -> dict[str, str]:
        """Carrier permit -> the standby permit riding on it, as this process knows them."""
        return {on: granted.permit for on, (_, granted) in self._standby.items()}

    def drop_standby(self, on: str) -> None:
        """Forget the standby on ``on`` (the store no longer lists it): never start it."""
        self._standby.pop(on, None)

    def take(self, waiter: str) -> Granted | None:
        """The grant handed to ``waiter``, if any (once)."""
        return self._handed.pop(waiter, None)

    def mark(self, waiter: str | None = None) -> tuple[int, int]:
        """The current counters (broadcasts, wake-ups of ``waiter``)."""
        return self._generation, self._pokes.get(waiter, 0) if waiter else 0

    def notify(self, target: str | None = None) -> None:
        """Wake ``target`` if it is one of ours, or everyone when ``target`` is None."""
        if target is None:
            self._generation += 1
            self._broadcast.set()
            self._broadcast = asyncio.Event()
        elif target in self._events:
            self._pokes[target] += 1
            self._events[target].set()
            self._events[target] = asyncio.Event()

    async def wait(self, mark: tuple[int, int], within: float, waiter: str | None = None) -> None:
        """Return when woken since ``mark`` or after ``within`` clock-seconds."""
        if self.mark(waiter) != mark:
            return
        events = [self._broadcast]
        if waiter in self._events:
            events.append(self._events[waiter])
        pending: list[asyncio.Future[Any]] = [asyncio.ensure_future(e.wait()) for e in events]
        if not math.isinf(within):
            pending.append(asyncio.ensure_future(self._clock.sleep(within)))
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in pending:
                future.cancel()

    def __repr__(self) -> str:
        return f"Notifier(broadcasts={self._generation}, waiters={len(self._events)})"
