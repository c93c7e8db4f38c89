"""How many lines the next bulk operations get: cut so that every operation slot finishes together.

Why sizes are decided when a slot frees, not when a chunk is planned: an operation's file is fixed once
it starts, and the shop runs each operation at its own pace (lines per second), so the run ends when
its *last* slot ends. Sizes fixed at planning time leave an uneven tail — slots idle while the last
few operations run. Cut just in time, each free slot gets its share of the lines known so far such
that all slots — the busy ones included, at their expected finish — end at the same moment ("water
filling"). Each operation also costs a fixed overhead (the shop's CREATED → RUNNING delay, start and
detection), so a share is never smaller than ``min_lines`` while lines remain.

While planning is still producing lines the total is unknown: the same rule then balances the lines
known so far, which never makes an operation end after the balanced end of the whole run; as the pool
grows, later cuts grow with it.

Expected ends are estimates (the shop's pace drifts, an end is seen a poll late), and the error grows
with an operation's length. So once every line is known, long cuts hold back a ``reserve`` fraction
of their time: the slots that free first take those lines last, sized on fresh estimates, and the run
ends together within a short operation's error rather than a long one's. A hold-back shorter than two
overheads is not worth the extra operation and is not made. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Pace:
    """What one operation slot does per second, in the lane's clock."""

    lines_per_s: float  # lines one running operation processes per second
    overhead_s: float  # fixed cost of one operation (start, CREATED → RUNNING, detecting its end)

    def __post_init__(self) -> None:
        if self.lines_per_s <= 0 or self.overhead_s < 0:
            raise ValueError("lines_per_s must be > 0 and overhead_s >= 0")


def balanced_end(starts: Sequence[float], lines: int, pace: Pace) -> float:
    """The moment T at which ``lines`` spread over slots whose work can begin at ``starts`` all end.

    A slot beginning at ``s`` takes ``(T - s) * lines_per_s`` lines; slots beginning after T take
    none. With no lines, T is the earliest start."""
    if not starts:
        raise ValueError("no slots")
    ordered = sorted(starts)
    if lines <= 0:
        return ordered[0]
    rate = pace.lines_per_s
    total = 0.0  # sum of the starts of the slots taking part
    for k, start in enumerate(ordered, 1):
        total += start
        end = (lines / rate + total) / k
        if k == len(ordered) or end <= ordered[k]:
            return end
    raise AssertionError("unreachable")  # pragma: no cover


def cut_sizes(
    free_at: Sequence[float],
    fill: Sequence[float],
    *,
    now: float,
    pooled: int,
    pace: Pace,
    min_lines: int,
    final: bool = False,
    reserve: float = 0.0,
) -> list[int]:
    """Lines for each slot in ``fill`` (the moments those slots free up), in the order given.

    ``free_at`` are the moments every *other* slot of the lane frees up (busy ones at their expected
    finish). ``final``: no more lines will come, so a ``reserve`` fraction of long cuts is held back
    (see the module docstring). Sizes sum to at most ``pooled``; a size is 0 only when the pool ran
    dry. A remainder smaller than ``min_lines`` goes to the last cut rather than into an operation of
    its own."""
    if pooled <= 0 or not fill:
        return [0] * len(fill)
    begin = [max(t, now) + pace.overhead_s for t in fill]
    others = [max(t, now) + pace.overhead_s for t in free_at]
    end = balanced_end(begin + others, pooled, pace)
    if final and reserve > 0:
        hold = reserve * (end - min(begin))
        if hold >= 2 * pace.overhead_s:
            end -= hold
    sizes: list[int] = []
    left = pooled
    for start in begin:
        share = math.floor((end - start) * pace.lines_per_s)
        size = min(left, max(share, min_lines))
        if 0 < left - size < min_lines:
            size = left
        sizes.append(size)
        left -= size
    return sizes
