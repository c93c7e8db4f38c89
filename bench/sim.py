"""Simulator capacity: small-mutation requests/s served on one core, catalog start time and RSS.

Why these figures: every test, benchmark and rehearsal runs against the simulator, so it must never
be the bottleneck (target ≥ 1000 small mutations/s on one core) and must hold a 1.5M-product shop
in little memory. The load comes from a separate process (``client_main``) so the shop's process
owns its core; we report the shop's own count of answered mutations and its CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
import psutil

from bulk.sim import SimConfig, SimShop
from bulk.sim._schema import admin_schema

# productVariantsBulkUpdate on one variant: the design's most common write (cost 10.2 → 11).
MUTATION = """mutation($pid: ID!, $v: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $pid, variants: $v) {
    productVariants { id price }
    userErrors { field message }
  }
}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench sim``."""
    parser.add_argument("--products", type=int, default=1_500_000, help="catalog size (default 1.5M)")
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration (default 5)")
    parser.add_argument("--concurrency", type=int, default=32, help="client requests in flight (default 32)")
    parser.add_argument("--tokens", type=int, default=3, help="apps sending the load (default 3)")


def mutation_variables(i: int, products: int) -> dict[str, Any]:
    """Variables for the ``i``-th mutation: a price change on variant 0 of a product."""
    p = 1 + (i * 7919) % max(1, products)
    return {
        "pid": f"gid://shopify/Product/{p}",
        "v": [{"id": f"gid://shopify/ProductVariant/{p * 10}", "price": f"{10 + i % 90}.99"}],
    }


async def _client(
    url: str, tokens: list[str], products: int, seconds: float, concurrency: int
) -> dict[str, Any]:
    ok = errors = other = 0
    latencies: list[float] = []
    counter = iter(range(10**12))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        print("START", flush=True)  # the parent starts measuring now
        deadline = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            nonlocal ok, errors, other
            headers = {"X-Shopify-Access-Token": tokens[w % len(tokens)]}
            while time.perf_counter() < deadline:
                i = next(counter)
                started = time.perf_counter()
                payload = {"query": MUTATION, "variables": mutation_variables(i, products)}
                async with session.post(url, json=payload, headers=headers) as resp:
                    body = await resp.json(content_type=None)
                latencies.append(time.perf_counter() - started)
                if resp.status != 200:
                    other += 1
                elif body.get("errors") or body["data"]["productVariantsBulkUpdate"]["userErrors"]:
                    errors += 1
                else:
                    ok += 1

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    latencies.sort()

    def pick(q: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {"ok": ok, "errors": errors, "non_200": other, "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


def client_main(spec: str) -> None:
    """Entry point of the load-generating child process (spec: JSON of ``_client``'s arguments)."""
    result = asyncio.run(_client(**json.loads(spec)))
    print(json.dumps(result))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a shop of ``--products``, load it from a child process, report the figures."""
    tokens = [f"bench-token-{i}" for i in range(args.tokens)]
    me = psutil.Process()
    rss_before = me.memory_info().rss
    started = time.perf_counter()
    admin_schema()  # built once per process; timed apart from the shop itself
    schema_s = time.perf_counter() - started
    rss_after_schema = me.memory_info().rss
    started = time.perf_counter()
    # Enterprise plan at a high clock speed: buckets refill fast enough never to throttle, so the
    # figure is the shop's serving capacity, not the rate limit.
    config = SimConfig(products=args.products, plan="enterprise", tokens=tokens, speed=1000.0)
    async with SimShop(config) as shop:
        start_s = time.perf_counter() - started
        rss_after_start = me.memory_info().rss
        spec = json.dumps(
            {
                "url": shop.graphql_url,
                "tokens": tokens,
                "products": args.products,
                "seconds": args.seconds,
                "concurrency": args.concurrency,
            }
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            f"from bench.sim import client_main; client_main({spec!r})",
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        await child.stdout.readline()  # "START": the child has imported and begins its load
        await shop_reset(shop)
        cpu0, wall0 = me.cpu_times(), time.perf_counter()
        out, _ = await child.communicate()
        wall = time.perf_counter() - wall0
        cpu1 = me.cpu_times()
        stats = shop.stats()
        rss_end = me.memory_info().rss
    client = json.loads(out.decode() or "{}")
    served = stats["totals"]["admitted"]
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    figures = {
        "products": args.products,
        "schema_build_s": round(schema_s, 3),
        "catalog_start_s": round(start_s, 3),
        "rss_mb_before": round(rss_before / 2**20, 1),
        "rss_mb_after_schema": round(rss_after_schema / 2**20, 1),
        "rss_mb_after_start": round(rss_after_start / 2**20, 1),
        "rss_mb_after_load": round(rss_end / 2**20, 1),
        "served_mutations": served,
        "throttled": stats["totals"]["throttled"],
        "measured_wall_s": round(wall, 3),
        "mutations_per_s": round(served / wall, 1) if wall > 0 else 0.0,
        "server_cpu_s": round(cpu, 3),
        "mutations_per_cpu_s": round(served / cpu, 1) if cpu > 0 else 0.0,
        "server_core_utilisation": round(cpu / wall, 3) if wall > 0 else 0.0,
        "client": client,
    }
    print(
        f"sim: {figures['mutations_per_s']} mutations/s served ({figures['mutations_per_cpu_s']} per "
        f"server CPU-second), schema built in {schema_s:.2f} s, shop of {args.products} products up "
        f"in {start_s:.2f} s, RSS {figures['rss_mb_after_start']} MB "
        f"({(rss_after_start - rss_after_schema) / 2**20:.1f} MB for the shop)",
        file=sys.stderr,
    )
    return figures


async def shop_reset(shop: SimShop) -> None:
    """Zero the shop's counters so warm-up requests are not counted."""
    shop.app.gateway.reset_statistics()
    shop.app.inflight.reset(shop.clock.now())
