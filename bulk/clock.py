"""The one source of time. Decisions take ``now`` from a Clock so tests never sleep.

- :class:`MonotonicClock` — real time (``time.monotonic``), the default.
- :class:`ScaledClock` — real time multiplied by ``speed``; the simulator uses it so a benchmark at
  ``--speed 20`` sees buckets refill 20× faster while every ratio stays true.
- :class:`ManualClock` — time moves only when a test says so (``advance``); ``sleep`` parks the caller
  until the clock has been advanced far enough, so async tests are deterministic.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale, and a sleep measured on that same scale."""

    def now(self) -> float:
        """Current time in seconds (arbitrary origin, never goes backwards)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


async def wait_event(event: asyncio.Event, seconds: float, clock: Clock) -> bool:
    """Wait until ``event`` is set or ``seconds`` *of ``clock``* pass; True if it was set.

    ``asyncio.wait_for`` would count real seconds: on a sped-up clock that waits too long (a bulk lane
    at a simulator's x2 woke for its next free slot twice too late), on a manual one it never waits."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
    return event.is_set()


class MonotonicClock:
    """Real monotonic time."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "MonotonicClock()"


class ScaledClock:
    """Real time running ``speed`` times faster: ``now`` grows by ``speed`` per real second."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        """Scaled seconds since this clock was made."""
        return (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of scaled time (``seconds / speed`` real seconds)."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self.speed}, now={self.now():.3f})"


class ManualClock:
    """A clock that only moves when told to; for tests.

    ``sleep`` registers a wake-up time and waits; ``advance`` moves time and wakes every sleeper
    whose time has come, in order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """The current manual time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake the sleepers that are due."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in :meth:`sleep`."""
        return len(self._sleepers)

    async def run_until_idle(self, *, max_steps: int = 100_000) -> None:
        """Let every task run that can run without this clock moving, then return (trio's autojump
        idea, without the jump): the event loop has nothing ready but the caller. Tasks parked in
        :meth:`sleep` wait for :meth:`advance`; work in threads or sockets is I/O and not waited for."""
        loop = asyncio.get_running_loop()
        for _ in range(max_steps):
            await asyncio.sleep(0)
            ready = getattr(loop, "_ready", None)  # CPython's run queue; without it, one step
            if not ready:
                return
        raise RuntimeError(f"the event loop was still busy after {max_steps} steps")

    async def advance_until(self, done: Callable[[], bool], *, step: float, io_wait_s: float = 0.001,
                            max_s: float = 1e9, busy: Callable[[], bool] | None = None) -> None:
        """Run the tasks until ``done()``: whenever they are idle, move time by ``step`` if somebody
        sleeps on this clock, else wait ``io_wait_s`` of real time for I/O (a thread, a socket).

        ``busy`` says that real work the tasks wait for is still under way (a call in a thread, a
        process): while it is true, time does not move even if somebody sleeps, the real wait is
        taken instead. Without it a task that sleeps on this clock beside one that waits for a thread
        (a poll loop, a lease timer) lets manual time run as fast as the loop turns, so how much of it
        passes before the thread is back depends on how loaded the machine is."""
        start = self._now
        while not done():
            await self.run_until_idle()
            if done():
                return
            if self._now - start > max_s:
                raise TimeoutError(f"not done after {max_s} s of manual time")
            if self._sleepers and (busy is None or not busy()):
                self.advance(step)
            else:
                await asyncio.sleep(io_wait_s)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now:.3f}, sleepers={self.sleepers})"
