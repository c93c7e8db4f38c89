"""One suite over both coordination backends: in-process (ManualClock) and Redis (real server).

Concurrency is deterministic: work is gated on Events, peaks are counted, claims really race. Time:
the in-process backend runs on a ManualClock the test advances; Redis runs on its server clock with
short real leases, and the test only awaits the scheduler's own (event- or lease-driven) waiting.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bulk.clock import ManualClock
from bulk.errors import CoordinationUnavailableError, PermitLostError, SchedulerError
from bulk.models import Lane
from bulk.scheduler import Scheduler, SchedulerConfig
from bulk.scheduler._admission import Granted
from bulk.scheduler.backends.inprocess import InProcessBackend
from bulk.scheduler.backends.redis_backend import RedisBackend
from bulk.scheduler.protocol import Backend

SHOP = "test-shop"


def cost(available: float, actual: float | None = 10, maximum: float = 2000) -> dict[str, Any]:
    return {
        "requestedQueryCost": 10,
        "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": 100},
    }


class Harness:
    """Makes workers (facades, each its own client) over one backend kind and moves time."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.clock = ManualClock(start=1000.0)
        self._request = request
        self._shared: InProcessBackend | None = None

    def backend(self, **options: Any) -> Backend:
        config = SchedulerConfig(**{"token_count": 3, "max_in_flight": 4, **options})
        if self.kind == "inprocess":
            if self._shared is None:
                self._shared = InProcessBackend(config, self.clock)
            return self._shared
        url: str = self._request.getfixturevalue("redis_url")
        return RedisBackend(url, shop=SHOP, config=config)

    def worker(self, **options: Any) -> Scheduler:
        return Scheduler(self.backend(**options))

    async def advance(self, seconds: float) -> None:
        """In-process: move the ManualClock. Redis: real time passes by itself; nothing to do."""
        if self.kind == "inprocess":
            # Let every task that is about to park in clock.sleep() register first.
            for _ in range(5):
                await asyncio.sleep(0)
            self.clock.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture(params=["inprocess", pytest.param("redis", marks=pytest.mark.redis)])
def harness(request: pytest.FixtureRequest) -> Harness:
    return Harness(request.param, request)


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Yield to the loop until ``predicate`` holds (each check is a round trip, not a sleep)."""
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0)


async def waiting(sched: Scheduler, n: int) -> None:
    """Until ``n`` requests are queued: waiting in line, or admitted as standbys (to start when a
    busy permit of their own worker ends)."""

    async def check() -> bool:
        stats = await sched.backend.snapshot()
        return sum(stats.waiters.values()) + stats.standby == n

    await until(check)


@pytest.fixture
async def opened() -> AsyncIterator[list[Scheduler]]:
    """Schedulers entered by a test, closed at its end."""
    entered: list[Scheduler] = []
    yield entered
    for s in entered:
        await s.__aexit__(None, None, None)


async def enter(opened: list[Scheduler], sched: Scheduler) -> Scheduler:
    await sched.__aenter__()
    opened.append(sched)
    return sched


async def test_in_flight_never_exceeds_the_cap(harness: Harness, opened: list[Scheduler]) -> None:
    sched = await enter(opened, harness.worker(max_in_flight=3))
    active = peak = 0
    full, release = asyncio.Event(), asyncio.Event()

    async def request() -> None:
        nonlocal active, peak
        async with sched.acquire(10, Lane.NORMAL) as grant:
            active += 1
            peak = max(peak, active)
            if active == 3:
                full.set()
            await release.wait()
            grant.settle(None)
            active -= 1

    tasks = [asyncio.create_task(request()) for _ in range(12)]
    await asyncio.wait_for(full.wait(), 10)
    await waiting(sched, 9)
    assert (await sched.backend.snapshot()).in_flight == 3
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert peak == 3
    assert (await sched.backend.snapshot()).admitted == 12


class Counting:
    """A real backend that counts the admission attempts made through it."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.config = inner.config
        self.clock = inner.clock
        self.notifier = inner.notifier
        self.acquires = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.acquires += 1
        return await self.inner.acquire(*args, **kwargs)


