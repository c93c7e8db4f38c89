"""Small statistics the benchmarks share."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator, Sequence
from typing import Any


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


@contextlib.contextmanager
def gc_pauses(out: dict[str, Any]) -> Iterator[None]:
    """Time this process's cyclic collections while the block runs: ``out`` gets, for full (gen-2) and
    gen-1 collections, how many, the longest and the total (ms). A collection stops every thread, the
    event loop's too, so these are loop stalls no ``await`` can avoid."""
    started: dict[str, float] = {}
    times: dict[int, list[float]] = {1: [], 2: []}

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        elif info["generation"] in times and "t" in started:
            times[info["generation"]].append((time.perf_counter() - started.pop("t")) * 1000)

    gc.callbacks.append(timed)
    try:
        yield
    finally:
        gc.callbacks.remove(timed)
        for generation, name in ((2, "full"), (1, "gen1")):
            values = times[generation]
            out[name] = {"count": len(values), "max_ms": round(max(values, default=0.0), 1),
                         "total_ms": round(sum(values), 1)}
