"""Admission: the priority queue, the reserve, leased permits — a sans-I/O state machine.

Every method is a deterministic function of (state, input, ``now``): no clock reads, no I/O. The
in-process backend runs it directly under one lock; ``lua/scheduler.lua`` is the same machine for
Redis (same field names, same order of steps), and one test suite runs over both.

Order of service: waiters are queued by (priority, arrival). Only the *head* of the queue among live
waiters may be admitted, so urgent work is never behind lower lanes (invariant 2) and a steady stream
of BULK cannot starve NORMAL (strict priority; docs/scheduler.md). A waiter whose process has not
been heard from for ``waiter_ttl`` is skipped, not dropped: a paused worker must not stall the queue.

Permits are leased per *client* (one scheduler instance, usually one process): any call from a client
renews all of its permits. When a client's lease ends, its permits return (invariant 4) and their
points stay spent — we cannot know whether the shop charged them.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from bulk.scheduler import core
from bulk.scheduler._config import SchedulerConfig


@dataclass(slots=True)
class Permit:
    """One admitted request: who holds it, on which token, for how many points."""

    client: str
    token: int
    cost: float
    fence: int
    priority: int


@dataclass(slots=True)
class Client:
    """A scheduler instance; ``expires`` ends its permits, ``seen`` keeps its waiters in line."""

    expires: float
    seen: float


@dataclass(slots=True)
class Waiter:
    """A queued request; ``seq`` is its arrival order within the whole shop."""

    client: str
    priority: int
    seq: int
    cost: float


@dataclass(frozen=True, slots=True)
class Granted:
    """The decision to admit: token to use, fencing number, permit id."""

    permit: str
    token: int
    fence: int


OVER_CAPACITY = "over_capacity"  # a Wait that will never end: the request is refused


@dataclass(frozen=True, slots=True)
class Wait:
    """The decision to wait; ``retry_after`` seconds at most (``inf`` = until something changes)."""

    retry_after: float
    reason: str


@dataclass(slots=True)
class State:
    """Everything the shop's scheduler knows. One per shop; shared by every worker."""

    config: SchedulerConfig
    buckets: list[core.Bucket] = field(default_factory=list)
    permits: dict[str, Permit] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    waiters: dict[str, Waiter] = field(default_factory=dict)
    seq: int = 0
    fence: int = 0
    admitted: int = 0
    throttled: list[int] = field(default_factory=list)
    expired: int = 0

    def __post_init__(self) -> None:
        if not self.buckets:
            self.buckets = [core.Bucket() for _ in range(self.config.token_count)]
        if not self.throttled:
            self.throttled = [0] * self.config.token_count

    # -- steps shared by every operation -------------------------------------------------------

    def _model(self, now: float) -> float:
        return now * self.config.time_scale

    def purge(self, now: float) -> bool:
        """End expired clients: drop their permits (points stay spent) and waiters. True if any."""
        dead = [cid for cid, c in self.clients.items() if c.expires <= now]
        if not dead:
            return False
        model_now = self._model(now)
        for pid, permit in list(self.permits.items()):
            if permit.client in dead:
                del self.permits[pid]
                b = self.buckets[permit.token]
                self.buckets[permit.token] = core.finish(b, permit.cost, 0.0, model_now)
                self.expired += 1
        for wid, waiter in list(self.waiters.items()):
            if waiter.client in dead:
                del self.waiters[wid]
        for cid in dead:
            del self.clients[cid]
        return True

    def touch(self, client: str, now: float) -> None:
        """The client is alive: extend its lease and mark it seen."""
        self.clients[client] = Client(expires=now + self.config.lease, seen=now)

    # -- operations ------------------------------------------------------------------------------

    def acquire(
        self, client: str, waiter: str, cost: float, priority: int, now: float, *, token: int | None = None
    ) -> Granted | Wait:
        """Queue ``waiter`` if new, then admit it if it is the live head, a permit is free and a
        token can pay ``cost`` above the priority's floor."""
        self.purge(now)
        self.touch(client, now)
        if waiter not in self.waiters:
            self.seq += 1
            self.waiters[waiter] = Waiter(client=client, priority=priority, seq=self.seq, cost=cost)
        line = self.line(now)
        if line[0] != waiter:
            # Wait for a message naming us the head. Only the next in line also watches the head's
            # liveness (a paused head is skipped after waiter_ttl); the others need no timer.
            head_seen = self.clients[self.waiters[line[0]].client].seen
            watch = len(line) > 1 and line[1] == waiter
            retry = max(0.0, head_seen + self.config.waiter_ttl - now) if watch else math.inf
            return Wait(retry_after=retry, reason="queued")
        if len(self.permits) >= self.config.max_in_flight:
            first_expiry = min(self.clients[p.client].expires for p in self.permits.values())
            return Wait(retry_after=max(0.0, first_expiry - now), reason="in_flight")
        model_now = self._model(now)
        floors = [self.config.floor(priority, b.capacity) for b in self.buckets]
        pinned = token
        token, wait = core.choose_token(self.buckets, cost, floors, model_now, only=pinned)
        if wait == math.inf and all(
            cost + floors[i] > b.capacity for i, b in enumerate(self.buckets) if pinned in (None, i)
        ):
            # No bucket can ever pay it: refuse rather than block everyone queued behind it.
            del self.waiters[waiter]
            return Wait(retry_after=math.inf, reason=OVER_CAPACITY)
        if wait > 0:
            return Wait(retry_after=wait / self.config.time_scale, reason="points")
        self.buckets[token] = core.debit(self.buckets[token], cost, model_now)
        self.fence += 1
        self.admitted += 1
        del self.waiters[waiter]
        permit_id = f"p:{waiter}"
        self.permits[permit_id] = Permit(
            client=client, token=token, cost=cost, fence=self.fence, priority=priority
        )
        return Granted(permit=permit_id, token=token, fence=self.fence)

    def line(self, now: float) -> list[str]:
        """Live waiters in service order (priority, then arrival); at most the first two."""
        live = sorted(
            (w.priority, w.seq, wid)
            for wid, w in self.waiters.items()
            if (c := self.clients.get(w.client)) is not None and now - c.seen < self.config.waiter_ttl
        )
        return [wid for _, _, wid in live[:2]]

    def cancel(self, client: str, waiter: str, now: float) -> None:
        """The waiter gave up (cancelled or timed out)."""
        self.purge(now)
        self.touch(client, now)
        self.waiters.pop(waiter, None)

    def heartbeat(self, client: str, now: float, forget: Collection[str] = ()) -> list[str]:
        """Renew every permit of ``client``; returns the ids it still holds (others were lost).

        ``forget`` names waiters the client gave up on: a cancelled acquire can race its own
        cancel to the store and leave a ghost waiter behind, which would otherwise block the queue
        under the live client's lease.
        """
        self.purge(now)
        self.touch(client, now)
        for wid in forget:
            waiter = self.waiters.get(wid)
            if waiter is not None and waiter.client == client:
                del self.waiters[wid]
        return sorted(pid for pid, p in self.permits.items() if p.client == client)

    def release(
        self,
        client: str,
        permit_id: str,
        token: int,
        report: core.CostReport | None,
        throttled: bool,
        now: float,
    ) -> bool:
        """A request is over. ``report`` None = it failed before the shop charged anything (refund
        all); with a report, refund ``requested - actual`` and re-sync to its throttle status.
        Returns False if the permit had already been lost (its lease ended)."""
        self.purge(now)
        self.touch(client, now)
        model_now = self._model(now)
        permit = self.permits.pop(permit_id, None)
        if permit is not None:
            if report is None:
                refund = permit.cost
            elif throttled:
                refund = permit.cost  # a THROTTLED request is not charged
            elif report.actual is None:
                refund = 0.0  # charged, amount unknown: assume the requested cost
            else:
                refund = max(0.0, permit.cost - report.actual)
            b = self.buckets[permit.token]
            self.buckets[permit.token] = core.finish(b, permit.cost, refund, model_now)
        if throttled:
            self.throttled[token] += 1
        if report is not None and report.status is not None:
            self.buckets[token] = core.sync(self.buckets[token], report.status, model_now)
        return permit is not None

    # -- reporting -------------------------------------------------------------------------------

    def waiters_by_priority(self) -> dict[int, int]:
        """How many requests wait, per priority."""
        counts: dict[int, int] = {}
        for w in self.waiters.values():
            counts[w.priority] = counts.get(w.priority, 0) + 1
        return counts
