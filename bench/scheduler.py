"""Scheduler strategies side by side against the simulator: how much of the buckets each one spends.

One run, four strategies, each against a fresh simulated shop with the same settings (3 tokens,
Standard plan: 2000-point buckets restoring 100 points/s, sped up by ``--speed``) and a saturating
stream of ~10-point mutations from ``--loops`` concurrent senders:

- ``ours_inprocess`` / ``ours_redis``: :class:`bulk.scheduler.Scheduler` (cost model per token);
- ``seed``: the seed project's way — three keys round-robin, FIFO, sleep 1 s and retry on THROTTLED;
- ``aiolimiter``: one ``AsyncLimiter`` per key at the restore rate (it cannot know the burst).

``utilization`` = points the shop charged / points the three buckets could pay over the run
(initial burst included). ``admissions_per_s`` measures the pure admission core alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

from bulk.clock import ScaledClock
from bulk.models import Lane
from bulk.scheduler import Scheduler
from bulk.scheduler import core as bucket_core
from bulk.scheduler._admission import Granted, State
from bulk.scheduler._config import SchedulerConfig
from bulk.sim import SimConfig, SimShop
from bulk.sim.percentiles import nearest_rank

MUTATION = (
    'mutation { productVariantsBulkUpdate(productId: "gid://shopify/Product/1", '
    'variants: [{id: "gid://shopify/ProductVariant/10", price: "12.00"}]) '
    "{ userErrors { field message } } }"
)
COST = 11.0  # 10 + 0.2 per variant, rounded up by the shop
CAP = 8
THROTTLE_BAR = 0.005  # the ceiling on throttled_ratio

Send = Callable[[str], Awaitable[dict[str, Any]]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench scheduler``."""
    parser.add_argument("--speed", type=float, default=10.0, help="simulator time scale")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of *simulated* time")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulated latency (mean)")
    parser.add_argument("--loops", type=int, default=16, help="concurrent senders per strategy")
    parser.add_argument(
        "--urgent-every", type=float, default=2.0,
        help="seconds of shop time between urgent probe requests (what the reserve buys)",
    )  # fmt: skip
    parser.add_argument(
        "--redis",
        default=os.environ.get("BULK_REDIS_URL") or os.environ.get("BULK_TEST_REDIS_URL"),
        help="Redis URL for ours_redis (default $BULK_REDIS_URL or $BULK_TEST_REDIS_URL)",
    )


def _throttled(body: dict[str, Any]) -> bool:
    errors = body.get("errors")
    return isinstance(errors, list) and any(
        (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)
    )


