"""Urgent inventory latency while a background stream saturates all three tokens.

Two strategies against the same simulated shop (fresh each, same seed, same random moments):

- ``ours``: :class:`bulk.session.shop.Shop` — the background goes through the scheduler at NORMAL priority,
  the 50 inventory changes through the urgent lane (URGENT priority, the bucket's reserve).
- ``seed``: what the project replaced — three keys round-robin, no priorities, no in-flight cap,
  and a fixed 1 s sleep after THROTTLED.

The background sends direct ``productVariantsBulkUpdate`` price changes from ``--workers`` loops,
far more than three buckets restore (``--plan`` standard: 3 x 100 points/s), so every bucket stays
empty (the run starts once they are, see ``--warmup``). Figures: ``urgent_p50_ms`` /
``urgent_p99_ms`` (from the call to its result) and ``sim_latency_ms``: the p99 of the latencies the
simulator itself drew *for those urgent requests* in the same run (each matched to its draw by time),
so the goal reads ``urgent_p99_ms <= sim_latency_ms + 50``. Why matched: with 50 samples a p99 is the
maximum, and the simulator's lognormal tail lands on an urgent request or not by chance; the per-request
``urgent_overhead_*`` (latency minus its own draw) is the part the client is responsible for.
``sim_latency_all_*`` are over every request of the run; ``ours_urgent_split`` says where our changes'
time went, per phase (:class:`bulk.lanes.urgent.ChangeTiming`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bulk.errors import ShopifyError, ThrottledError
from bulk.lanes.urgent import InventoryStatus
from bulk.models import Lane
from bulk.session.shop import Shop, ShopConfig
from bulk.shopify import documents
from bulk.shopify.inventory import QuantityChange, set_quantities_variables
from bulk.shopify.transport import Transport
from bulk.sim import SimConfig, SimShop
from bulk.sim.percentiles import nearest_rank

TOKENS = ("shpat_bench_0", "shpat_bench_1", "shpat_bench_2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench urgent``."""
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per strategy (default 12)")
    parser.add_argument("--changes", type=int, default=50, help="urgent inventory changes (default 50)")
    parser.add_argument("--workers", type=int, default=8, help="background loops (default 8)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulator mean latency (default 50)")
    parser.add_argument("--plan", default="standard", help="simulated plan (default standard)")
    parser.add_argument("--products", type=int, default=2000, help="catalog size (default 2000)")
    parser.add_argument("--max-in-flight", type=int, default=8, help="scheduler cap, ours (default 8)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup", type=float, default=40.0, help="max seconds to drain the buckets first")
    parser.add_argument("--strategy", choices=["both", "ours", "seed"], default="both")


def _price_update(p: int) -> tuple[dict[str, Any], float]:
    variants = [
        {"id": f"gid://shopify/ProductVariant/{p * 10 + v}", "price": f"{10 + p % 90}.99"}
        for v in range(1 + p % 3)
    ]
    return {"productId": f"gid://shopify/Product/{p}", "variants": variants}, 10 + 0.2 * len(variants)


class _SimLatency:
    """Wraps the simulator's fault plan to record every latency it draws."""

    def __init__(self, faults: Any) -> None:
        self._faults = faults
        self.samples: list[float] = []
        self.draws: list[tuple[float, float]] = []  # (perf_counter when drawn, latency s)

    def latency_s(self) -> float:
        value: float = self._faults.latency_s()
        self.samples.append(value)
        self.draws.append((time.perf_counter(), value))
        return value

    def own_latency(self, t0: float, t1: float) -> float | None:
        """The draw of the request sent at ``t0`` and answered at ``t1``: drawn in between, and the
        one whose sleep ended closest to ``t1`` (the answer follows its sleep by a few ms at most)."""
        candidates = [(abs(t1 - (at + lat)), lat) for at, lat in self.draws if t0 <= at <= t1]
        return min(candidates)[1] if candidates else None

    def fault(self) -> Any:
        return self._faults.fault()


