"""Slow sources never stall the senders: is the shop busy with our work while the source is slow?

A source of ``--batches`` batches × ``--batch-rows`` price changes, each batch behind a ``--delay-s``
wait (a slow query; scaled by ``--speed`` like the simulator's own time), submitted to a simulated shop
(a process of its own) through the library API, ``--repetitions`` times, each on a fresh shop.

Measured **inside one run** (an earlier version subtracted a separate send-only run from a slow-source
run, and the send's run-to-run noise, ±15 s, swamped the 20 s it tried to measure). Two sets of
intervals on one clock (``time.perf_counter``, in the process that submits):

- *slow periods* ``S``: the source waiting for its next batch (inside its slow query), as the source
  itself records them. A source the submission is not asking (backpressure: the read-ahead buffer is
  full) is not slow, it is waiting for us, and is not counted.
- *in flight* ``W``: a shard of ours between ``shard_claimed`` and ``shard_done`` (or
  ``shard_released``): its staged upload, its bulk operation on the shop, its results read back —
  from the run's own events (:mod:`bulk.lanes.bulk._operation`).

Both are cut to the *window* from the first shard claimed to the last batch's arrival: before the first
batch arrived (and was planned and uploaded) no pipeline could have anything in flight, and after the
last batch arrived the source is no longer slow, so neither end can overlap whatever the pipeline does.
The time from the first batch's arrival to the first claim is reported apart (``first_in_flight_s``),
so a pipeline that waits for more than the first batch shows there.

``overlap = |S ∩ W| / min(|S|, |W|)`` within the window: **1.0** means the shorter of the two (the
source's slow periods when the send is the bottleneck, as at the defaults; the sending when the source
is) lies wholly under the other — perfect pipelining; **0** means they never ran at once (the whole
source read before anything was sent, or a submission that stops reading while it sends, so the source
is slow only while the shop idles). ``source_covered = |S ∩ W| / |S|`` is the share of the source's
slow periods during which the shop had our work in flight. Goal: every repetition ≥ 0.9, and the
spread (max − min) over the repetitions ≤ 0.05.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._simproc import sim_process
from bench._stats import Interval, both, clip, length
from bulk.cli._request import SubmitRequest
from bulk.lanes.bulk import BulkLaneConfig
from bulk.models import PriceUpdate, Source, VariantRef
from bulk.session.shop import Shop
from bulk.submit.root import run_submission

TOKENS = ("bench-a", "bench-b", "bench-c")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source shape, simulator speed, repetitions."""
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-rows", type=int, default=5000)
    parser.add_argument("--delay-s", type=float, default=5.0, help="per batch, in simulated seconds")
    # at 5, a batch waits 1 s real and its 2,500 lines take about as long in flight (on the shared
    # 2-core box): reading and sending are of a size, where any gap between batches would show
    parser.add_argument("--speed", type=float, default=5.0, help="simulated seconds per real second")
    parser.add_argument("--repetitions", type=int, default=3, help="runs, each on a fresh simulator")
    parser.add_argument("--control", choices=("serial",),
                        help="serial: the source asks for its next batch only once every line read so far "
                             "is done (a submission that stops reading while it sends): the measure "
                             "must then give about 0")


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


class SlowSource:
    """The batches, each behind a wait (the slow query); records each wait as ``(asked, arrived)``.
    ``before_next`` (the serial control) is awaited before each batch but the first."""

    def __init__(self, batches: list[list[PriceUpdate]], delay_real_s: float,
                 clock: Callable[[], float] = time.perf_counter,
                 before_next: Callable[[], Awaitable[None]] | None = None) -> None:
        self.batches = batches
        self.delay_real_s = delay_real_s
        self.waits: list[Interval] = []
        self._clock = clock
        self._before_next = before_next

    async def __aiter__(self) -> AsyncIterator[list[PriceUpdate]]:
        for index, b in enumerate(self.batches):
            if index and self._before_next is not None:
                await self._before_next()
            asked = self._clock()
            await asyncio.sleep(self.delay_real_s)
            self.waits.append((asked, self._clock()))
            yield b


