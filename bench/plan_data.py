"""Price-change CSVs for the simulated shop, and the ingest throughput benchmark.

Why here: benchmarks, the quick-start fixture and the tests all need price files that match the
simulated catalog, so the catalog scheme lives in one place:

- product ``p`` (1..N) has ``1 + p % 3`` variants ``v`` = 0, 1, … (as in ``bulk.sim._catalog``);
- SKU ``SKU-{p:07d}-{v}``, variant GID ``gid://shopify/ProductVariant/{p*10+v}``, handle ``product-{p}``;
- current price in cents ``1000 + (p*37 + v*11) % 9000``.

``python -m bench plan_data --rows 200000`` writes such a file and reads it back with
:func:`bulk.ingest.read_updates`, reporting rows/s. ``python -m bench.plan_data fixture OUT`` writes
``fixtures/prices.csv`` (see ``fixtures/README.md``).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from bulk.ingest import read_updates
from bulk.ingest._build import price, price_validated
from bulk.models import RowError


def variants_of(product: int) -> range:
    """The variant numbers of ``product`` (0-based, as in ``bulk.sim._catalog``)."""
    return range(1 + product % 3)


def sku(product: int, variant: int) -> str:
    """The SKU of a variant in the simulated catalog."""
    return f"SKU-{product:07d}-{variant}"


def variant_gid(product: int, variant: int) -> str:
    """The variant's GID in the simulated catalog."""
    return f"gid://shopify/ProductVariant/{product * 10 + variant}"


def handle(product: int) -> str:
    """The product's URL handle in the simulated catalog."""
    return f"product-{product}"


def current_price_cents(product: int, variant: int) -> int:
    """The variant's price before any change, in cents."""
    return 1000 + (product * 37 + variant * 11) % 9000


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def price_rows(rows: int, *, products: int, seed: int = 0) -> Iterator[tuple[str, str, str]]:
    """``(sku, price, compare_at_price)`` rows walking the catalog (wrapping around if ``rows`` is larger).

    About 10% keep the current price (no-ops), about 1 in 7 also sets a compare-at price above it.
    """
    rng = random.Random(seed)
    made = 0
    while True:
        for p in range(1, products + 1):
            for v in variants_of(p):
                if made == rows:
                    return
                current = current_price_cents(p, v)
                new = current if rng.random() < 0.10 else max(100, current + rng.randint(-500, 500))
                compare = _money(new + new // 5) if rng.random() < 1 / 7 else ""
                yield sku(p, v), _money(new), compare
                made += 1


def write_price_csv(path: str | Path, rows: int, *, products: int, seed: int = 0) -> int:
    """Write a simple-dialect price CSV of ``rows`` rows over ``products`` products; returns its bytes."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("sku", "price", "compare_at_price"))
        writer.writerows(price_rows(rows, products=products, seed=seed))
    return Path(path).stat().st_size


def write_fixture(path: str | Path, *, products: int = 1000, seed: int = 2026) -> int:
    """``fixtures/prices.csv``: one row per variant of products 1..``products``, every row valid (the
    quick start exits 0; the deliberate mistakes live in ``fixtures/bad-rows.csv``)."""
    good = list(price_rows(sum(len(variants_of(p)) for p in range(1, products + 1)), products=products,
                           seed=seed))
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("sku", "price", "compare_at_price"))
        writer.writerows(good)
    return Path(path).stat().st_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench plan_data``."""
    parser.add_argument("--rows", type=int, default=200_000, help="rows to generate and read")
    parser.add_argument("--products", type=int, default=500_000, help="catalog size")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate a price CSV, read it back, report rows/s (and what full validation would cost)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.csv"
        size = write_price_csv(path, args.rows, products=args.products)
        reader = read_updates(path)
        started, cpu_started = time.perf_counter(), time.process_time()
        updates = errors = 0
        for item in reader:
            if isinstance(item, RowError):
                errors += 1
            else:
                updates += 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # the machine may be shared: CPU time is the fairer figure
    sample = 20_000
    t0 = time.perf_counter()
    for i in range(sample):
        price("f", i, "SKU-0000001-1", None, Decimal("12.50"), None, False)
    fast = (time.perf_counter() - t0) / sample
    t0 = time.perf_counter()
    for i in range(sample):
        price_validated("f", i, "SKU-0000001-1", None, Decimal("12.50"), None, False)
    full = (time.perf_counter() - t0) / sample
    return {
        "rows": args.rows,
        "file_bytes": size,
        "read_s": round(elapsed, 3),
        "rows_per_s": round(args.rows / elapsed),
        "cpu_s": round(cpu, 3),
        "rows_per_cpu_s": round(args.rows / cpu),
        "updates": updates,
        "errors": errors,
        "build_fast_us": round(fast * 1e6, 2),
        "build_validated_us": round(full * 1e6, 2),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fixture":
        print(f"wrote {write_fixture(sys.argv[2])} bytes to {sys.argv[2]}")
    else:
        sys.exit("usage: python -m bench.plan_data fixture OUT   (benchmark: python -m bench plan_data)")
