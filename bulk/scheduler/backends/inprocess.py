"""The default backend: the admission state machine in this process, time from an injected clock.

Why it exists: one worker needs no Redis, and tests get a backend whose time moves only when they
say so (``ManualClock``), so lease expiry and bucket refills are tested without sleeping. Several
:class:`~bulk.scheduler.scheduler.Scheduler` facades may share one instance to play several workers.
"""

from __future__ import annotations

from collections.abc import Collection

from bulk.clock import Clock, MonotonicClock
from bulk.scheduler import core
from bulk.scheduler.admission import Granted, State, Wait
from bulk.scheduler.config import SchedulerConfig
from bulk.scheduler.protocol import Notifier, SchedulerStatistics, statistics_of


class InProcessBackend:
    """Shared state in memory; every call is atomic because nothing in it awaits."""

    def __init__(self, config: SchedulerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or MonotonicClock()
        self.notifier = Notifier(self.clock)
        # Buckets start "now": at time 0 a monotonic clock's uptime would refill them instantly.
        start = self.clock.now() * config.time_scale
        self.state = State(config=config, buckets=[core.Bucket(at=start) for _ in range(config.token_count)])
        self.calls: dict[str, int] = {}  # what it was asked, for tests and statistics

    def _count(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1

    async def open(self, client: str) -> None:
        """Nothing to connect (every client of this backend lives in this process)."""

    async def close(self) -> None:
        """Nothing to release."""

    async def acquire(
        self, client: str, waiter: str, cost: float, priority: int, token: int | None = None
    ) -> Granted | Wait:
        """One admission attempt; wakes the others when the head of the queue moved."""
        self._count("acquire")
        before = len(self.state.permits)
        result = self.state.acquire(client, waiter, cost, priority, self.clock.now(), token=token)
        if isinstance(result, Granted) or len(self.state.permits) != before:
            self._wake()
        return result

    def _wake(self) -> None:
        """Like the Redis script: wake only the waiter now first in line."""
        line = self.state.line(self.clock.now())
        if line:
            self.notifier.notify(line[0])

    async def cancel(self, client: str, waiter: str) -> None:
        """Drop a waiter; the one behind it may now be the head."""
        self._count("cancel")
        self.state.cancel(client, waiter, self.clock.now())
        self._wake()

    async def heartbeat(self, client: str, forget: Collection[str] = ()) -> list[str]:
        """Renew the client's lease (and wake waiters if some other client's lease ended)."""
        self._count("heartbeat")
        now = self.clock.now()
        before = (len(self.state.permits), len(self.state.waiters))
        held = self.state.heartbeat(client, now, forget)
        if (len(self.state.permits), len(self.state.waiters)) != before:
            self._wake()
        return held

    async def release(
        self, client: str, permit: str, token: int, report: core.CostReport | None, throttled: bool
    ) -> bool:
        """End a permit and wake waiters."""
        self._count("release")
        held = self.state.release(client, permit, token, report, throttled, self.clock.now())
        self._wake()
        return held

    async def snapshot(self) -> SchedulerStatistics:
        """Statistics of the state right now."""
        return statistics_of(self.state, self.clock.now())

    def statistics(self) -> SchedulerStatistics:
        """Same as :meth:`snapshot`: the state is right here."""
        return statistics_of(self.state, self.clock.now())

    def __repr__(self) -> str:
        s = self.state
        return (
            f"InProcessBackend(in_flight={len(s.permits)}/{self.config.max_in_flight}, "
            f"waiters={len(s.waiters)}, clients={len(s.clients)}, clock={self.clock!r})"
        )