class InFlight:
    """An ``on_event`` callback that records each shard's claim-to-done interval."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.intervals: list[Interval] = []
        self._open: dict[object, float] = {}
        self._clock = clock
        self._pooled = self._done = self._drained = 0  # lines handed to the lane, lines finished

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        if name == "shard_claimed":
            self._open[data["unit"]] = self._clock()
        elif name in ("shard_done", "shard_released") and data.get("unit") in self._open:
            self.intervals.append((self._open.pop(data["unit"]), self._clock()))
        if name == "pooled":
            self._pooled += int(data.get("lines", 0))
        elif name == "shard_done" and not data.get("retried"):
            self._done += int(data.get("lines", 0))

    async def drained(self, timeout_s: float = 120.0) -> None:
        """Wait until lines were handed to the lane since the last call, and every one is done (the
        serial control; polls, it is a benchmark's harness)."""
        deadline = time.perf_counter() + timeout_s
        while not (self._pooled > self._drained and self._done >= self._pooled):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"serial control: {self._done} of {self._pooled} lines done")
            await asyncio.sleep(0.01)
        self._drained = self._pooled

    def close(self, now: float) -> None:
        """Shards still open (none in a run that finished) count as in flight until ``now``."""
        self.intervals += [(t, now) for t in self._open.values()]
        self._open.clear()


def overlap(waits: Sequence[Interval], in_flight: Sequence[Interval]) -> dict[str, float]:
    """The in-run overlap of the module docstring, from the source's ``waits`` (in batch order) and
    the shards' ``in_flight`` intervals. An empty window (nothing in flight before the last batch
    arrived: the source read whole before sending) is overlap 0; a source of one batch (whose wait
    is excluded) or a window with nothing in flight in it has nothing to measure and gives NaN."""
    if not waits:
        raise ValueError("a source of no batches has no slow periods")
    first_arrival, last_arrival = waits[0][1], waits[-1][1]
    start = min((a for a, _ in in_flight), default=float("inf"))
    slow = clip(waits, start, last_arrival)
    busy = clip(in_flight, start, last_arrival)
    slow_s, busy_s, both_s = length(slow), length(busy), both(slow, busy)
    shorter = min(slow_s, busy_s)
    if len(waits) < 2:
        value = float("nan")
    elif start >= last_arrival:
        value = 0.0
    else:
        value = both_s / shorter if shorter > 0 else float("nan")
    return {
        "overlap": value,
        "source_covered": both_s / slow_s if slow_s > 0 else float("nan"),
        "window_s": max(0.0, last_arrival - start),
        "slow_s": slow_s,
        "in_flight_s": busy_s,
        "both_s": both_s,
        "first_in_flight_s": start - first_arrival,
    }


async def repetition(args: argparse.Namespace) -> dict[str, Any]:
    """One submission of the slow source on a fresh simulated shop, measured from inside."""
    flight = InFlight()
    source = SlowSource([batch(i, args.batch_rows) for i in range(args.batches)], args.delay_s / args.speed,
                        before_next=flight.drained if args.control == "serial" else None)
    products = 1 + args.batches * args.batch_rows
    options = ("--products", str(products), "--tokens", ",".join(TOKENS), "--speed", str(args.speed))
    async with sim_process(*options) as url, Shop.connect(url, TOKENS) as shop:
        with tempfile.TemporaryDirectory() as tmp:
            request = SubmitRequest(
                file=Path("bench"), shop=None, route="bulk", state_dir=Path(tmp),
                journal=str(Path(tmp) / "journal.sqlite3"), run_key="bench-source",
                lane=BulkLaneConfig(poll_initial_s=0.05, poll_max_s=0.2))
            started = time.perf_counter()
            result = await run_submission(shop, request.run_options(), source, input_name="bench",
                                          on_event=flight)
            ended = time.perf_counter()
    if result.summary["applied"] != result.summary["rows"]:
        raise RuntimeError(f"not every row applied: {result.summary}")
    flight.close(ended)
    figures = overlap(source.waits, flight.intervals)
    return {
        **{k: round(v, 3) for k, v in figures.items()},
        "total_s": round(ended - started, 2),
        # total = before the source is asked (the catalog sync of a fresh shop) + source + tail
        "before_source_s": round(source.waits[0][0] - started, 2),
        "source_s": round(sum(b - a for a, b in source.waits), 2),
        "tail_s": round(ended - source.waits[-1][1], 2),
        "shards": len(flight.intervals),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """``--repetitions`` runs; their overlaps, lowest and spread."""
    reps = []
    for n in range(args.repetitions):
        rep = await repetition(args)
        print(f"source: repetition {n + 1}: overlap {rep['overlap']:.3f} (source covered "
              f"{rep['source_covered']:.3f}, window {rep['window_s']:.1f} s, total {rep['total_s']:.1f} s)",
              file=sys.stderr)
        reps.append(rep)
    overlaps = [r["overlap"] for r in reps]
    return {
        "rows": args.batches * args.batch_rows,
        "speed": args.speed,
        "control": args.control,
        "repetitions": reps,
        "overlap_min": min(overlaps),
        "overlap_mean": round(statistics.fmean(overlaps), 3),
        "overlap_spread": round(max(overlaps) - min(overlaps), 3),
        "goal": {"overlap_min": 0.9, "overlap_spread": 0.05},
    }
