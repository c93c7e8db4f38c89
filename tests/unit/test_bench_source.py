"""The in-run overlap of ``bench source`` and the interval arithmetic under it (bench/_stats.py)."""

from __future__ import annotations

import asyncio
import math

import pytest

from bench._stats import both, clip, length, union
from bench.source import InFlight, SlowSource, overlap


def test_union_merges_overlapping_and_touching_intervals_and_drops_empty_ones() -> None:
    assert union([(5, 6), (0, 2), (1, 3), (3, 4), (7, 7)]) == [(0, 4), (5, 6)]


def test_clip_keeps_only_the_parts_inside_the_window() -> None:
    assert clip([(0, 2), (3, 5), (6, 9)], 1, 7) == [(1, 2), (3, 5), (6, 7)]
    assert clip([(0, 2)], 5, 4) == []


def test_length_counts_overlapping_time_once() -> None:
    assert length([(0, 2), (1, 3), (5, 6)]) == 4


def test_both_is_the_time_covered_by_the_two_sets_at_once() -> None:
    assert both([(0, 2), (4, 6)], [(1, 5)]) == 2
    assert both([(0, 1)], [(1, 2)]) == 0
    assert both([(0, 10)], [(1, 2), (1.5, 3), (8, 12)]) == 4


# A source of 4 batches, 1 s each, asked back to back: waits (0,1) (1,2) (2,3) (3,4).
WAITS = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]


def test_a_shop_busy_from_the_first_claim_on_is_full_overlap_the_first_batch_excluded() -> None:
    # nothing can be in flight before the first batch arrives at 1.0 and is uploaded (claimed at 1.1)
    got = overlap(WAITS, [(1.1, 2.5), (2.4, 9.0)])
    assert got["overlap"] == pytest.approx(1.0)
    assert got["source_covered"] == pytest.approx(1.0)
    assert got["window_s"] == pytest.approx(2.9)
    assert got["first_in_flight_s"] == pytest.approx(0.1)


def test_a_submission_that_stops_reading_while_it_sends_is_no_overlap() -> None:
    # the source is slow only while the shop idles: each batch sent, then the next one asked for
    waits = [(0.0, 1.0), (2.0, 3.0), (4.0, 5.0), (6.0, 7.0)]
    got = overlap(waits, [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0)])
    assert got["overlap"] == 0
    assert got["source_covered"] == 0


def test_reading_the_whole_source_before_sending_is_no_overlap() -> None:
    assert overlap(WAITS, [(4.5, 9.0)])["overlap"] == 0


def test_a_send_faster_than_the_source_is_full_overlap_when_it_hides_under_the_waits() -> None:
    # each batch's shard runs 0.4 s inside the next wait: the send, the shorter, lies wholly under it
    got = overlap(WAITS, [(1.1, 1.5), (2.1, 2.5), (3.1, 3.5), (4.1, 4.5)])
    assert got["overlap"] == pytest.approx(1.0)
    assert got["source_covered"] == pytest.approx(1.2 / 2.9)


def test_reading_and_sending_that_only_partly_overlap_give_the_shared_share() -> None:
    waits = [(0.0, 1.0), (1.0, 2.0), (2.5, 3.5), (4.0, 5.0)]
    got = overlap(waits, [(1.0, 2.5), (3.0, 4.5)])
    # in the window 1..5: slow 1..2, 2.5..3.5, 4..5 (3 s); in flight 1..2.5, 3..4.5 (3 s); both 2 s
    assert got["overlap"] == pytest.approx(2 / 3)
    assert got["both_s"] == pytest.approx(2.0)


def test_nothing_to_measure_is_nan_not_a_flattering_figure() -> None:
    assert math.isnan(overlap([(0.0, 1.0)], [(1.2, 2.0)])["overlap"])  # one batch: no slow period after
    with pytest.raises(ValueError):
        overlap([], [])


def test_the_source_records_each_wait_and_in_flight_pairs_claims_with_their_end() -> None:
    now = [0.0]
    source = SlowSource([[], []], 0, clock=lambda: now[0])

    async def read() -> int:
        n = 0
        async for _ in source:
            now[0] += 1
            n += 1
        return n

    assert asyncio.run(read()) == 2
    assert source.waits == [(0.0, 0.0), (1.0, 1.0)]

    flight = InFlight(clock=lambda: now[0])
    flight("shard_claimed", {"unit": 1})
    flight("shard_claimed", {"unit": 2})
    now[0] = 3.0
    flight("shard_done", {"unit": 1})
    flight("op_finished", {"unit": 2})  # not the end of a claim: results are still read
    flight("shard_released", {"unit": 3})  # never claimed here: ignored
    flight.close(5.0)
    assert sorted(flight.intervals) == [(2.0, 3.0), (2.0, 5.0)]


def test_the_serial_control_lets_the_source_go_on_once_every_line_handed_to_the_lane_is_done() -> None:
    flight = InFlight(clock=lambda: 0.0)
    flight("pooled", {"lines": 10, "pooled": 10})
    flight("shard_done", {"unit": 1, "lines": 4, "retried": 0})
    flight("shard_done", {"unit": 3, "lines": 6, "retried": 0})

    async def gate() -> None:
        await asyncio.wait_for(flight.drained(), timeout=5)

    asyncio.run(gate())  # 10 of 10 done: the next batch may come
