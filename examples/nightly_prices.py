"""The nightly price file: a plain script (no asyncio) for cron.

    python examples/nightly_prices.py fixtures/prices.csv            # against the simulated shop
    SHOPIFY_SHOP=NAME.myshopify.com SHOPIFY_ACCESS_TOKENS=t1,t2,t3 \
        python examples/nightly_prices.py prices.csv

Running it again after a crash resumes the same run (its key is the file's content), so no change is
applied twice. The report goes beside the file (against `sim://`, to a temporary folder: it prints
where). For a folder of files use `bulk run --inbox DIR` instead (see docs/operations.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bulk
from bulk.ingest import read_updates
from bulk.submit.submission import run_key_for


def main(path: str) -> int:
    shop = os.environ.get("SHOPIFY_SHOP", "sim://")
    key = run_key_for([Path(path)], shop, {"script": "nightly"})  # same file, same run: resumable
    result = bulk.submit_sync(shop, os.environ.get("SHOPIFY_ACCESS_TOKENS"), read_updates(path),
                              name=path, run_key=key)
    print(f"{path}: {result.summary}")
    print(f"report: {result.report_path}")  # beside the file; a sim:// rehearsal's in a temporary folder
    return 1 if result.rejected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/prices.csv"))
