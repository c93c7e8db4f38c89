"""Cutting bulk operations so every slot ends together (``bulk.lanes.sizing``): pure, no clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk.lanes.sizing import Pace, balanced_end, cut_sizes

PACE = Pace(lines_per_s=50.0, overhead_s=1.0)


def test_balanced_end_spreads_lines_over_the_slots_free_before_it() -> None:
    # 3 slots free now, 1000 lines at 50/s: 20 slot-seconds, so each runs 6.67 s
    assert balanced_end([0, 0, 0], 1000, PACE) == pytest.approx(20 / 3)
    # a slot busy until after that end takes nothing: the others share the lines alone
    assert balanced_end([0, 0, 100], 1000, PACE) == pytest.approx(10)
    assert balanced_end([5, 0], 0, PACE) == 0


def test_free_slots_are_cut_to_end_with_the_busy_ones() -> None:
    # one slot busy until t=30, two free now: 3000 lines = 60 slot-seconds
    sizes = cut_sizes([30.0], [0.0, 0.0], now=0.0, pooled=3000, pace=PACE, min_lines=1)
    ends = [1 + size / 50 for size in sizes]  # each starts at 0 + overhead
    assert sum(sizes) <= 3000 and ends[0] == pytest.approx(ends[1], abs=0.05)
    # what is left over is the busy slot's share once it frees: it ends with them
    left = 3000 - sum(sizes)
    assert 30 + 1 + left / 50 == pytest.approx(ends[0], abs=0.1)


def test_a_later_slot_gets_fewer_lines_so_both_end_together() -> None:
    early, late = cut_sizes([], [0.0, 4.0], now=0.0, pooled=1000, pace=PACE, min_lines=1)
    assert early - late == 200  # 4 s later at 50 lines/s
    assert early + late == 1000


def test_no_cut_is_smaller_than_min_lines_and_a_small_rest_joins_the_last() -> None:
    assert cut_sizes([], [0.0] * 15, now=0.0, pooled=300, pace=PACE, min_lines=100) == [100] * 3 + [0] * 12
    assert cut_sizes([], [0.0, 0.0], now=0.0, pooled=250, pace=PACE, min_lines=100) == [125, 125]
    assert cut_sizes([], [0.0, 0.0], now=0.0, pooled=150, pace=PACE, min_lines=100) == [150, 0]
    assert cut_sizes([], [0.0], now=0.0, pooled=0, pace=PACE, min_lines=100) == [0]


def test_the_last_cuts_hold_back_a_reserve_for_the_end_only_when_worth_it() -> None:
    whole = cut_sizes([], [0.0, 0.0], now=0.0, pooled=10_000, pace=PACE, min_lines=1)
    held = cut_sizes([], [0.0, 0.0], now=0.0, pooled=10_000, pace=PACE, min_lines=1, final=True,
                     reserve=0.1)
    assert sum(whole) == 10_000
    # each would run 100 s; 10 % of that (10 s = 500 lines) is left for the slots that end first
    assert held == [4500, 4500]
    # while lines are still coming, nothing is held back (the cut is already short of the end)
    assert cut_sizes([], [0.0, 0.0], now=0.0, pooled=10_000, pace=PACE, min_lines=1, reserve=0.1) == whole
    # a hold-back shorter than two overheads would cost more than it saves
    short = cut_sizes([], [0.0, 0.0], now=0.0, pooled=1000, pace=PACE, min_lines=1, final=True,
                      reserve=0.1)
    assert short == [500, 500]


@given(
    busy=st.lists(st.floats(min_value=0, max_value=500), max_size=14),
    fill=st.lists(st.floats(min_value=0, max_value=10), min_size=1, max_size=15),
    pooled=st.integers(min_value=0, max_value=200_000),
    min_lines=st.integers(min_value=1, max_value=500),
    final=st.booleans(),
)
def test_cuts_never_exceed_the_pool_and_only_run_dry_at_the_end(
    busy: list[float], fill: list[float], pooled: int, min_lines: int, final: bool
) -> None:
    fill = sorted(fill)
    sizes = cut_sizes(busy, fill, now=0.0, pooled=pooled, pace=PACE, min_lines=min_lines, final=final,
                      reserve=0.1)
    assert len(sizes) == len(fill) and all(s >= 0 for s in sizes)
    assert sum(sizes) <= pooled
    for i, size in enumerate(sizes):
        if size == 0:  # a slot goes without only once the pool is empty
            assert sum(sizes[:i]) == pooled
        else:
            assert size >= min(min_lines, pooled)
    # earlier slots never get fewer lines than later ones (they run longer to the same end)
    nonzero = [s for s in sizes if s][:-1]  # (the last may also take a small remainder)
    assert all(a >= b for a, b in itertools.pairwise(nonzero))


def test_a_pace_must_move() -> None:
    with pytest.raises(ValueError):
        Pace(lines_per_s=0, overhead_s=1)
