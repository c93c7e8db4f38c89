"""The facade every lane calls: ``async with sched.acquire(cost, priority) as grant``.

Why a facade over a backend: the waiting (notifier, never sleep-polling), the lease renewal and the
self-fencing are the same whatever stores the state, so they live here once; a backend only runs the
admission state machine atomically (in this process, or in Redis).

One Scheduler is one *client*: its heartbeat renews the leases of all its permits at once. If it
cannot renew (Redis gone, process paused), every grant it holds is marked lost when the lease ends
by the local clock, which never runs ahead of the server's lease (each grant's deadline is counted
from the moment *before* the call that granted or renewed that very permit).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import socket
import uuid
from types import TracebackType
from typing import Any

from bulk.clock import Clock
from bulk.errors import SchedulerError
from bulk.models import Lane
from bulk.scheduler._admission import OVER_CAPACITY, Granted
from bulk.scheduler._client_lease import ClientLease
from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler._grant import Grant
from bulk.scheduler.backends.inprocess import InProcessBackend
from bulk.scheduler.protocol import Backend, SchedulerStatistics

log = logging.getLogger("bulk.scheduler")


class Scheduler:
    """Cost-aware admission over ``token_count`` buckets and a global in-flight cap."""

    def __init__(self, backend: Backend, *, client_id: str | None = None) -> None:
        self.backend = backend
        self.config = backend.config
        self.client_id = client_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._grants: dict[str, Grant] = {}
        self._active: set[str] = set()  # waiters inside _acquire (their permit may be on its way)
        self._releasing: set[str] = set()  # permits whose release call is under way
        self._ends: dict[str, str | None] = {}  # ended requests' permits -> the standby started on each
        self._forget: dict[str, int] = {}  # cancelled waiters -> heartbeats left to drop ghosts
        self._waiters = itertools.count(1)
        self._lease = ClientLease(self.config.lease)  # what our calls' answers say of our lease
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.waits: dict[str, int] = {}
        self.lost_permits = 0
        self.handed = 0  # grants the store handed us on a release, without our asking again
        self.standbys_started = 0  # standby grants started here the moment their carrier's request ended
        self.handed_rechecked = 0  # hand-overs that arrived after a possible lapse: asked for again

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def in_process(
        cls, token_count: int, max_in_flight: int, clock: Clock | None = None, **options: Any
    ) -> Scheduler:
        """The default backend: state in this process, time from ``clock`` (monotonic if None)."""
        config = SchedulerConfig(token_count=token_count, max_in_flight=max_in_flight, **options)
        return cls(InProcessBackend(config, clock))

    @classmethod
    def redis(
        cls, redis_url: str, *, shop: str, token_count: int, max_in_flight: int, **options: Any
    ) -> Scheduler:
        """Shared by every worker of ``shop`` through Redis (fails closed if Redis is unreachable)."""
        from bulk.scheduler.backends.redis_backend import RedisBackend

        config = SchedulerConfig(token_count=token_count, max_in_flight=max_in_flight, **options)
        return cls(RedisBackend(redis_url, shop=shop, config=config))

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Scheduler:
        await self.backend.open(self.client_id)
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="scheduler-heartbeat")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None
        await self.backend.close()

    # -- acquiring ---------------------------------------------------------------------------------

    def acquire(
        self, cost: float, priority: Lane | int = Lane.NORMAL, *, token_index: int | None = None
    ) -> _Acquisition:
        """Wait for points on some token and a permit; ``async with`` it to get the :class:`Grant`.

        ``token_index`` pins the grant to one token: a bulk operation belongs to the app that started
        it, so its polls must be paid by that app's bucket (invariant 1 holds for pinned calls too)."""
        if not (0 <= cost <= 1000) or math.isnan(cost):
            raise SchedulerError(f"cost must be between 0 and 1000 points, got {cost}")
        if token_index is not None and not 0 <= token_index < self.config.token_count:
            count = self.config.token_count
            raise SchedulerError(f"token_index {token_index} is not one of the {count} tokens")
        return _Acquisition(self, float(cost), int(priority), token_index)

    async def _acquire(self, cost: float, priority: int, token: int | None = None) -> Grant:
        if self._heartbeat_task is None:
            raise SchedulerError("use the scheduler as `async with sched:` before acquiring")
        waiter = f"{self.client_id}/w{next(self._waiters)}"  # unique across the shop
        notifier = self.backend.notifier
        done = False
        self._active.add(waiter)
        notifier.register(waiter)
        first = self.backend.clock.now()  # before this waiter's first call: no hand-over to it is older
        try:
            while True:
                mark = notifier.mark(waiter)
                started = self.backend.clock.now()
                result = await self.backend.acquire(self.client_id, waiter, cost, priority, token)
                self._answered(started)
                if isinstance(result, Granted):
                    done = True
                    return self._grant(result, cost, priority, started + self.config.lease)
                self.waits[result.reason] = self.waits.get(result.reason, 0) + 1
                if result.reason == OVER_CAPACITY:
                    done = True  # the store already dropped the waiter
                    raise SchedulerError(self._over_capacity(cost, priority, token))
                await notifier.wait(mark, min(result.retry_after, self.config.lease), waiter)
                handed = notifier.take(waiter)
                if handed is not None and self._lease.lapsed_since(first):
                    # Handed before a possible lapse of our lease and heard of after it (a message
                    # read late, after a pause): the store may have ended that permit and handed its
                    # slot on, while our lease, renewed since, would make it look alive. Ask again:
                    # the store answers with the permit if it still holds it for us.
                    self.handed_rechecked += 1
                    continue
                if handed is not None:  # a freed permit came straight to us: no second round trip
                    done = True
                    self.handed += 1
                    return self._grant(handed, cost, priority, self._lease.deadline())
        finally:
            self._active.discard(waiter)
            notifier.forget(waiter)
            if not done:
                await asyncio.shield(self._cancel(waiter))

    def _answered(self, started: float) -> None:
        """A call that began at ``started`` was answered by the store: it renewed our lease."""
        self._lease.answered(started, self.backend.clock.now())

    def _over_capacity(self, cost: float, priority: int, token: int | None) -> str:
        which = "any token's bucket" if token is None else f"token {token}'s bucket"
        lane = Lane(priority).name if priority in set(Lane) else str(priority)
        floor = self.config.floor(priority, math.inf)
        leave = f" and lane {lane} must leave {floor:g} points for urgent work" if floor else ""
        return (
            f"a request of {cost:g} points can never be paid: it exceeds {which} capacity{leave} "
            "(split the request, or lower its requested cost)"
        )

    def _grant(self, granted: Granted, cost: float, priority: int, deadline: float) -> Grant:
        grant = Grant(
            permit_id=granted.permit,
            token_index=granted.token,
            fence=granted.fence,
            cost=cost,
            priority=priority,
            clock=self.backend.clock,
            deadline=deadline,
        )
        self._grants[granted.permit] = grant
        log.debug("granted", extra={"action": "grant", "token_index": granted.token, "fence": granted.fence})
        return grant

    async def _cancel(self, waiter: str) -> None:
        self._forget[waiter] = 3  # a few heartbeats, in case a stray acquire re-queues it later
        try:
            started = self.backend.clock.now()
            await self.backend.cancel(self.client_id, waiter)
            self._answered(started)
        except SchedulerError:
            log.warning("could not cancel a waiter", extra={"action": "cancel_failed"})

    def _ended(self, grant: Grant) -> None:
        """``grant``'s request is over: start the standby riding on its permit at once, before the
        release reaches the store (one request per permit, in sequence, in this process); the
        release names it (``started``). Not if the permit was lost: the store then dropped the
        standby with it (same client, same lease). Once per grant."""
        if grant.permit_id in self._ends:
            return
        notifier = self.backend.notifier
        if grant.lost.is_set() or grant.remaining() <= 0:
            notifier.drop_standby(grant.permit_id)
            self._ends[grant.permit_id] = None
            return
        started = notifier.start(grant.permit_id)
        self._ends[grant.permit_id] = started
        if started is not None:
            self.standbys_started += 1

    async def release(self, grant: Grant) -> None:
        """Give ``grant``'s permit back now, with what its request reported (``acquire``'s block does
        this on exit; a caller that keeps a grant past the block — a test choreographing a hand-over —
        calls it itself). Never raises: unreachable coordination leaves the permit to its lease."""
        self._ended(grant)  # (the block already did, synchronously)
        started = self._ends.pop(grant.permit_id, None)
        self._grants.pop(grant.permit_id, None)
        if grant.lost.is_set():
            self.lost_permits += 1
        self._releasing.add(grant.permit_id)
        try:
            began = self.backend.clock.now()
            await self.backend.release(
                self.client_id, grant.permit_id, grant.token_index, grant.report, grant.was_throttled,
                started=started,
            )
            self._answered(began)
        except SchedulerError:
            # Fail closed: the permit comes back when its lease ends.
            log.warning("could not release a permit", extra={"action": "release_failed"})
        finally:
            self._releasing.discard(grant.permit_id)
            self.backend.notifier.released(grant.permit_id)

    async def _release_orphan(self, pid: str) -> None:
        log.info("orphan permit returned", extra={"action": "orphan_released"})
        try:
            await self.backend.release(self.client_id, pid, 0, None, False)
        except SchedulerError:
            log.warning("could not release an orphan permit", extra={"action": "release_failed"})

    # -- the lease -----------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Renew the client lease often enough for permits (lease/4) and for queue places
        (waiter_ttl/3); mark grants lost when the server dropped them or the lease ran out."""
        clock = self.backend.clock
        interval = min(self.config.lease / 4, self.config.waiter_ttl / 3)
        while True:
            await clock.sleep(interval)
            started = clock.now()
            # Only permits whose grant reply we already had can be judged by this heartbeat: a
            # grant still on its way may be executed by the store after the heartbeat.
            known = list(self._grants.items())
            riding = self.backend.notifier.standbys()
            try:
                held = set(await self.backend.heartbeat(self.client_id, sorted(self._forget)))
            except SchedulerError:
                log.warning("heartbeat failed", extra={"action": "heartbeat_failed"})
                held = None
            else:
                self._answered(started)
                for waiter, left in list(self._forget.items()):
                    if left <= 1:
                        del self._forget[waiter]
                    else:
                        self._forget[waiter] = left - 1
            now = clock.now()
            for on, sid in riding.items():
                if held is not None and (on not in held or sid not in held):
                    self.backend.notifier.drop_standby(on)  # the store lost it (a restart): never start it
            for pid, grant in known:
                if pid not in self._grants:
                    continue  # released meanwhile
                # Renew per permit: after a pause the store may have ended our permits and the
                # heartbeat starts a fresh lease that covers only the ones it still lists.
                if held is not None and pid in held:
                    grant.renew(started + self.config.lease)
                if (held is not None and pid not in held) or now >= grant.deadline:
                    self._lose(grant)
            for pid in held or ():
                # Granted to an acquire that was cancelled before it saw the reply: give it back.
                waiter = pid.removeprefix("p:")
                if pid not in self._grants and pid not in self._releasing and waiter not in self._active:
                    await self._release_orphan(pid)

    def _lose(self, grant: Grant) -> None:
        if not grant.lost.is_set():
            grant.lost.set()
            log.warning("permit lost", extra={"action": "permit_lost", "token_index": grant.token_index})

    # -- reporting -----------------------------------------------------------------------------------

    def statistics(self) -> SchedulerStatistics:
        """Per-token buckets, in-flight, waiters by priority, throttled count (shared state)."""
        return self.backend.statistics()

    def __repr__(self) -> str:
        return (
            f"Scheduler(client={self.client_id!r}, held={len(self._grants)}, "
            f"lost={self.lost_permits}, handed={self.handed}, standbys={self.standbys_started}, "
            f"backend={self.backend!r})"
        )


class _Acquisition:
    """``async with sched.acquire(...) as grant``: the permit is returned on exit, whatever happens."""

    def __init__(self, scheduler: Scheduler, cost: float, priority: int, token: int | None) -> None:
        self._scheduler = scheduler
        self._cost = cost
        self._priority = priority
        self._token = token
        self._grant: Grant | None = None

    async def __aenter__(self) -> Grant:
        self._grant = await self._scheduler._acquire(self._cost, self._priority, self._token)
        return self._grant

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._grant is not None:
            self._scheduler._ended(self._grant)  # now, not a loop turn later inside the shielded task
            await asyncio.shield(self._scheduler.release(self._grant))
