"""The default backend: the admission state machine in this process, time from an injected clock.

Why it exists: one worker needs no Redis, and tests get a backend whose time moves only when they
say so (``ManualClock``), so lease expiry and bucket refills are tested without sleeping. Several
:class:`~bulk.scheduler._scheduler.Scheduler` facades may share one instance to play several workers.
"""

from __future__ import annotations

from collections.abc import Collection

from bulk.clock import Clock, MonotonicClock
from bulk.scheduler import core
from bulk.scheduler._admission import STANDBY, Granted, State, Wait
from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler._handoff import hand_over, held_by
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
        self.handed = 0  # permits handed straight to the head of the line
        self._pins: dict[str, int | None] = {}  # waiter -> the token it asked for (hand-over needs it)

    def _count(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1

    async def open(self, client: str) -> None:
        """Nothing to connect (every client of this backend lives in this process)."""

    async def close(self) -> None:
        """Nothing to release."""

    async def acquire(
        self, client: str, waiter: str, cost: float, priority: int, token: int | None = None
    ) -> Granted | Wait:
        """One admission attempt (a waiter already handed a permit gets it back); then hand freed
        permits on."""
        self._count("acquire")
        now = self.clock.now()
        handed = held_by(self.state, client, waiter)
        if handed is not None:
            before = len(self.state.permits)
            self.state.heartbeat(client, now)  # an acquire is a sign of life, as in the store
            self._settle(now, len(self.state.permits) != before)
            return handed
        self._pins[waiter] = token
        before = len(self.state.permits)
        result = self.state.acquire(client, waiter, cost, priority, now, token=token)
        self._settle(now, isinstance(result, Granted) or len(self.state.permits) != before)
        if isinstance(result, Wait) and f"p:{waiter}" in self.state.standbys:
            return Wait(retry_after=float("inf"), reason=STANDBY)  # admitted onto its own client's permit
        return result

    def _settle(self, now: float, changed: bool) -> None:
        """Like the Redis script after every operation: hand freed permits and standby places down
        the line (telling each one's process its grant), then, if anything changed, wake the waiter
        now first in line (only then: a head woken for nothing would ask again, and wake itself
        again)."""
        handed = hand_over(self.state, now, self._pins)
        for h in handed:
            self.handed += 1
            if h.revoked:
                self.notifier.revoke(str(h.on), h.granted.permit)
            elif h.on is None:
                self.notifier.hand(h.waiter, h.granted)
            else:
                self.notifier.standby(h.waiter, h.granted, h.on)
        if handed:
            self._pins = {w: t for w, t in self._pins.items() if w in self.state.waiters}
        line = self.state.line(now)
        if line and (changed or handed):
            self.notifier.notify(line[0])

    async def cancel(self, client: str, waiter: str) -> None:
        """Drop a waiter (and give back a permit handed to it that it never learnt of)."""
        self._count("cancel")
        now = self.clock.now()
        self.state.cancel(client, waiter, now)  # (a standby it never started returns its points)
        handed = held_by(self.state, client, waiter)
        if handed is not None:
            self.state.release(client, handed.permit, handed.token, None, False, now)
        self._settle(now, True)

    async def heartbeat(self, client: str, forget: Collection[str] = ()) -> list[str]:
        """Renew the client's lease (and hand on permits whose holder's lease ended)."""
        self._count("heartbeat")
        now = self.clock.now()
        before = (len(self.state.permits), len(self.state.waiters))
        held = self.state.heartbeat(client, now, forget)
        self._settle(now, (len(self.state.permits), len(self.state.waiters)) != before)
        return held

    async def release(
        self, client: str, permit: str, token: int, report: core.CostReport | None, throttled: bool,
        *, started: str | None = None,
    ) -> bool:
        """End a permit and hand it (or the points it refunded) to the head of the line; the standby
        ``started`` when its request ended takes its slot."""
        self._count("release")
        now = self.clock.now()
        held = self.state.release(client, permit, token, report, throttled, now, started=started)
        self._settle(now, True)
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
            f"standby={len(s.standbys)}, waiters={len(s.waiters)}, handed={self.handed}, "
            f"clients={len(s.clients)}, clock={self.clock!r})"
        )
