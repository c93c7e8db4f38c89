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

A *standby* is a waiter admitted ahead of time onto a permit its own client still uses (the decision
is :mod:`bulk.scheduler._handoff`'s): it is paid, fenced and counted as admitted at that moment, but
holds no slot of the cap; it takes its carrier's slot when the carrier is released (its process has
started it the moment the carrier's request ended), or a free slot in line order before that.
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
class Standby:
    """An admitted request that rides on ``on``, a permit of the same client still in use, or
    (``on`` None: detached) waits for a free slot only; it keeps its place in line (``priority``,
    ``seq``) for a free slot."""

    client: str
    token: int
    cost: float
    fence: int
    priority: int
    seq: int
    on: str | None


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
STANDBY = "standby"  # admitted onto a permit of its own client: its process starts it, no need to ask


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
    standbys: dict[str, Standby] = field(default_factory=dict)  # permit id -> request riding on a permit
    clients: dict[str, Client] = field(default_factory=dict)
    waiters: dict[str, Waiter] = field(default_factory=dict)
    seq: int = 0
    fence: int = 0
    admitted: int = 0
    throttled: list[int] = field(default_factory=list)
    expired: int = 0
    # standbys moved into their released carrier's slot, for the backend to tell (not shared state)
    promoted: list[tuple[str, Granted]] = field(default_factory=list)

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
        paid: tuple[dict[str, Permit] | dict[str, Standby], ...] = (self.permits, self.standbys)
        for held in paid:  # a standby is paid for like a permit
            for pid in list(held):
                permit = held[pid]
                if permit.client in dead:
                    del held[pid]
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
        token can pay ``cost`` above the priority's floor. A waiter already admitted as a standby
        waits for its process to start it (``STANDBY``): it must not be granted a second time."""
        self.purge(now)
        self.touch(client, now)
        if (standby := self.standbys.get(f"p:{waiter}")) is not None and standby.client == client:
            return Wait(retry_after=math.inf, reason=STANDBY)
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
        return self.admit(waiter, now, token=token)

    def admit(
        self, waiter: str, now: float, *, token: int | None = None, on: str | None = None
    ) -> Granted | Wait:
        """Pay for the queued ``waiter`` (the caller checked it is the live head) and admit it: onto a
        free slot, or, with ``on``, as a standby riding on that permit of the same client. Waits
        while no token can pay above the floor; refuses what no bucket can ever pay."""
        w = self.waiters[waiter]
        model_now = self._model(now)
        floors = [self.config.floor(w.priority, b.capacity) for b in self.buckets]
        pinned = token
        token, wait = core.choose_token(self.buckets, w.cost, floors, model_now, only=pinned)
        if wait == math.inf and all(
            w.cost + floors[i] > b.capacity for i, b in enumerate(self.buckets) if pinned in (None, i)
        ):
            # No bucket can ever pay it: refuse rather than block everyone queued behind it.
            del self.waiters[waiter]
            return Wait(retry_after=math.inf, reason=OVER_CAPACITY)
        if wait > 0:
            return Wait(retry_after=wait / self.config.time_scale, reason="points")
        self.buckets[token] = core.debit(self.buckets[token], w.cost, model_now)
        self.fence += 1
        self.admitted += 1
        del self.waiters[waiter]
        permit_id = f"p:{waiter}"
        if on is None:
            self.permits[permit_id] = Permit(
                client=w.client, token=token, cost=w.cost, fence=self.fence, priority=w.priority
            )
        else:
            self.standbys[permit_id] = Standby(
                client=w.client, token=token, cost=w.cost, fence=self.fence, priority=w.priority,
                seq=w.seq, on=on,
            )
        return Granted(permit=permit_id, token=token, fence=self.fence)

    def promote(self, permit_id: str) -> Granted:
        """The standby ``permit_id`` takes a slot of its own (its carrier's, or a free one)."""
        s = self.standbys.pop(permit_id)
        self.permits[permit_id] = Permit(
            client=s.client, token=s.token, cost=s.cost, fence=s.fence, priority=s.priority
        )
        return Granted(permit=permit_id, token=s.token, fence=s.fence)

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
        standby = self.standbys.get(f"p:{waiter}")
        if standby is not None and standby.client == client:
            # admitted ahead of time, but its process gave up before starting it: nothing was sent
            del self.standbys[f"p:{waiter}"]
            b = self.buckets[standby.token]
            self.buckets[standby.token] = core.finish(b, standby.cost, standby.cost, self._model(now))

    def heartbeat(self, client: str, now: float, forget: Collection[str] = ()) -> list[str]:
        """Renew every permit of ``client``; returns the ids it still holds, standbys included
        (others were lost).

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
        mine = [pid for pid, p in self.permits.items() if p.client == client]
        return sorted(mine + [pid for pid, st in self.standbys.items() if st.client == client])

    def release(
        self,
        client: str,
        permit_id: str,
        token: int,
        report: core.CostReport | None,
        throttled: bool,
        now: float,
        *,
        started: str | None = None,
    ) -> bool:
        """A request is over. ``report`` None = it failed before the shop charged anything (refund
        all); with a report, refund ``requested - actual`` and re-sync to its throttle status.
        Returns False if the permit had already been lost (its lease ended).

        ``started`` names the standby the client started when this request ended: it takes the
        slot (never free in between; the cap counts one request for it, as it was). Any other
        standby riding on the permit was not started (the client had not heard of it, or heard it
        was revoked) and never will be on it: it is detached, and waits for a free slot in line."""
        self.purge(now)
        self.touch(client, now)
        model_now = self._model(now)
        permit: Permit | Standby | None = self.permits.pop(permit_id, None)
        if permit is None:
            # a standby ended before its carrier's release arrived, or an orphan given back
            permit = self.standbys.pop(permit_id, None)
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
        if isinstance(permit, Permit):
            go = self.standbys.get(started) if started is not None else None
            if started is not None and go is not None and go.client == client and go.on in (permit_id, None):
                self.promoted.append((started.removeprefix("p:"), self.promote(started)))
            for st in self.standbys.values():
                if st.on == permit_id:
                    st.on = None
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
