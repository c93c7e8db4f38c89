"""Small input files for submission tests, and the counts of a report file."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def price_csv(path: Path, rows: Iterable[tuple[str, str]]) -> Path:
    """A simple-dialect price file (``sku,price``) with these rows."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "price"])
        w.writerows(rows)
    return path


def seeded_skus(products: Iterable[int]) -> Iterator[tuple[int, int, str]]:
    """``(product, variant, sku)`` of the simulator's seeded catalog: product ``p`` has ``1 + p % 3``
    variants, ``SKU-{p:07d}-{v}``."""
    for p in products:
        for v in range(1 + p % 3):
            yield p, v, f"SKU-{p:07d}-{v}"


def seeded_price_csv(path: Path, products: Iterable[int], price: Callable[[int, int], str]) -> int:
    """A price file naming every seeded variant of ``products`` (``price(p, v)`` each); its row count."""
    rows = [(sku, price(p, v)) for p, v, sku in seeded_skus(products)]
    price_csv(path, rows)
    return len(rows)


def status_counts(report: Path) -> dict[str, int]:
    """A report file's rows counted by their ``status``."""
    with report.open(newline="") as f:
        return dict(Counter(row["status"] for row in csv.DictReader(f)))
