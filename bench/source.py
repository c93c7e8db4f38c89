"""Slow sources never stall the senders: does total time approach max(source time, send time)?

A source of ``--batches`` batches × ``--batch-rows`` price changes, each batch behind a ``--delay-s``
wait (a slow query; scaled by ``--speed`` like the simulator's own time), submitted to the simulated
shop through the library API. Measured in one run, each on a fresh simulator:

- ``source_s``: reading the slow source alone (nothing sent);
- ``send_s``: submitting the same updates from a ready list (no waiting);
- ``total_s``: submitting from the slow source.

``overlap = (source_s + send_s - total_s) / min(source_s, send_s)``: 1.0 is perfect pipelining, 0 is
reading everything before sending. Goal ≥ 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._simproc import sim_process
from bulk.cli.request import SubmitRequest
from bulk.lanes.bulk import BulkLaneConfig
from bulk.models import PriceUpdate, Source, VariantRef
from bulk.session.shop import Shop
from bulk.submit.root import run_submission

TOKENS = ("bench-a", "bench-b", "bench-c")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source shape and simulator speed."""
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-rows", type=int, default=5000)
    parser.add_argument("--delay-s", type=float, default=5.0, help="per batch, in simulated seconds")
    # at 5, the slow source (20 batches × 5 s = 20 s real) and the sending (about a minute of simulator
    # CPU for 100k rows) are of a size; much faster and the source hides inside the send's own noise
    parser.add_argument("--speed", type=float, default=5.0, help="simulated seconds per real second")


def batch(index: int, rows: int) -> list[PriceUpdate]:
    """Rows of distinct variants of the simulated catalog (product p has 1 + p % 3 variants)."""
    out: list[PriceUpdate] = []
    p = 1 + index * rows  # products are never shared between batches
    while len(out) < rows:
        for v in range(1 + p % 3):
            if len(out) < rows:
                out.append(PriceUpdate(source=Source(file="bench", line=index * rows + len(out) + 1),
                                       variant=VariantRef(sku=f"SKU-{p:07d}-{v}"),
                                       price=Decimal(100 + p % 50)))
        p += 1
    return out


async def slow(batches: list[list[PriceUpdate]], delay_real_s: float) -> AsyncIterator[list[PriceUpdate]]:
    """The batches, each behind a wait (the slow query)."""
    for b in batches:
        await asyncio.sleep(delay_real_s)
        yield b


async def timed_submit(source: Any, products: int, speed: float) -> float:
    """Real seconds to apply ``source`` on a fresh simulated shop (in a process of its own)."""
    options = ("--products", str(products), "--tokens", ",".join(TOKENS), "--speed", str(speed))
    async with sim_process(*options) as url, Shop.connect(url, TOKENS) as shop:
        with tempfile.TemporaryDirectory() as tmp:
            request = SubmitRequest(
                file=Path("bench"), shop=None, route="bulk", state_dir=Path(tmp),
                journal=str(Path(tmp) / "journal.sqlite3"), run_key="bench-source",
                lane=BulkLaneConfig(poll_initial_s=0.05, poll_max_s=0.2))
            started = time.perf_counter()
            result = await run_submission(shop, request.run_options(), source, input_name="bench",
                                          on_event=lambda _n, _d: None)
            elapsed = time.perf_counter() - started
    if result.summary["applied"] != result.summary["rows"]:
        raise RuntimeError(f"not every row applied: {result.summary}")
    return elapsed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure source alone, send alone, and both together."""
    batches = [batch(i, args.batch_rows) for i in range(args.batches)]
    products = 1 + args.batches * args.batch_rows
    delay = args.delay_s / args.speed
    started = time.perf_counter()
    async for _ in slow(batches, delay):
        pass
    source_s = time.perf_counter() - started
    send_s = await timed_submit([u for b in batches for u in b], products, args.speed)
    total_s = await timed_submit(slow(batches, delay), products, args.speed)
    overlap = (source_s + send_s - total_s) / min(source_s, send_s)
    return {
        "rows": args.batches * args.batch_rows,
        "speed": args.speed,
        "source_s": round(source_s, 2),
        "send_s": round(send_s, 2),
        "total_s": round(total_s, 2),
        "overlap": round(overlap, 3),
        "goal": {"overlap": 0.9},
    }