async def _run_strategy(
    args: argparse.Namespace,
    name: str,
    background: Callable[[int], Awaitable[None]],
    urgent: Callable[[int], Awaitable[bool]],
    sim: SimShop,
    probe: _SimLatency,
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    moments = sorted(rng.uniform(1.0, args.duration - 1.0) for _ in range(args.changes))
    stop = asyncio.Event()
    background_done = itertools.count()
    latencies: list[float] = []
    own_ms: list[float] = []
    overhead_ms: list[float] = []
    failures = 0

    async def loop(worker: int) -> None:
        p = worker + 1
        while not stop.is_set():
            try:
                await background(p)
                next(background_done)
            except ShopifyError:
                pass
            p = (p + args.workers) % (args.products - 1) + 1

    async def one(i: int, at: float, start: float) -> None:
        nonlocal failures
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        t0 = time.perf_counter()
        ok = await urgent(i)
        t1 = time.perf_counter()
        latencies.append((t1 - t0) * 1000)
        own = probe.own_latency(t0, t1)
        if own is not None:
            own_ms.append(own * 1000)
            overhead_ms.append((t1 - t0 - own) * 1000)
        failures += not ok

    async with asyncio.TaskGroup() as tg:
        workers = [tg.create_task(loop(w), name=f"background-{w}") for w in range(args.workers)]
        warmup = await _drain(sim, args.warmup)
        start = time.perf_counter()
        probe.samples.clear()
        probe.draws.clear()
        await asyncio.gather(*(one(i, at, start) for i, at in enumerate(moments)))
        remaining = args.duration - (time.perf_counter() - start)
        if remaining > 0:
            await asyncio.sleep(remaining)
        stop.set()
        await asyncio.gather(*workers)
    stats = sim.stats()
    samples_ms = [s * 1000 for s in probe.samples]
    return {
        f"{name}_urgent_p50_ms": round(statistics.median(latencies), 1),
        f"{name}_urgent_p99_ms": round(nearest_rank(latencies, 99), 1),
        f"{name}_urgent_max_ms": round(max(latencies), 1),
        f"{name}_sim_latency_ms": round(nearest_rank(own_ms, 99), 1),
        f"{name}_sim_latency_p50_ms": round(statistics.median(own_ms), 1) if own_ms else None,
        f"{name}_urgent_overhead_p50_ms": round(statistics.median(overhead_ms), 1) if overhead_ms else None,
        f"{name}_urgent_overhead_p99_ms": round(nearest_rank(overhead_ms, 99), 1),
        f"{name}_sim_latency_all_p50_ms": round(statistics.median(samples_ms), 1),
        f"{name}_sim_latency_all_p99_ms": round(nearest_rank(samples_ms, 99), 1),
        f"{name}_background_requests": next(background_done),
        f"{name}_warmup_s": round(warmup, 1),
        f"{name}_bucket_levels_end": [round(t["currently_available"]) for t in stats["tokens"]],
        f"{name}_throttled": stats["totals"]["throttled"],
        f"{name}_requests": stats["totals"]["requests"],
    }


async def _drain(sim: SimShop, limit_s: float) -> float:
    """Let the background empty every bucket first (a full bucket hides the contention); seconds taken."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        levels = [t["currently_available"] / t["maximum_available"] for t in sim.stats()["tokens"]]
        if max(levels) < 0.1:
            break
        await asyncio.sleep(0.1)
    return time.perf_counter() - t0


def _sim_config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        products=args.products, plan=args.plan, tokens=TOKENS, latency_ms=args.latency_ms, seed=args.seed
    )


def _change(i: int, args: argparse.Namespace) -> QuantityChange:
    p = 1 + (i * 37) % (args.products - 1)
    return QuantityChange(
        inventory_item_id=f"gid://shopify/InventoryItem/{p * 10}",
        location_id=f"gid://shopify/Location/{1 + i % 3}",
        quantity=i,
    )


async def _ours(args: argparse.Namespace) -> dict[str, Any]:
    async with SimShop(_sim_config(args)) as sim:
        probe = _SimLatency(sim.app.faults)
        sim.app.faults = probe  # type: ignore[assignment]
        config = ShopConfig(max_in_flight=args.max_in_flight)
        async with Shop.connect(sim.url, TOKENS, config=config) as shop:
            client = shop.client
            doc = documents.document(documents.PRODUCT_VARIANTS_BULK_UPDATE)

            async def background(p: int) -> None:
                variables, cost = _price_update(p)
                await client.request(doc, variables, cost=cost, priority=Lane.NORMAL)

            async def urgent(i: int) -> bool:
                c = _change(i, args)
                results = await shop.inventory.set(
                    [
                        {
                            "inventory_item_id": c.inventory_item_id,
                            "location_id": c.location_id,
                            "quantity": c.quantity,
                        }
                    ]
                )
                return results[0].status is InventoryStatus.APPLIED

            figures = await _run_strategy(args, "ours", background, urgent, sim, probe)
            lane = shop.inventory.statistics().lane
            figures["ours_urgent_split"] = dict(lane.phases) if lane else {}  # where the time went
            return figures


async def _seed(args: argparse.Namespace) -> dict[str, Any]:
    async with SimShop(_sim_config(args)) as sim:
        probe = _SimLatency(sim.app.faults)
        sim.app.faults = probe  # type: ignore[assignment]
        async with Transport(sim.graphql_url, TOKENS) as transport:
            keys = itertools.cycle(range(len(TOKENS)))
            price_doc = documents.document(documents.PRODUCT_VARIANTS_BULK_UPDATE)
            inv_doc = documents.document(documents.INVENTORY_SET_QUANTITIES)

            async def send(doc: str, variables: dict[str, Any]) -> None:
                while True:
                    try:
                        await transport.execute(doc, variables, token_index=next(keys))
                        return
                    except ThrottledError:
                        await asyncio.sleep(1.0)  # the seed's fixed back-off

            async def background(p: int) -> None:
                await send(price_doc, _price_update(p)[0])

            async def urgent(i: int) -> bool:
                variables = set_quantities_variables(
                    [_change(i, args)], idempotency_key=f"seed-{args.seed}-{i}"
                )
                try:
                    await send(inv_doc, variables)
                except ShopifyError:
                    return False
                return True

            return await _run_strategy(args, "seed", background, urgent, sim, probe)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen strategies; ``urgent_p50_ms`` / ``urgent_p99_ms`` / ``sim_latency_ms`` are ours."""
    figures: dict[str, Any] = {
        "changes": args.changes,
        "duration_s": args.duration,
        "plan": args.plan,
        "latency_ms_mean": args.latency_ms,
        "workers": args.workers,
    }
    if args.strategy in ("both", "ours"):
        ours = await _ours(args)
        figures.update(ours)
        figures["urgent_p50_ms"] = ours["ours_urgent_p50_ms"]
        figures["urgent_p99_ms"] = ours["ours_urgent_p99_ms"]
        figures["sim_latency_ms"] = ours["ours_sim_latency_ms"]
        figures["goal_met"] = figures["urgent_p99_ms"] <= figures["sim_latency_ms"] + 50
    if args.strategy in ("both", "seed"):
        figures.update(await _seed(args))
    return figures
