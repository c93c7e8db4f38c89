"""Hung answers: a request's place under the concurrency cap (:class:`Slot`) and holding it (:func:`hold`).

Why apart from the server: a held request has three ways out — its time on the shop's clock runs
out, its client gives up (closes the connection), or the shop stops — and each one frees the cap's
place differently. Only the aiohttp transport tells that the client left, so that one is polled.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bulk.clock import Clock
from bulk.sim._stats import InFlight

HOLD_POLL_S = 0.02  # real seconds between looks at a held request's connection


class Slot:
    """One admitted request's place under the concurrency cap, given back exactly once."""

    def __init__(self, inflight: InFlight, clock: Clock) -> None:
        self._inflight = inflight
        self._clock = clock
        self.held = True

    def release(self) -> None:
        """Give the place back (again: nothing)."""
        if self.held:
            self.held = False
            self._inflight.leave(self._clock.now())

    def __repr__(self) -> str:
        return f"Slot(held={self.held})"


async def hold(
    request: web.Request, slot: Slot, seconds: float | None, *, clock: Clock, closing: asyncio.Event
) -> bool:
    """Hold ``request`` ``seconds`` of ``clock`` (None: until the client gives up).

    True when the request goes on: a finite hold ended. A client that gives up frees its place
    under the cap at once (its connection is gone), but a finite hold still runs its request when it
    ends — a real shop does not know the client left; an endless one never runs it. ``closing``
    (the shop stopping) ends every hold (False)."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds)) if seconds is not None else None
    stopping = asyncio.ensure_future(closing.wait())
    waiters = {stopping} if sleeper is None else {stopping, sleeper}
    try:
        while True:
            await asyncio.wait(waiters, timeout=HOLD_POLL_S, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done():
                return False
            if sleeper is not None and sleeper.done():
                return True
            if slot.held and (request.transport is None or request.transport.is_closing()):
                slot.release()
                if sleeper is None:
                    return False
    finally:
        stopping.cancel()
        if sleeper is not None:
            sleeper.cancel()
