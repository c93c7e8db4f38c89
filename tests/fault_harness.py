"""A simulated shop served from a thread of its own, so a test can run the ``bulk`` command itself
(``bulk.cli.main``, in the test's main thread: ``bulk worker`` installs signal handlers) against it,
and arm its documented faults at the moment the path under test begins.

Why arm later: the faults' windows count from the shop's start, but a path (the direct route, the
bulk lane, a fleet worker) first needs a catalog cache synced from the same shop; arming restarts the
fault clock at the path's *first request*, so ``5xx:at=0,for=3`` means "the first 3 s of *this* path's
traffic". Not at ``arm()`` itself: at 20x a 3 s window is 0.15 s of real time, less than a loaded
machine may take to start a command, which then met no fault at all. What the shop answers is
unchanged: only when the window opens.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from bulk.sim import SimConfig, SimShop
from bulk.sim._fault_schedule import Decision, FaultSchedule

T = TypeVar("T")


class ServedSim:
    """``with ServedSim(config) as sim:`` — ``sim.url``, ``sim.call(fn)`` (runs ``fn(shop)`` on the
    shop's loop), ``sim.arm()``, ``sim.stats()``."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True,
                                        name="served-sim")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._shop: SimShop | None = None
        self._armed: FaultSchedule | None = None
        self._error: BaseException | None = None

    async def _serve(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with SimShop(self.config) as shop:
                self._shop = shop
                self.url = shop.url
                self._armed, shop.app.schedule = shop.app.schedule, FaultSchedule()
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # surfaced by __enter__
            self._error = exc
            self._ready.set()

    def __enter__(self) -> ServedSim:
        self._thread.start()
        if not self._ready.wait(120) or self._error is not None:  # a hang guard, not a budget
            raise RuntimeError(f"the simulated shop did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def call(self, fn: Callable[[SimShop], T]) -> T:
        """``fn(shop)`` on the shop's own loop (its state is not thread-safe)."""
        assert self._loop is not None and self._shop is not None
        shop = self._shop

        async def run() -> T:
            return fn(shop)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(120)  # a hang guard

    def arm(self) -> None:
        """The configured faults from now on; their windows (and the shop's ``started``, which its
        counters' times count from) start at the next request the shop receives."""
        armed = self._armed

        def go(shop: SimShop) -> None:
            assert armed is not None
            shop.app.schedule = _FromFirstRequest(armed, shop)
            shop.app.started = shop.clock.now()

        self.call(go)

    def stats(self) -> dict[str, Any]:
        """``/_sim/stats`` plus the shop state's write counters under ``"state"``."""
        def read(shop: SimShop) -> dict[str, Any]:
            stats = dict(shop.stats())
            stats["state"] = dict(shop.state.statistics())
            return stats

        return self.call(read)


class _FromFirstRequest(FaultSchedule):
    """The armed schedule, its clock restarted by the first request it sees (that request is at 0),
    and ``shop.app.started`` moved to the same moment, so the counters' times and the windows agree.
    The time is read from the shop's clock here rather than taken from ``elapsed``, which the server
    computed from the ``started`` of before."""

    def __init__(self, armed: FaultSchedule, shop: SimShop) -> None:
        super().__init__(armed.specs)
        self._armed = armed
        self._shop = shop
        self._origin: float | None = None  # the shop-clock time of the first request

    @property
    def active(self) -> bool:
        return self._armed.active

    def _since_first(self) -> float:
        now = self._shop.clock.now()
        if self._origin is None:
            self._origin = self._shop.app.started = now
        return now - self._origin

    def shop_wide(self, elapsed: float) -> Decision | None:
        return self._armed.shop_wide(self._since_first())

    def decide(self, token: int, elapsed: float) -> Decision:
        return self._armed.decide(token, self._since_first())
