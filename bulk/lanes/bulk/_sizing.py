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
ends together within a short operation's error rather than a long one's. A hold-back shorter than
:data:`HOLD_MIN_OVERHEADS` overheads is not worth the extra operation and is not made. Pure: no I/O,
no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HOLD_MIN_OVERHEADS = 3.0  # a reserve shorter than this many operation overheads is not held back


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


# lines written in one go before the shards are claimed and started (see first_trip)
CUT_TRIP_LINES = 16_000


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
    max_lines: int | None = None,
) -> list[int]:
    """Lines for each slot in ``fill`` (the moments those slots free up), in the order given.

    ``free_at`` are the moments every *other* slot of the lane frees up (busy ones at their expected
    finish). Only as many slots take part as can each get ``min_lines`` — the latest to free up sit
    the end out rather than run an operation mostly made of overhead (or push the end back) — unless
    the whole pool is smaller than that, when the earliest slot takes it all. ``final``: no more lines
    will come, so a ``reserve`` fraction of long cuts is held back (see the module docstring). Sizes
    sum to at most ``pooled``; what is left is for the busy slots once they free up (or the reserve).
    ``max_lines`` caps every cut (a shard's file must fit the staged upload's size limit); what the
    cap leaves stays pooled for the next cuts."""
    if pooled <= 0 or not fill:
        return [0] * len(fill)
    rate = pace.lines_per_s
    # every slot as (when its next operation could begin, which fill slot it is or -1 for a busy one);
    # on a tie the slot being cut now goes first
    slots = sorted([(max(t, now) + pace.overhead_s, i) for i, t in enumerate(fill)]
                   + [(max(t, now) + pace.overhead_s, -1) for t in free_at], key=lambda s: (s[0], s[1] < 0))
    starts = [start for start, _ in slots]
    taking = len(slots)  # the most slots that can each take at least min_lines

    def share_of_last(k: int) -> float:
        return (balanced_end(starts[:k], pooled, pace) - starts[k - 1]) * rate

    while taking > 1 and share_of_last(taking) < min_lines:
        taking -= 1
    full_end = end = balanced_end(starts[:taking], pooled, pace)
    if final and reserve > 0:
        hold = reserve * (end - starts[0])
        if hold >= HOLD_MIN_OVERHEADS * pace.overhead_s:
            end -= hold
    sizes = [0] * len(fill)
    left = pooled
    for start, i in slots[:taking]:
        if i >= 0 and left:
            share = math.floor((end - start) * rate + 1e-6)
            sizes[i] = min(left, share) if share >= min_lines or taking == 1 else 0
            left -= sizes[i]
    everyone_now = all(i >= 0 for _, i in slots[:taking])
    if left and end == full_end and (everyone_now or (final and left < min_lines)):
        # the rest is too small for an operation of its own (rounding, or nothing else will come):
        # it goes to the cuts made now, earliest first, rather than into a last tiny operation
        cut = [i for i, size in enumerate(sizes) if size] or [next(i for _, i in slots if i >= 0)]
        for n in range(left):
            sizes[cut[n % len(cut)]] += 1
    if max_lines is not None:
        sizes = [min(size, max(1, max_lines)) for size in sizes]
    return sizes


def first_trip(sizes: Sequence[int], most: int = CUT_TRIP_LINES) -> list[int]:
    """The cuts of ``sizes`` to write now: the first, and those after it while they sum to at most
    ``most`` lines; the lane cuts the rest on its next turn, after starting these. Why: a round's
    shards are written before any is claimed, and eight of them (109,000 lines) took 5 s to write at
    Black Friday while fifteen operations' results were being read: every one of those slots waited."""
    out: list[int] = []
    total = 0
    for size in sizes:
        if out and total + size > most:
            break
        out.append(size)
        total += size
    return out
