"""Small statistics the benchmarks share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank ``q``-th percentile (``q`` in 0..100); NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def loop_lag(samples: list[float], stop: asyncio.Event, *, interval_s: float = 0.005) -> None:
    """How late the event loop wakes a task that sleeps ``interval_s``, in ms, until ``stop`` is set:
    the delay any urgent request on this loop also waits for before its next step runs."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(interval_s)
        samples.append(max(0.0, (time.perf_counter() - t0 - interval_s) * 1000))