@pytest.mark.parametrize("same_worker", [False, True], ids=["other", "same"])
async def test_a_release_hands_its_permit_to_the_waiting_head_in_one_step(
    harness: Harness, opened: list[Scheduler], same_worker: bool
) -> None:
    """No release -> wake -> acquire round trip: the release itself admits the head of the line, so
    the permit is never free while a request waits, and the waiter does not ask again (whether it
    waits in another worker, or in the releasing one: Redis then returns the grant with the release)."""
    backend = Counting(harness.backend(max_in_flight=1))
    waiter = await enter(opened, Scheduler(backend))
    holder = waiter if same_worker else await enter(opened, harness.worker(max_in_flight=1))
    held = await holder.acquire(10, Lane.NORMAL).__aenter__()
    task = asyncio.create_task(waiter.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(waiter, 1)
    asked = backend.acquires
    await holder.release(held)
    stats = await holder.backend.snapshot()  # before the waiter has run again
    assert (stats.in_flight, stats.waiters) == (1, {})  # the permit already belongs to the waiter
    grant = await asyncio.wait_for(task, 10)
    assert backend.acquires == asked  # it did not ask again
    assert grant.fence == held.fence + 1 and waiter.handed == 1
    grant.check()  # a live lease, counted from the waiter's own last call
    await waiter.release(grant)
    assert (await holder.backend.snapshot()).in_flight == 0


class GatedRelease(Counting):
    """A counting backend whose releases wait for ``gate``: the store has not heard of the request's end."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.gate = asyncio.Event()

    async def release(self, *args: Any, **kwargs: Any) -> bool:
        await self.gate.wait()
        return bool(await self.inner.release(*args, **kwargs))


async def test_a_standby_starts_when_its_carriers_request_ends_not_when_the_store_hears_of_it(
    harness: Harness, opened: list[Scheduler]
) -> None:
    """The cap is full and the head of the line is this worker's: the store admits it onto the
    worker's busy permit (paid and fenced now), and the worker starts it the moment that request
    ends — while its release has not reached the store yet, so no slot is ever free in between."""
    backend = GatedRelease(harness.backend(max_in_flight=1, token_count=1, time_scale=1e-6))
    sched = await enter(opened, Scheduler(backend))
    carrier = sched.acquire(10, Lane.NORMAL)
    held = await carrier.__aenter__()
    level = (await sched.backend.snapshot()).tokens[0].level
    task = asyncio.create_task(sched.acquire(20, Lane.NORMAL).__aenter__())
    await waiting(sched, 1)
    stats = await sched.backend.snapshot()
    assert (stats.in_flight, stats.standby, stats.waiters, stats.admitted) == (1, 1, {}, 2)
    assert stats.tokens[0].level == pytest.approx(level - 20, abs=0.5)  # paid at the decision
    asked = backend.acquires
    ending = asyncio.create_task(carrier.__aexit__(None, None, None))  # its answer arrived
    grant = await asyncio.wait_for(task, 10)  # started, though the release is still on its way
    assert not ending.done() and (await sched.backend.snapshot()).in_flight == 1
    assert grant.fence == held.fence + 1 and backend.acquires == asked and sched.standbys_started == 1
    grant.check()  # a live lease, counted from the worker's own last call
    backend.gate.set()
    await asyncio.wait_for(ending, 10)
    stats = await sched.backend.snapshot()
    assert (stats.in_flight, stats.standby) == (1, 0)  # the standby took its carrier's slot
    await sched.release(grant)
    assert (await sched.backend.snapshot()).in_flight == 0


async def test_a_standby_is_never_started_on_a_permit_whose_lease_ran_out(
    harness: Harness, opened: list[Scheduler]
) -> None:
    """Fencing: a worker cut off from the store (as if SIGSTOPped) past its lease loses its permit
    and the standby riding on it, which the store hands on; when its request then ends, it must not
    start the standby."""
    backend = CutOff(harness.backend(max_in_flight=1, lease=0.5))
    paused = await enter(opened, Scheduler(backend))
    # the live worker's lease is long: on a loaded box its heartbeat may come late, and its permit must
    # not run out during the test (Redis: a lease per client; in-process: one shared config, lease 0.5)
    other = await enter(opened, harness.worker(max_in_flight=1, lease=60))
    carrier = paused.acquire(10, Lane.NORMAL)
    held = await carrier.__aenter__()
    standby = asyncio.create_task(paused.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(paused, 1)
    assert (await paused.backend.snapshot()).standby == 1
    backend.down = True  # nothing it says reaches the store any more
    taker = asyncio.create_task(other.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(other, 2)
    await harness.advance(0.6)
    handed_on = await asyncio.wait_for(taker, 10)
    assert held.lost.is_set() or held.remaining() <= 0
    await carrier.__aexit__(None, None, None)  # its request ends after the lease: no standby starts
    assert paused.standbys_started == 0
    assert handed_on.fence > held.fence and (await other.backend.snapshot()).standby == 0
    if standby.done() and standby.exception() is None:  # whatever it got, it can send nothing
        with pytest.raises(PermitLostError):
            standby.result().check()
    standby.cancel()
    await asyncio.gather(standby, return_exceptions=True)
    await other.release(handed_on)


async def test_an_urgent_request_revokes_a_lower_lane_standby_and_takes_the_slot_first(
    harness: Harness, opened: list[Scheduler]
) -> None:
    """Priority holds at the start too: a BULK request admitted ahead of time onto a busy permit
    must not take that slot from an urgent request that came after it. The store revokes the
    standby, its worker does not start it when the permit's request ends, and the urgent request
    gets the slot; the revoked one (paid, fenced) goes next."""
    bulk = await enter(opened, harness.worker(max_in_flight=1))
    urgent = await enter(opened, harness.worker(max_in_flight=1))
    carrier = bulk.acquire(10, Lane.BULK)
    held = await carrier.__aenter__()
    behind = asyncio.create_task(bulk.acquire(10, Lane.BULK).__aenter__())
    await waiting(bulk, 1)
    assert (await bulk.backend.snapshot()).standby == 1
    first = asyncio.create_task(urgent.acquire(10, Lane.URGENT).__aenter__())
    await waiting(bulk, 2)
    await until(lambda: asyncio.sleep(0, not bulk.backend.notifier.standbys()))  # heard of the revoke
    await carrier.__aexit__(None, None, None)
    assert bulk.standbys_started == 0
    granted = await asyncio.wait_for(first, 10)
    assert not behind.done() and granted.fence > held.fence
    await urgent.release(granted)
    later = await asyncio.wait_for(behind, 10)  # revoked, not dropped: it keeps its place and payment
    assert later.fence < granted.fence
    await bulk.release(later)


async def test_a_cancelled_standby_gives_its_points_back(harness: Harness, opened: list[Scheduler]) -> None:
    sched = await enter(opened, harness.worker(max_in_flight=1, token_count=1, time_scale=1e-6))
    held = await sched.acquire(10, Lane.NORMAL).__aenter__()
    level = (await sched.backend.snapshot()).tokens[0].level
    task = asyncio.create_task(sched.acquire(30, Lane.NORMAL).__aenter__())
    await waiting(sched, 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    stats = await sched.backend.snapshot()
    assert (stats.in_flight, stats.standby) == (1, 0)
    assert stats.tokens[0].level == pytest.approx(level, abs=0.5)  # never started: refunded in full
    await sched.release(held)


async def test_a_cancelled_waiter_gives_back_a_permit_handed_to_it(
    harness: Harness, opened: list[Scheduler]
) -> None:
    holder = await enter(opened, harness.worker(max_in_flight=1))
    waiter = await enter(opened, harness.worker(max_in_flight=1))
    held = await holder.acquire(10, Lane.NORMAL).__aenter__()
    task = asyncio.create_task(waiter.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(waiter, 1)
    task.cancel()  # it gives up; the store may already have handed it the permit: either way
    await holder.release(held)
    await asyncio.gather(task, return_exceptions=True)
    async def free() -> bool:
        return (await holder.backend.snapshot()).in_flight == 0
    await until(free)
    async with holder.acquire(10, Lane.NORMAL) as again:  # the permit is not stuck with the quitter
        assert again.fence > held.fence


async def test_concurrent_claims_have_exactly_one_winner(harness: Harness, opened: list[Scheduler]) -> None:
    workers = [await enter(opened, harness.worker(max_in_flight=1)) for _ in range(8)]
    winners: list[int] = []
    first, release = asyncio.Event(), asyncio.Event()

    async def claim(i: int) -> None:
        async with workers[i].acquire(5, Lane.NORMAL):
            winners.append(i)
            first.set()
            await release.wait()

    tasks = [asyncio.create_task(claim(i)) for i in range(8)]
    await asyncio.wait_for(first.wait(), 10)
    await waiting(workers[0], 7)
    assert len(winners) == 1
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert sorted(winners) == list(range(8))


async def test_waiters_are_served_by_priority_then_fifo(harness: Harness, opened: list[Scheduler]) -> None:
    holder = await enter(opened, harness.worker(max_in_flight=1))  # (its own waiters would ride as standbys)
    sched = await enter(opened, harness.worker(max_in_flight=1))
    served: list[str] = []
    hold = asyncio.Event()

    async def request(name: str, lane: Lane) -> None:
        async with (holder if name == "holder" else sched).acquire(10, lane):
            served.append(name)
            if name == "holder":
                await hold.wait()

    tasks = [asyncio.create_task(request("holder", Lane.BULK))]
    await until(lambda: asyncio.sleep(0, bool(served)))
    order = [
        ("bulk1", Lane.BULK),
        ("normal1", Lane.NORMAL),
        ("urgent", Lane.URGENT),
        ("normal2", Lane.NORMAL),
    ]
    for n, (name, lane) in enumerate(order, start=1):
        tasks.append(asyncio.create_task(request(name, lane)))
        await waiting(sched, n)
    hold.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert served == ["holder", "urgent", "normal1", "normal2", "bulk1"]


async def test_urgent_takes_the_reserve_that_lower_lanes_must_leave(
    harness: Harness, opened: list[Scheduler]
) -> None:
    sched = await enter(opened, harness.worker(token_count=1, urgent_reserve=100, time_scale=1e-6))
    async with sched.acquire(10, Lane.URGENT) as grant:
        grant.settle(cost(available=150))  # learn: 150 points left
    async with sched.acquire(40, Lane.BULK) as grant:
        grant.settle(cost(available=110, actual=40))  # 150 - 40 leaves 110 >= reserve
    blocked = asyncio.create_task(sched.acquire(40, Lane.BULK).__aenter__())
    await waiting(sched, 1)
    async with sched.acquire(100, Lane.URGENT) as urgent:  # not behind the bulk waiter
        assert urgent.token_index == 0
    assert not blocked.done()
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)
    await waiting(sched, 0)


async def test_a_request_waits_for_points_then_goes(harness: Harness, opened: list[Scheduler]) -> None:
    sched = await enter(opened, harness.worker(token_count=1))
    started = time.monotonic()  # before the release empties the bucket (not after: its reply may lag)
    async with sched.acquire(10, Lane.URGENT) as grant:
        grant.settle(cost(available=0))
    task = asyncio.create_task(sched.acquire(20, Lane.URGENT).__aenter__())
    await waiting(sched, 1)
    await harness.advance(0.2)  # 100 points/s: 20 points take 0.2 s
    grant = await asyncio.wait_for(task, 10)
    if harness.kind == "redis":
        assert time.monotonic() - started >= 0.19
    assert grant.token_index == 0
    await sched.release(grant)


async def test_settle_refunds_and_throttled_resyncs(harness: Harness, opened: list[Scheduler]) -> None:
    sched = await enter(opened, harness.worker(token_count=1, time_scale=1e-6))
    async with sched.acquire(100, Lane.NORMAL) as grant:
        grant.settle(cost(available=1500, actual=30))
    stats = await sched.backend.snapshot()
    assert stats.tokens[0].level == pytest.approx(1500, abs=0.5)
    assert stats.tokens[0].learned and stats.tokens[0].outstanding == 0
    async with sched.acquire(50, Lane.NORMAL) as grant:
        assert (await sched.backend.snapshot()).tokens[0].level == pytest.approx(1450, abs=0.5)
        grant.throttled(cost(available=20, actual=None, maximum=4000))
    stats = await sched.backend.snapshot()
    assert stats.throttled == 1 and stats.tokens[0].throttled == 1
    assert stats.tokens[0].capacity == 4000
    assert stats.tokens[0].level == pytest.approx(20, abs=0.5)
    async with sched.acquire(10, Lane.URGENT):
        pass  # leaving without settle: the request failed before any charge, refund all
    assert (await sched.backend.snapshot()).tokens[0].level == pytest.approx(20, abs=0.5)


async def test_a_dead_workers_permit_returns_when_its_lease_ends(
    harness: Harness, opened: list[Scheduler]
) -> None:
    # Redis: real time. The lease outlasts what a loaded box may take to start the live worker and
    # queue its waiter, so the waiter is seen waiting before the dead permit ends.
    options = {"max_in_flight": 1, "lease": 2.0}
    dead = harness.backend(**options)
    await dead.open("dead-worker")
    try:
        taken = time.monotonic()  # before the lease starts (not after the reply: it may lag on a loaded box)
        assert isinstance(await dead.acquire("dead-worker", "w1", 10, Lane.NORMAL), Granted)
        live = await enter(opened, harness.worker(**options))
        task = asyncio.create_task(live.acquire(10, Lane.URGENT).__aenter__())
        await waiting(live, 1)
        assert not task.done()
        await harness.advance(2.0)
        grant = await asyncio.wait_for(task, 10)
        if harness.kind == "redis":
            assert time.monotonic() - taken >= 1.95
        assert (await live.backend.snapshot()).expired_permits == 1
        await live.release(grant)
    finally:
        await dead.close()


class Partitioned:
    """A real backend whose heartbeats fail on demand (the worker cannot reach the store)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.config = inner.config
        self.clock = inner.clock
        self.notifier = inner.notifier
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def heartbeat(self, client: str, forget: Collection[str]) -> list[str]:
        if self.down:
            raise CoordinationUnavailableError("partitioned")
        return await self.inner.heartbeat(client, forget)


class CutOff(Partitioned):
    """A real backend cut off from the store on demand: every call fails (a paused worker's view)."""

    async def acquire(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise CoordinationUnavailableError("partitioned")
        return await self.inner.acquire(*args, **kwargs)

    async def cancel(self, client: str, waiter: str) -> None:
        if self.down:
            raise CoordinationUnavailableError("partitioned")
        await self.inner.cancel(client, waiter)

    async def release(self, *args: Any, **kwargs: Any) -> bool:
        if self.down:
            raise CoordinationUnavailableError("partitioned")
        return bool(await self.inner.release(*args, **kwargs))


async def test_a_holder_that_cannot_renew_aborts_its_request(
    harness: Harness, opened: list[Scheduler]
) -> None:
    backend = Partitioned(harness.backend(max_in_flight=1, lease=0.5))
    sched = await enter(opened, Scheduler(backend))
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def send() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async with sched.acquire(10, Lane.NORMAL) as grant:
        backend.down = True
        attempt = asyncio.create_task(grant.guard(send()))
        await asyncio.wait_for(started.wait(), 10)
        await harness.advance(0.6)
        with pytest.raises(PermitLostError):
            await asyncio.wait_for(attempt, 10)
        assert cancelled.is_set() and grant.lost.is_set()
        with pytest.raises(PermitLostError):
            grant.check()
    assert sched.lost_permits == 1


async def test_redis_unreachable_fails_closed() -> None:
    sched = Scheduler.redis("redis://127.0.0.1:1/0", shop=SHOP, token_count=3, max_in_flight=8)
    with pytest.raises(CoordinationUnavailableError):
        async with sched:
            pass


@pytest.mark.redis
async def test_a_done_run_does_not_fail_because_closing_its_redis_connection_timed_out(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py gives a closing socket the connect timeout; a loaded process's loop can be later than
    that (seen in CI: a fleet run's every row done, then ``TimeoutError: Timed out closing connection
    after 2.0``). The connection is dropped either way: leaving the scheduler must not raise."""
    shop = "close-times-out"
    async with Scheduler.redis(redis_url, shop=shop, token_count=3, max_in_flight=2) as sched:
        async with sched.acquire(10, Lane.BULK):
            pass

        def late(close: Any) -> Any:
            async def late_close(self: Any, *args: Any, **kwargs: Any) -> None:
                await close(self, *args, **kwargs)  # closed, but too late for redis-py's wait
                raise RedisTimeoutError("Timed out closing connection after 2.0")
            return late_close

        monkeypatch.setattr(redis.asyncio.Redis, "aclose", late(redis.asyncio.Redis.aclose))
        monkeypatch.setattr(redis.asyncio.client.PubSub, "aclose", late(redis.asyncio.client.PubSub.aclose))
    monkeypatch.undo()
    fresh = Scheduler.redis(redis_url, shop=shop, token_count=3, max_in_flight=2)
    async with fresh, fresh.acquire(10, Lane.BULK), fresh.acquire(10, Lane.BULK):
        pass  # the whole cap: the first worker's permit went back before it closed


async def test_a_resumed_worker_does_not_regain_permits_the_store_handed_on(
    harness: Harness, opened: list[Scheduler]
) -> None:
    """Paused past its lease: the permit went to another worker. When the paused worker talks to the
    store again (a new acquire starts a fresh lease), its old grant must stay lost."""
    backend = Partitioned(harness.backend(max_in_flight=1, lease=0.5))
    paused = await enter(opened, Scheduler(backend))
    # the live worker's lease is long: on a loaded box its heartbeat may come late, and its permit must
    # not run out during the test (Redis: a lease per client; in-process: one shared config, lease 0.5)
    other = await enter(opened, harness.worker(max_in_flight=1, lease=60))
    old = await paused.acquire(10, Lane.NORMAL).__aenter__()
    backend.down = True  # its heartbeats stop reaching the store (as if SIGSTOPped)
    taker = asyncio.create_task(other.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(other, 1)
    await harness.advance(0.6)
    handed_on = await asyncio.wait_for(taker, 10)
    backend.down = False
    retry = asyncio.create_task(paused.acquire(10, Lane.URGENT).__aenter__())
    await waiting(other, 1)  # the resumed worker queues behind the permit it lost
    with pytest.raises(PermitLostError):
        old.check()
    await other.release(handed_on)
    fresh = await asyncio.wait_for(retry, 10)
    assert fresh.fence > handed_on.fence > old.fence
    with pytest.raises(PermitLostError):
        old.check()
    await paused.release(fresh)
    await paused.release(old)


@pytest.mark.redis
async def test_the_lua_script_makes_the_same_decisions_as_the_python_machine(redis_url: str) -> None:
    """Lua and Python are one state machine written twice: drive both with the same random
    operations (time frozen: no restore, no lease or queue expiry) and compare every decision."""
    from bulk.scheduler import core

    config = SchedulerConfig(
        token_count=3, max_in_flight=3, urgent_reserve=100, lease=600, waiter_ttl=600, time_scale=1e-9
    )
    python = InProcessBackend(config, ManualClock())
    lua = RedisBackend(redis_url, shop="parity", config=config)
    await lua.open("a")
    rng = __import__("random").Random(3)
    held: list[tuple[str, str, int]] = []
    waiting: list[tuple[str, str, float, int]] = []
    refused = standbys = detached = 0
    try:
        for step in range(1000):
            op = rng.choice(["ask", "retry", "retry", "release", "release", "cancel", "heartbeat"])
            if op == "ask" or (op == "retry" and waiting):
                if op == "ask":
                    ask = (
                        rng.choice("abc"),
                        f"w{step}",
                        float(rng.choice([5, 30, 120, 120, 1950])),  # 1950: over capacity unless urgent
                        rng.choice([0, 1, 2]),
                    )
                    waiting.append(ask)
                else:
                    ask = min(waiting, key=lambda a: (a[3], waiting.index(a)))  # the head
                results = [await b.acquire(*ask) for b in (python, lua)]
                if isinstance(results[0], Granted):
                    assert results[1] == results[0], step
                    waiting.remove(ask)
                    held.append((ask[0], results[0].permit, results[0].token))
                else:
                    assert not isinstance(results[1], Granted), step
                    assert results[1].reason == results[0].reason, step
                    if results[0].reason == "over_capacity":
                        waiting.remove(ask)
                        refused += 1
            elif op == "release" and held:
                client, permit, token = held.pop(rng.randrange(len(held)))
                available = float(rng.choice([300, 900, 2000]))
                report = rng.choice(
                    [
                        None,
                        core.CostReport(
                            50, float(rng.choice([1, 40])), core.ThrottleStatus(2000, available, 100)
                        ),
                    ]
                )
                throttled = report is not None and rng.random() < 0.2
                riding = [sid for sid, x in python.state.standbys.items() if x.on == permit]
                detached += sum(1 for x in python.state.standbys.values() if x.on is None)
                started = riding[0] if riding and rng.random() < 0.7 else None  # heard of it in time?
                standbys += len(riding)
                for b in (python, lua):
                    assert await b.release(client, permit, token, report, throttled, started=started)
            elif op == "cancel" and waiting:
                client, wid, _, _ = waiting.pop(rng.randrange(len(waiting)))
                for b in (python, lua):
                    await b.cancel(client, wid)
            elif op == "heartbeat":
                client = rng.choice("abc")
                assert await python.heartbeat(client, []) == sorted(await lua.heartbeat(client, []))
        mine, theirs = await python.snapshot(), await lua.snapshot()
        assert (theirs.admitted, theirs.throttled, theirs.in_flight) == (
            mine.admitted,
            mine.throttled,
            mine.in_flight,
        )
        assert theirs.waiters == mine.waiters and theirs.standby == mine.standby
        for py, lu in zip(mine.tokens, theirs.tokens, strict=True):
            assert lu.level == pytest.approx(py.level, abs=0.01)
            assert (lu.capacity, lu.outstanding, lu.learned) == (py.capacity, py.outstanding, py.learned)
        assert mine.admitted > 30 and mine.throttled > 0 and refused > 0  # every kind of decision ran
        print("standbys", standbys, "detached", detached)
        assert standbys > 0  # admitted ahead of time, started (or not) on their carrier's release
    finally:
        await lua.close()


async def test_a_pinned_request_waits_for_its_own_token(harness: Harness, opened: list[Scheduler]) -> None:
    """Bulk operations belong to one app: their polls are paid by that token's bucket, even when
    another token could pay at once (invariant 1 holds for pinned requests too)."""
    sched = await enter(opened, harness.worker())
    async with sched.acquire(10, Lane.URGENT, token_index=2) as grant:
        assert grant.token_index == 2
        grant.settle(cost(available=0))  # token 2 is now empty; tokens 0 and 1 are not
    task = asyncio.create_task(sched.acquire(20, Lane.BULK, token_index=2).__aenter__())
    await waiting(sched, 1)
    async with sched.acquire(10, Lane.URGENT) as other:
        assert other.token_index != 2  # urgent work goes ahead, where the points are
        other.settle(None)
    # 100 points/s: the bulk lane must leave the 100-point urgent reserve, so 20 + 100 take 1.2 s
    await harness.advance(1.2)
    pinned = await asyncio.wait_for(task, 10)
    assert pinned.token_index == 2
    await sched.release(pinned)


async def test_a_request_no_bucket_can_ever_pay_is_refused_not_queued_forever(
    harness: Harness, opened: list[Scheduler]
) -> None:
    """A plan with small buckets (learned 1000 points) and a 950-point NORMAL request: with the
    100-point urgent reserve no refill can ever pay it. It must fail with a clear error at once, and
    must not block the requests queued behind it."""
    sched = await enter(opened, harness.worker(token_count=1, urgent_reserve=100, time_scale=1e-6))
    async with sched.acquire(10, Lane.URGENT) as grant:
        grant.settle(cost(available=1000, maximum=1000))
    with pytest.raises(SchedulerError, match=r"950 points can never be paid.*NORMAL must leave 100"):
        async with sched.acquire(950, Lane.NORMAL):
            pass
    await waiting(sched, 0)
    async with sched.acquire(50, Lane.NORMAL) as behind:
        assert behind.token_index == 0
    async with sched.acquire(950, Lane.URGENT) as urgent:  # urgent work has no reserve to leave
        assert urgent.token_index == 0


class PrivateRedis:
    """A redis-server of this test's own, so it can be stopped and started again on one port (kept
    for the test by ``own_port``: no other process takes it while the server is down)."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.port = port
        self.tmp = tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*args, "--dir", str(self.tmp)], stdout=subprocess.DEVNULL)  # noqa: ASYNC220
        client = redis.asyncio.Redis.from_url(self.url)
        try:
            await until(lambda: _pings(client))
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


