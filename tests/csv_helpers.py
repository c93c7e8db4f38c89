"""Small input files for submission tests."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path


def price_csv(path: Path, rows: Iterable[tuple[str, str]]) -> Path:
    """A simple-dialect price file (``sku,price``) with these rows."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "price"])
        w.writerows(rows)
    return path