class _Strategy:
    """How one strategy sends the saturating NORMAL stream and an urgent request."""

    async def saturate(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def urgent(self) -> None:
        raise NotImplementedError


class _Ours(_Strategy):
    def __init__(self, sched: Scheduler, send: Send, tokens: list[str], loops: int) -> None:
        self.sched, self.send, self.tokens, self.loops = sched, send, tokens, loops

    async def _one(self, lane: Lane) -> None:
        while True:  # a THROTTLED answer re-queues the request (none happen in practice)
            async with self.sched.acquire(COST, lane) as grant:
                body = await self.send(self.tokens[grant.token_index])
                cost = (body.get("extensions") or {}).get("cost")
                if not _throttled(body):
                    grant.settle(cost)
                    return
                grant.throttled(cost)

    async def saturate(self, stop: asyncio.Event) -> None:
        async def loop() -> None:
            while not stop.is_set():
                await self._one(Lane.NORMAL)

        await asyncio.gather(*(loop() for _ in range(self.loops)))

    async def urgent(self) -> None:
        await self._one(Lane.URGENT)


class _Workers(_Strategy):
    """CAP workers, round-robin keys, an urgent queue served before the normal stream (the seed's
    FIFO priority queues); subclasses decide how a worker sends on a key."""

    def __init__(self, send: Send, tokens: list[str]) -> None:
        self.send, self.tokens = send, tokens
        self.keys = itertools.cycle(range(len(tokens)))
        self.urgent_jobs: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()

    async def send_on(self, key: int) -> None:
        raise NotImplementedError

    async def saturate(self, stop: asyncio.Event) -> None:
        async def worker() -> None:
            while not stop.is_set():
                job = None if self.urgent_jobs.empty() else self.urgent_jobs.get_nowait()
                await self.send_on(next(self.keys))
                if job is not None and not job.done():  # the probe may have been cancelled at the end
                    job.set_result(None)

        await asyncio.gather(*(worker() for _ in range(CAP)))

    async def urgent(self) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.urgent_jobs.put(done)
        await done


class _Seed(_Workers):
    """The seed project: send, and on THROTTLED sleep 1 s of shop time and retry."""

    def __init__(self, clock: ScaledClock, send: Send, tokens: list[str]) -> None:
        super().__init__(send, tokens)
        self.clock = clock

    async def send_on(self, key: int) -> None:
        while _throttled(await self.send(self.tokens[key])):
            await self.clock.sleep(1.0)  # the seed's blind sleep-and-retry


class _Aiolimiter(_Workers):
    """One AsyncLimiter per key at the restore rate: 100 points per second of shop time.

    Written as ``AsyncLimiter(100, 1 / speed)`` so its burst is 100 points at every ``--speed``;
    ``AsyncLimiter(100 * speed, 1)`` would grant a burst that grows with the speed-up (2000 points at
    ``--speed 20``), a strategy that exists only in the benchmark."""

    def __init__(self, speed: float, send: Send, tokens: list[str]) -> None:
        super().__init__(send, tokens)
        self.limiters = [AsyncLimiter(100.0, 1.0 / speed) for _ in tokens]

    async def send_on(self, key: int) -> None:
        await self.limiters[key].acquire(COST)  # one unit = one point
        await self.send(self.tokens[key])


async def _probe(strategy: _Strategy, clock: ScaledClock, every: float, waits: list[float]) -> None:
    """One urgent request every ``every`` seconds of shop time; its latency in shop milliseconds."""
    while True:
        await clock.sleep(every)
        started = clock.now()
        await strategy.urgent()
        waits.append((clock.now() - started) * 1000)


def _strategy(
    name: str, args: argparse.Namespace, clock: ScaledClock, send: Send, tokens: list[str]
) -> tuple[_Strategy, Scheduler | None]:
    if name == "ours_inprocess":
        sched = Scheduler.in_process(3, CAP, clock=clock)
    elif name == "ours_redis":
        sched = Scheduler.redis(
            args.redis, shop=f"bench-{os.getpid()}-{time.time_ns()}", token_count=3,
            max_in_flight=CAP, time_scale=args.speed,
        )  # fmt: skip
    elif name == "seed":
        return _Seed(clock, send, tokens), None
    else:
        return _Aiolimiter(args.speed, send, tokens), None
    return _Ours(sched, send, tokens, args.loops), sched


async def _run_strategy(name: str, args: argparse.Namespace) -> dict[str, Any]:
    config = SimConfig(
        products=10, plan="standard", max_concurrency=CAP, speed=args.speed, latency_ms=args.latency_ms
    )
    tokens = list(config.tokens)
    async with (
        SimShop(config) as shop,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
        contextlib.AsyncExitStack() as stack,
    ):

        async def send(token: str) -> dict[str, Any]:
            async with session.post(
                shop.graphql_url, json={"query": MUTATION}, headers={"X-Shopify-Access-Token": token}
            ) as response:
                body: dict[str, Any] = await response.json(content_type=None)
                return body

        stop = asyncio.Event()
        clock = ScaledClock(args.speed)
        strategy, sched = _strategy(name, args, clock, send, tokens)
        if sched is not None:
            await stack.enter_async_context(sched)
        waits: list[float] = []
        started = shop.stats()["clock"]
        task = asyncio.ensure_future(strategy.saturate(stop))
        probe = asyncio.ensure_future(_probe(strategy, clock, args.urgent_every, waits))
        await asyncio.sleep(args.duration / args.speed)
        stats = shop.stats()  # the window ends here; requests still in flight are not counted
        stop.set()
        probe.cancel()
        await asyncio.wait_for(task, 30)
    elapsed = stats["clock"] - started
    totals = stats["totals"]
    payable = sum(t["maximum_available"] + t["restore_rate"] * elapsed for t in stats["tokens"])
    return {
        "utilization": round(totals["cost_spent"] / payable, 4),
        "throttled_ratio": round(totals["throttled"] / max(1, totals["requests"]), 4),
        "requests": totals["requests"],
        "points_spent": totals["cost_spent"],
        "points_payable": round(payable, 1),
        "sim_seconds": round(elapsed, 2),
        "violations": stats["concurrency"]["violations"],
        # points left in the shop's buckets when the window closed: the reserve shows up here
        "unspent_at_end": round(sum(t["currently_available"] for t in stats["tokens"]), 1),
        "urgent_requests": len(waits),
        # from wanting to send to the answer, shop milliseconds (the request's own latency included)
        "urgent_p50_ms": round(nearest_rank(waits, 50), 1) if waits else None,
        "urgent_p99_ms": round(nearest_rank(waits, 99), 1) if waits else None,
        "urgent_max_ms": round(max(waits), 1) if waits else None,
    }


def admissions_per_s(n: int = 20000) -> float:
    """Acquire + settle cycles per second of the pure core (no I/O, one token always able to pay)."""
    state = State(config=SchedulerConfig(token_count=3, max_in_flight=CAP))
    report = bucket_core.CostReport(COST, COST, bucket_core.ThrottleStatus(2000, 2000, 100))
    started = time.perf_counter()
    for i in range(n):
        now = i * 0.001
        granted = state.acquire("bench", f"w{i}", COST, Lane.NORMAL, now)
        assert isinstance(granted, Granted)
        state.release("bench", granted.permit, granted.token, report, False, now)
    return round(n / (time.perf_counter() - started), 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every strategy once, in turn, and return their figures."""
    names = ["ours_inprocess", "ours_redis", "seed", "aiolimiter"]
    strategies: dict[str, Any] = {}
    for name in names:
        if name == "ours_redis" and not args.redis:
            strategies[name] = {"skipped": "no Redis URL (--redis or $BULK_REDIS_URL)"}
            continue
        strategies[name] = await _run_strategy(name, args)
    rate = admissions_per_s()
    for name in ("ours_inprocess", "ours_redis"):
        if "utilization" in strategies[name]:
            strategies[name]["admissions_per_s"] = rate
    measured = {n: s for n, s in strategies.items() if "utilization" in s}
    within = {n: s for n, s in measured.items() if s["throttled_ratio"] <= THROTTLE_BAR}
    return {
        # both rankings, side by side: raw utilization rewards spending the urgent reserve and
        # hammering the shop; the bar is utilization with throttled_ratio <= 0.005
        "highest_utilization": max(measured, key=lambda n: measured[n]["utilization"], default=None),
        "best_within_throttle_bar": max(within, key=lambda n: within[n]["utilization"], default=None),
        "settings": {
            "plan": "standard", "tokens": 3, "speed": args.speed, "duration_sim_s": args.duration,
            "latency_ms": args.latency_ms, "max_concurrency": CAP, "loops": args.loops, "cost": COST,
        },
        "strategies": strategies,
    }  # fmt: skip