async def _pings(client: redis.asyncio.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        await asyncio.sleep(0.02)
        return False


async def _answers(sched: Scheduler) -> bool:
    """True once ``sched``'s backend reaches Redis again (a call on a connection the restart closed
    may fail first: the pool reconnects on its own schedule, which the test must not depend on)."""
    try:
        await sched.backend.snapshot()
    except CoordinationUnavailableError:
        await asyncio.sleep(0.02)
        return False
    return True


@pytest.mark.redis
async def test_wake_ups_come_back_after_a_redis_restart(tmp_path: Path, opened: list[Scheduler],
                                                        own_port: int) -> None:
    """Redis went away and came back. While it is away nothing is admitted (a waiter and a new
    request both fail closed); once it is back the wake-up channel is subscribed again, so a waiter
    is woken by the next release, not by its once-per-lease fallback re-check (60 s here)."""
    from bulk.scheduler.backends import _keys

    server = PrivateRedis(tmp_path, own_port)
    await server.start()
    config = SchedulerConfig(token_count=1, max_in_flight=1, lease=60, waiter_ttl=60)
    holder = await enter(opened, Scheduler(RedisBackend(server.url, shop="restart", config=config)))
    waiter = await enter(opened, Scheduler(RedisBackend(server.url, shop="restart", config=config)))
    channel = _keys.wake_channel("restart", waiter.client_id)
    try:
        held = await holder.acquire(10, Lane.NORMAL).__aenter__()
        queued = asyncio.create_task(waiter.acquire(10, Lane.NORMAL).__aenter__())
        await waiting(waiter, 1)
        server.stop()
        # The lost channel wakes the waiter; its re-check meets the outage: it fails, not admitted.
        with pytest.raises(CoordinationUnavailableError):
            await asyncio.wait_for(queued, 30)
        with pytest.raises(CoordinationUnavailableError):  # a new request fails closed too
            await waiter.acquire(10, Lane.NORMAL).__aenter__()
        assert holder.lost_permits == 0 and not held.lost.is_set()  # its lease (60 s) still runs
        await holder.release(held)  # cannot reach Redis: logged, the permit would end with its lease
        await server.start()  # empty: --save "" (every permit and waiter of before is gone)
        admin = redis.asyncio.Redis.from_url(server.url)

        async def subscribed() -> bool:
            await asyncio.sleep(0.02)
            return dict(await admin.pubsub_numsub(channel)).get(channel.encode(), 0) == 1

        try:
            await until(subscribed, within=30)
        finally:
            await admin.aclose()
        await until(lambda: _answers(holder), within=30)
        await until(lambda: _answers(waiter), within=30)
        grant = await holder.acquire(10, Lane.NORMAL).__aenter__()
        task = asyncio.create_task(waiter.acquire(10, Lane.NORMAL).__aenter__())
        await waiting(waiter, 1)
        await holder.release(grant)
        woken = await asyncio.wait_for(task, 10)  # far less than the 60 s lease fallback
        assert woken.fence > grant.fence
        await waiter.release(woken)
    finally:
        for sched in list(opened):
            await sched.__aexit__(None, None, None)
        opened.clear()
        server.stop()
