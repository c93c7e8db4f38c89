"""Small statistics the benchmarks share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence


async def loop_lag(samples: list[float], stop: asyncio.Event, *, interval_s: float = 0.005) -> None:
    """How late the event loop wakes a task that sleeps ``interval_s``, in ms, until ``stop`` is set:
    the delay any urgent request on this loop also waits for before its next step runs."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(interval_s)
        samples.append(max(0.0, (time.perf_counter() - t0 - interval_s) * 1000))


Interval = tuple[float, float]  # (start, end), end ≥ start, in one clock's seconds


def union(intervals: Sequence[Interval]) -> list[Interval]:
    """The intervals merged into disjoint, sorted ones (touching ones join; empty ones vanish)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def clip(intervals: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """The parts of ``intervals`` inside ``[start, end]`` (none when the window is empty)."""
    return [(max(a, start), min(b, end)) for a, b in intervals if min(b, end) > max(a, start)]


def length(intervals: Sequence[Interval]) -> float:
    """Time covered by ``intervals`` (overlaps counted once)."""
    return sum(b - a for a, b in union(intervals))


def both(first: Sequence[Interval], second: Sequence[Interval]) -> float:
    """Time covered by ``first`` and ``second`` at once."""
    xs, ys = union(first), union(second)
    total, i, j = 0.0, 0, 0
    while i < len(xs) and j < len(ys):  # two sorted, disjoint lists: walk them together
        total += max(0.0, min(xs[i][1], ys[j][1]) - max(xs[i][0], ys[j][0]))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total
