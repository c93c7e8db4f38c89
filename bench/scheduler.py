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
from bulk.scheduler.admission import Granted, State
from bulk.scheduler.config import SchedulerConfig
from bulk.sim import SimConfig, SimShop

MUTATION = (
    'mutation { productVariantsBulkUpdate(productId: "gid://shopify/Product/1", '
    'variants: [{id: "gid://shopify/ProductVariant/10", price: "12.00"}]) '
    "{ userErrors { field message } } }"
)
COST = 11.0  # 10 + 0.2 per variant, rounded up by the shop
CAP = 8

Send = Callable[[str], Awaitable[dict[str, Any]]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench scheduler``."""
    parser.add_argument("--speed", type=float, default=10.0, help="simulator time scale")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of *simulated* time")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulated latency (mean)")
    parser.add_argument("--loops", type=int, default=16, help="concurrent senders per strategy")
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


async def _ours(sched: Scheduler, send: Send, tokens: list[str], stop: asyncio.Event, loops: int) -> None:
    async with sched:

        async def loop() -> None:
            while not stop.is_set():
                async with sched.acquire(COST, Lane.NORMAL) as grant:
                    body = await send(tokens[grant.token_index])
                    cost = (body.get("extensions") or {}).get("cost")
                    grant.throttled(cost) if _throttled(body) else grant.settle(cost)

        await asyncio.gather(*(loop() for _ in range(loops)))


async def _seed(clock: ScaledClock, send: Send, tokens: list[str], stop: asyncio.Event) -> None:
    """Round-robin keys, CAP workers taking FIFO from one queue, 1 s sleep on THROTTLED."""
    keys = itertools.cycle(range(len(tokens)))

    async def worker() -> None:
        while not stop.is_set():
            key = next(keys)
            while not stop.is_set():
                body = await send(tokens[key])
                if not _throttled(body):
                    break
                await clock.sleep(1.0)  # the seed's blind sleep-and-retry (1 s of shop time)

    await asyncio.gather(*(worker() for _ in range(CAP)))


async def _aiolimiter(speed: float, send: Send, tokens: list[str], stop: asyncio.Event) -> None:
    """One AsyncLimiter per key at the restore rate (points per real second at this speed)."""
    limiters = [AsyncLimiter(100.0 * speed, 1.0) for _ in tokens]
    keys = itertools.cycle(range(len(tokens)))

    async def worker() -> None:
        while not stop.is_set():
            key = next(keys)
            await limiters[key].acquire(COST)  # one unit = one point
            await send(tokens[key])

    await asyncio.gather(*(worker() for _ in range(CAP)))


async def _run_strategy(name: str, args: argparse.Namespace) -> dict[str, Any]:
    config = SimConfig(
        products=10, plan="standard", max_concurrency=CAP, speed=args.speed, latency_ms=args.latency_ms
    )
    tokens = list(config.tokens)
    async with (
        SimShop(config) as shop,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):

        async def send(token: str) -> dict[str, Any]:
            async with session.post(
                shop.graphql_url, json={"query": MUTATION}, headers={"X-Shopify-Access-Token": token}
            ) as response:
                body: dict[str, Any] = await response.json(content_type=None)
                return body

        stop = asyncio.Event()
        clock = ScaledClock(args.speed)
        work: Awaitable[None]
        if name == "ours_inprocess":
            work = _ours(Scheduler.in_process(3, CAP, clock=clock), send, tokens, stop, args.loops)
        elif name == "ours_redis":
            sched = Scheduler.redis(
                args.redis, shop=f"bench-{os.getpid()}-{time.time_ns()}", token_count=3,
                max_in_flight=CAP, time_scale=args.speed,
            )  # fmt: skip
            work = _ours(sched, send, tokens, stop, args.loops)
        elif name == "seed":
            work = _seed(clock, send, tokens, stop)
        else:
            work = _aiolimiter(args.speed, send, tokens, stop)
        started = shop.stats()["clock"]
        task = asyncio.ensure_future(work)
        await asyncio.sleep(args.duration / args.speed)
        stats = shop.stats()  # the window ends here; requests still in flight are not counted
        stop.set()
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
    return {
        "settings": {
            "plan": "standard", "tokens": 3, "speed": args.speed, "duration_sim_s": args.duration,
            "latency_ms": args.latency_ms, "max_concurrency": CAP, "loops": args.loops, "cost": COST,
        },
        "strategies": strategies,
    }  # fmt: skip
