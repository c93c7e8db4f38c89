"""Cutting bulk operations so every slot ends together (``bulk.lanes.bulk._sizing``): pure, no clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk.lanes.bulk._sizing import Pace, balanced_end, cut_sizes, first_trip

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


def test_the_rounding_rest_goes_to_the_cuts_when_no_busy_slot_takes_part() -> None:
    assert cut_sizes([], [0.0, 0.0], now=0.0, pooled=251, pace=PACE, min_lines=100) == [126, 125]
    # a busy slot ending far later takes no part: once nothing more will come, a rest smaller than
    # an operation's worth goes with this cut instead of into a last tiny operation
    assert cut_sizes([500.0], [0.0], now=0.0, pooled=150, pace=PACE, min_lines=100, final=True) == [150]
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
def test_cuts_never_exceed_the_pool_are_never_tiny_and_always_make_progress(
    busy: list[float], fill: list[float], pooled: int, min_lines: int, final: bool
) -> None:
    fill = sorted(fill)
    sizes = cut_sizes(busy, fill, now=0.0, pooled=pooled, pace=PACE, min_lines=min_lines, final=final,
                      reserve=0.1)
    assert len(sizes) == len(fill) and all(s >= 0 for s in sizes)
    assert sum(sizes) <= pooled
    assert all(s >= min(min_lines, pooled) for s in sizes if s)
    # the slot that frees first takes something, when it is one being cut now
    if pooled and fill[0] <= min(busy, default=fill[0]):
        assert sizes[0] > 0
    # earlier slots never get fewer lines than later ones (they run longer to the same end), but for
    # the one-line rounding rest
    nonzero = [s for s in sizes if s]
    assert all(a >= b - 1 for a, b in itertools.pairwise(nonzero))


def test_slots_too_late_for_a_worthwhile_share_sit_the_end_out() -> None:
    # 300 lines, 15 free slots, at least 100 each: three slots take part, evenly
    assert cut_sizes([], [0.0] * 15, now=0.0, pooled=300, pace=PACE, min_lines=100) == [100] * 3 + [0] * 12
    # a slot free 3 s later would get under 100 lines: the earlier one takes everything
    assert cut_sizes([], [0.0, 3.0], now=0.0, pooled=300, pace=PACE, min_lines=100) == [300, 0]
    assert cut_sizes([], [0.0, 3.0], now=0.0, pooled=350, pace=PACE, min_lines=100) == [250, 100]
    # a pool smaller than min_lines still goes out, to the earliest slot
    assert cut_sizes([5.0], [0.0, 0.0], now=0.0, pooled=40, pace=PACE, min_lines=100) == [40, 0]
    # a busy slot that frees first takes the small pool later; nothing is cut now
    assert cut_sizes([0.0], [2.0], now=0.0, pooled=40, pace=PACE, min_lines=100) == [0]


def test_a_pace_must_move() -> None:
    with pytest.raises(ValueError):
        Pace(lines_per_s=0, overhead_s=1)


def test_a_round_of_cuts_is_written_a_trip_at_a_time() -> None:
    """The first cuts are written, claimed and started before the rest of the round is written."""
    assert first_trip([8_000, 8_000, 8_000, 23_000]) == [8_000, 8_000]
    assert first_trip([23_000, 8_000]) == [23_000]  # one cut always goes, however long
    assert first_trip([1_000] * 15) == [1_000] * 15  # a round of short cuts goes whole
    assert first_trip([]) == []
