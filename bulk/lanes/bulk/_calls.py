"""The lane's control calls in flight at once, and which waiting call goes first when one ends.

Why an order: the lane keeps only a few calls in flight (the rest of the shop's in-flight cap stays
free for the urgent lane), and when a round of operations ends together every one of them is polled
every fraction of a second near its end — a plain semaphore then queued the start of a shard whose
slot had just freed behind a dozen polls (measured: slots idle 1–4 s between two operations in a
Black Friday run, their shards uploaded and waiting). A start fills a slot at once; an upload prepares
the next one; a poll only learns sooner that one is free. Within one kind, first come first served.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator
from enum import IntEnum


class Call(IntEnum):
    """What a control call is for; a lower value goes first."""

    START = 0  # a slot is free and its shard is staged: start the operation
    UPLOAD = 1  # stage the next shard (or look for an operation started before a crash)
    POLL = 2  # is the operation done yet?


class CallGate:
    """At most ``limit`` calls in flight; a freed place goes to the waiting call of the lowest
    :class:`Call`, the earliest of those first."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._free = limit
        self._order = itertools.count()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []

    @contextlib.asynccontextmanager
    async def call(self, kind: Call) -> AsyncIterator[None]:
        """Hold one place for the duration of a call of ``kind``."""
        await self._enter(kind)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, kind: Call) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (int(kind), next(self._order), place)
        heapq.heappush(self._waiting, entry)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self._leave()  # handed a place just as it was cancelled: pass it on
            elif entry in self._waiting:  # still queued: out of the line
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def _leave(self) -> None:
        while self._waiting:
            place = heapq.heappop(self._waiting)[2]
            if not place.done():  # a waiter cancelled a moment ago is passed over
                place.set_result(None)  # the place goes straight to the next
                return
        self._free += 1

    @property
    def waiting(self) -> int:
        """Calls waiting for a place."""
        return len(self._waiting)

    def __repr__(self) -> str:
        return f"CallGate(free={self._free}, waiting={self.waiting})"
