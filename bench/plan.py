"""Planning throughput: ingest → validate → resolve → coalesce → diff → JSONL shards, no shop involved.

Setup (not timed): a price CSV of ``--rows`` rows over the simulated catalog's SKUs, and a catalog cache
holding every variant those rows name (what ``bulk catalog sync`` would have stored). Timed: the whole
planning pipeline ``bulk submit`` runs before sending anything — the file read, validated and looked up
in the catalog by a second process (``bulk.sources._reader_process``; ``--in-process`` keeps it in one),
planned and sharded by this one. Reports ``rows_per_s``, ``wall_s``, ``peak_rss_mb`` (this process's
high-water mark, setup included — so it is an upper bound) and ``reader_peak_rss_mb`` (the reading
process's).

Goal on the 2-core machine: 1.5M rows in ≤ 30 s and ≤ 1.5 GB peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.plan_data import write_price_csv
from bulk.catalog import CatalogStore
from bulk.plan import ShopProfile, choose_route, write_shards
from bulk.plan.ordering import ProductBook
from bulk.plan.stream import StreamPlanner
from bulk.sim._catalog import Catalog
from bulk.sources._reader_process import read_chunks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--rows`` (1.5M) and ``--products`` (default: enough for the rows)."""
    parser.add_argument("--rows", type=int, default=1_500_000, help="price rows in the CSV")
    parser.add_argument("--products", type=int, default=0, help="catalog size (default: rows / 2)")
    parser.add_argument("--in-process", action="store_true", help="read the file in this process too")


def fill_catalog(store: CatalogStore, products: int) -> None:
    """Store the simulated catalog's products 1..N as a catalog sync would."""
    sim = Catalog(products=products)
    batch: list[dict[str, Any]] = []
    for p in range(1, products + 1):
        batch.append({"id": f"gid://shopify/Product/{p}", "handle": f"product-{p}"})
        for vid in sim.variant_ids(p):
            compare_at = sim.compare_at_cents(vid)
            batch.append({
                "id": f"gid://shopify/ProductVariant/{vid}", "__parentId": f"gid://shopify/Product/{p}",
                "sku": sim.sku(vid), "price": f"{sim.price_cents(vid) / 100:.2f}",
                "compareAtPrice": None if compare_at is None else f"{compare_at / 100:.2f}",
            })
        if len(batch) >= 50_000:
            store.load_export(batch)
            batch = []
    store.load_export(batch)


def plan_file(csv_path: Path, store: CatalogStore, out: Path, *, chunk_rows: int = 50_000,
              in_process: bool | None = None) -> dict[str, int]:
    """The timed pipeline, as ``bulk submit`` runs it: chunks of the file (read and looked up in the
    catalog by a second process, unless ``in_process``) planned one after the other against the catalog
    and what earlier chunks planned, each chunk's lines routed and sharded."""
    planner, book = StreamPlanner(store), ProductBook()
    totals: dict[str, int] = {"read_errors": 0, "shards": 0}
    with read_chunks(csv_path, catalog=store.path, rows=chunk_rows, in_process=in_process) as reader:
        for number, chunk in enumerate(reader):
            part = planner.plan_chunk(chunk)
            totals["read_errors"] += len(part.rejected)
            for key, value in dataclasses.asdict(part.plan.statistics()).items():
                totals[key] = totals.get(key, 0) + value
            ready = book.admit(part.plan.lines)
            route = choose_route(ready, ShopProfile())
            totals["shards"] += len(write_shards(ready, out, shards=route.shards, prefix=f"c{number}"))
            book.done(ready)  # nothing is sent here: every line "finishes" at once
    return totals


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the inputs, then time the planning of ``--rows`` rows."""
    products = args.products or max(1, args.rows // 2)
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        root = Path(tmp)
        csv_path = root / "prices.csv"
        setup = time.perf_counter()
        await asyncio.to_thread(write_price_csv, csv_path, args.rows, products=products)
        with CatalogStore(root / "catalog.sqlite3") as store:
            await asyncio.to_thread(fill_catalog, store, products)
            setup_s = time.perf_counter() - setup
            started = time.perf_counter()
            stats = await asyncio.to_thread(plan_file, csv_path, store, root / "shards",
                                            in_process=args.in_process or None)
            wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reader_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "rows": args.rows,
        "products": products,
        "wall_s": round(wall, 2),
        "rows_per_s": round(args.rows / wall),
        "peak_rss_mb": round(peak_mb),
        "reader_peak_rss_mb": round(reader_mb),
        "setup_s": round(setup_s, 1),
        "plan": stats,
        "goal": {"wall_s": 30, "peak_rss_mb": 1536},
    }
