"""The one percentile the project reports: nearest rank, as the simulator's ``/_sim/stats`` and every
benchmark give it.

Why nearest rank: a reported p99 is a latency some request really had (no interpolation between two
samples), and the same definition everywhere lets a benchmark's figure sit beside the simulator's.
Why here: only the simulator and the benchmarks (which import ``bulk.sim`` anyway) compute
percentiles; a module at the bottom of ``bulk`` would be a loose file for a concern of neither the
client nor its pure core.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["nearest_rank"]


def nearest_rank(values: Iterable[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of ``values`` (``q`` in 0..100): the ⌈q·n/100⌉-th
    smallest of the n values — the smallest value that at least ``q`` % of them do not exceed (the
    smallest value for ``q`` = 0). NaN when there are no values, so a report of an empty sample says
    so instead of failing."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q!r}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    # q * n first: exact for integer q, so an exact rank (p50 of 6: the 3rd) never rounds up
    return ordered[max(1, math.ceil(q * len(ordered) / 100)) - 1]
