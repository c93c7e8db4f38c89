"""A hand-over that reaches a paused worker only after its lease ran out is never used (both backends).

The store hands a freed permit to the head of the line and tells that worker by a message (Redis:
pub/sub). A worker SIGSTOPped just then reads the message only when it continues — after the store
ended its lease, dropped the permit and handed the slot on. By then the worker has usually renewed
its lease again (its heartbeat), so the old message looks like a live grant: sending on it is one
request over the cap (what the chaos test's referee counted, once in a dozen full-suite runs).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bulk.models import Lane
from bulk.scheduler import Scheduler
from bulk.scheduler._admission import Granted
from bulk.scheduler.protocol import Backend
from tests.integration.test_scheduler_backends import Harness, enter, harness, opened, until, waiting

__all__ = ["harness", "opened"]  # the fixtures this module borrows


class Paused:
    """A real backend whose calls stop reaching the store while ``running`` is clear (a SIGSTOPped
    process: its timers still fire when it continues, its calls are held until then)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.config = inner.config
        self.clock = inner.clock
        self.notifier = inner.notifier
        self.running = asyncio.Event()
        self.running.set()
        self.acquires = 0
        self.answered = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        await self.running.wait()
        result = await getattr(self.inner, name)(*args, **kwargs)
        self.answered += 1
        return result

    async def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.acquires += 1
        return await self._call("acquire", *args, **kwargs)

    async def cancel(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("cancel", *args, **kwargs)

    async def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("heartbeat", *args, **kwargs)

    async def release(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("release", *args, **kwargs)


async def test_a_hand_over_read_after_the_lease_ran_out_is_asked_for_again_not_sent(
    harness: Harness, opened: list[Scheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a long waiter TTL: a heartbeat late on a loaded box must not make the store skip the paused
    # worker's waiter when the permit is freed (no hand-over at all: nothing to replay)
    backend = Paused(harness.backend(max_in_flight=1, lease=0.5, waiter_ttl=5))
    paused = await enter(opened, Scheduler(backend))
    holder = await enter(opened, harness.worker(max_in_flight=1, lease=60, waiter_ttl=5))
    other = await enter(opened, harness.worker(max_in_flight=1, lease=60, waiter_ttl=5))

    in_transit: list[tuple[str, Granted]] = []
    deliver = backend.notifier.hand

    def read_late(waiter: str, granted: Granted) -> None:  # the paused worker's first message waits
        if waiter.startswith(paused.client_id + "/") and not in_transit:
            in_transit.append((waiter, granted))
        else:
            deliver(waiter, granted)

    monkeypatch.setattr(backend.notifier, "hand", read_late)

    first = await holder.acquire(10, Lane.NORMAL).__aenter__()
    retry = asyncio.create_task(paused.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(holder, 1)
    await holder.release(first)  # the store hands the permit to the paused worker's waiter...
    await until(lambda: _true(bool(in_transit)))
    backend.running.clear()  # ...which is stopped before it reads the message
    taker = asyncio.create_task(other.acquire(10, Lane.NORMAL).__aenter__())
    await waiting(other, 1)
    await harness.advance(0.6)
    taken = await asyncio.wait_for(taker, 10)  # its lease ran out: the slot went to another worker
    assert (await other.backend.snapshot()).expired_permits == 1

    answered = backend.answered
    backend.running.set()  # it continues: its heartbeat and its next acquire renew its lease...
    await until(lambda: _true(backend.answered > answered))
    await waiting(other, 1)  # (its waiter, dropped with the lease, queued again)
    await asyncio.sleep(0)
    asked = backend.acquires
    for waiter, granted in in_transit:  # ...and only then does it read the old message
        deliver(waiter, granted)
    await until(lambda: _true(retry.done() or backend.acquires > asked))
    assert not retry.done(), "the paused worker took a permit the store had handed on"
    await waiting(other, 1)  # it asked the store again, and queues behind the permit it lost
    assert (await other.backend.snapshot()).in_flight == 1
    assert paused.handed_rechecked >= 1

    await other.release(taken)
    await harness.advance(0.1)
    fresh = await asyncio.wait_for(retry, 10)
    assert fresh.fence > taken.fence
    fresh.check(0.2)
    await paused.release(fresh)


async def _true(value: bool) -> bool:
    return value
