"""What freshness costs: the incremental catalog sync of a big shop where a few products changed.

A served simulated shop of ``--products`` (1.5M) products; a catalog cache of the same size (written
straight into SQLite, as a full sync would have left it: a full export is not what is measured); then
another app changes the price of one variant of each of ``--changed`` (1,000) products, and one
incremental sync (:func:`bulk.catalog.sync.sync_catalog`: ``updated_at:>'…'`` bulk query, polls, the
result file, the upsert) brings the cache up to date. Figures: ``seconds`` (wall, and the shop's own
time for a sped-up simulator), ``requests`` (GraphQL requests our client sent: start + polls; the
result file is one more HTTP download), ``lines`` (JSONL lines loaded), and a check that every changed
price is in the cache. The shop models a bulk query's pace (``bulk_lines_per_s``,
default 2,000 lines/s), so ``seconds`` is mostly the shop's pace plus our poll interval (0.5 s first,
growing), not our work.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bulk.catalog import CatalogStore
from bulk.catalog.sync import LAST_FULL_SYNC, LAST_SYNC, next_since, sync_catalog
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.shop import Shop
from bulk.shopify.documents import document
from bulk.sim import SimConfig, SimShop

TOKENS = ("shpat_bench_0", "shpat_bench_1", "shpat_bench_2")
OTHER_APP = "shpat_bench_other"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench catalog``."""
    parser.add_argument("--products", type=int, default=1_500_000, help="shop and cache size (default 1.5M)")
    parser.add_argument("--changed", type=int, default=1000,
                        help="products another app changes (default 1000)")
    parser.add_argument("--plan", default="plus", help="simulated plan (default plus)")
    parser.add_argument("--speed", type=float, default=1.0, help="the simulator's clock speed (default 1)")
    parser.add_argument("--seed", type=int, default=11)


def fill_cache(path: Path, products: int) -> float:
    """A cache of ``products`` products shaped like the simulated catalog (product p has 1 + p % 3
    variants, GID p*10+v, SKU SKU-{p:07d}-{v}), written in SQL; returns the seconds it took."""
    started = time.perf_counter()
    CatalogStore(path).close()  # the schema
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "WITH RECURSIVE n(p) AS (SELECT 1 UNION ALL SELECT p + 1 FROM n WHERE p < ?) "
            "INSERT INTO products SELECT 'gid://shopify/Product/' || p, 'product-' || p, "
            "'2025-01-01T00:00:00Z' FROM n", (products,))
        for v in range(3):
            db.execute(
                "WITH RECURSIVE n(p) AS (SELECT 1 UNION ALL SELECT p + 1 FROM n WHERE p < ?) "
                "INSERT INTO variants SELECT 'gid://shopify/ProductVariant/' || (p * 10 + ?), "
                "'gid://shopify/Product/' || p, printf('SKU-%07d-%d', p, ?), '10.00', NULL, "
                "'gid://shopify/InventoryItem/' || (p * 10 + ?) FROM n WHERE ? < 1 + p % 3",
                (products, v, v, v, v))
    db.close()
    return time.perf_counter() - started


def new_price(p: int) -> str:
    """The price another app gives variant 0 of product ``p``."""
    return f"{500 + p % 400}.25"


async def change_prices(sim: SimShop, products: list[int]) -> None:
    """Another app sets a new price on variant 0 of each product (20 requests in flight)."""
    gate = asyncio.Semaphore(20)
    query = document("product_variants_bulk_update")

    async def one(session: aiohttp.ClientSession, p: int) -> None:
        variables = {"productId": f"gid://shopify/Product/{p}",
                     "variants": [{"id": f"gid://shopify/ProductVariant/{p * 10}", "price": new_price(p)}]}
        async with gate:
            for _ in range(20):  # THROTTLED: wait for the bucket
                async with session.post(sim.graphql_url, json={"query": query, "variables": variables},
                                        headers={"X-Shopify-Access-Token": OTHER_APP}) as resp:
                    body = await resp.json()
                if not body.get("errors"):
                    return
                await asyncio.sleep(0.5)
            raise RuntimeError(f"product {p}: {body['errors']}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, p) for p in products))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """One incremental sync after ``--changed`` products changed; its seconds and requests."""
    changed = sorted(random.Random(args.seed).sample(range(1, args.products + 1), args.changed))
    config = SimConfig(products=args.products, tokens=(*TOKENS, OTHER_APP), plan=args.plan, speed=args.speed)
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        path = Path(tmp) / "catalog.sqlite3"
        fill_s = await asyncio.to_thread(fill_cache, path, args.products)
        with CatalogStore(path) as store:
            async with SimShop(config) as sim, Shop.connect(sim.url, TOKENS) as shop, \
                    aiohttp.ClientSession() as session:
                # as a full sync would have left it: its bound is the shop's now (less the overlap)
                store.set_meta(LAST_SYNC, next_since(None, time.time(), 120.0))
                store.set_meta(LAST_FULL_SYNC, repr(time.time()))
                await change_prices(sim, changed)
                before = shop.client.statistics()
                wall = time.perf_counter()
                synced = await sync_catalog(ShopBulkOps(shop.client, session), store, clock=shop.shop_clock)
                seconds = time.perf_counter() - wall
                after = shop.client.statistics()
                cached = store.variants_by_id([f"gid://shopify/ProductVariant/{p * 10}" for p in changed])
                fresh = sum(1 for p in changed
                            if str(cached[f"gid://shopify/ProductVariant/{p * 10}"].price) == new_price(p))
                simulation = shop.simulation
                shop_seconds = simulation.shop_seconds(seconds) if simulation is not None else None
    return {
        "products": args.products,
        "changed_products": args.changed,
        "cache_fill_s": round(fill_s, 1),
        "sync": {
            "full": synced.full,
            "seconds": round(seconds, 2),
            "shop_seconds": None if shop_seconds is None else round(shop_seconds, 2),
            "requests": after.requests - before.requests,
            "lines": synced.lines,
            "since": synced.since,
        },
        "cache_has_every_change": fresh == args.changed,
    }
