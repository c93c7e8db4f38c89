"""The bucket model and token choice (pure): unit and property tests."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.scheduler import core

finite = st.floats(min_value=0, max_value=5000, allow_nan=False)


def test_level_restores_at_rate_and_stops_at_capacity_minus_outstanding() -> None:
    b = core.Bucket(capacity=2000, restore_rate=100, level=1000, at=10.0)
    assert core.level_at(b, 12.0) == 1200
    assert core.level_at(b, 100.0) == 2000
    busy = core.debit(b, 50, 10.0)
    assert busy.level == 950 and busy.outstanding == 50
    # The server still holds the 50 in-flight points: the model may only refill to 1950.
    assert core.level_at(busy, 100.0) == 1950


def test_wait_for_counts_the_floor_and_is_infinite_when_the_bucket_is_too_small() -> None:
    b = core.Bucket(capacity=2000, restore_rate=100, level=0, at=0.0)
    assert core.wait_for(b, 50, 0, 0.0) == 0.5
    assert core.wait_for(b, 50, 100, 0.0) == 1.5
    assert core.wait_for(b, 1950, 100, 0.0) == math.inf
    assert core.wait_for(core.debit(b, 1000, 0.0), 1001, 0, 1000.0) == math.inf


def test_choose_token_prefers_soonest_then_most_headroom() -> None:
    low = core.Bucket(level=5, at=0.0)
    mid = core.Bucket(level=500, at=0.0)
    high = core.Bucket(level=900, at=0.0)
    assert core.choose_token([low, mid, high], 10, 0, 0.0) == (2, 0.0)
    index, wait = core.choose_token([low, core.Bucket(level=0, at=0.0)], 10, 0, 0.0)
    assert index == 0 and wait == 0.05


def test_finish_refunds_and_sync_subtracts_what_is_still_outstanding() -> None:
    b = core.debit(core.debit(core.Bucket(level=1000, at=0.0), 100, 0.0), 100, 0.0)
    b = core.finish(b, requested=100, refund=60, now=0.0)  # actual 40
    assert (b.level, b.outstanding) == (860, 100)
    synced = core.sync(b, core.ThrottleStatus(maximum=4000, available=700, restore_rate=200), 0.0)
    assert synced.learned and synced.capacity == 4000 and synced.restore_rate == 200
    assert synced.level == 600  # the server does not know the other 100 yet


def test_parse_cost_reads_shopify_extensions_and_tolerates_garbage() -> None:
    report = core.parse_cost(
        {
            "requestedQueryCost": 11,
            "actualQueryCost": 10,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0},
        }
    )
    assert report == core.CostReport(11.0, 10.0, core.ThrottleStatus(2000.0, 1990.0, 100.0))
    assert core.parse_cost(None) is None
    throttled = core.parse_cost({"requestedQueryCost": 11, "actualQueryCost": None, "throttleStatus": {}})
    assert throttled == core.CostReport(11.0, None, None)


@settings(deadline=None)  # a busy 2-core CI box must not turn a slow example into a failure
@given(
    level=st.floats(min_value=-500, max_value=2000),
    out=st.floats(min_value=0, max_value=500),
    cost=st.floats(min_value=0, max_value=1000),
    floor=st.floats(min_value=0, max_value=200),
    dt=finite,
)
def test_waiting_the_announced_time_is_enough_and_never_too_early(
    level: float, out: float, cost: float, floor: float, dt: float
) -> None:
    """Invariant 1 at the core: admitting after ``wait_for`` leaves the bucket at or above the floor."""
    b = core.Bucket(capacity=2000, restore_rate=100, level=min(level, 2000 - out), outstanding=out, at=0.0)
    wait = core.wait_for(b, cost, floor, 0.0)
    if math.isinf(wait):
        assert cost + floor > 2000 - out
        return
    after = core.debit(b, cost, wait)
    assert after.level >= floor - 1e-6
    if wait > 1e-9:  # one instant earlier it could not pay
        assert core.level_at(b, wait * 0.999) < cost + floor


@settings(deadline=None)  # a busy 2-core CI box must not turn a slow example into a failure
@given(
    levels=st.lists(st.floats(min_value=-100, max_value=2000), min_size=1, max_size=5),
    cost=st.floats(min_value=0, max_value=1000),
    floor=st.floats(min_value=0, max_value=200),
)
def test_choose_token_picks_a_token_no_other_beats(levels: list[float], cost: float, floor: float) -> None:
    buckets = [core.Bucket(level=lv, at=0.0) for lv in levels]
    index, wait = core.choose_token(buckets, cost, floor, 0.0)
    for b in buckets:
        assert wait <= core.wait_for(b, cost, floor, 0.0)
        if core.wait_for(b, cost, floor, 0.0) == wait:
            # most headroom, compared to the milli-point (so Lua and Python break ties alike)
            assert round(core.level_at(buckets[index], 0.0), 3) >= round(core.level_at(b, 0.0), 3)


@settings(deadline=None)  # a busy 2-core CI box must not turn a slow example into a failure
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["debit", "finish", "sync"]), finite, finite, st.floats(0, 30)),
        max_size=40,
    )
)
def test_the_model_never_exceeds_capacity_minus_outstanding(
    ops: list[tuple[str, float, float, float]],
) -> None:
    b = core.Bucket(at=0.0)
    now = 0.0
    for op, x, y, dt in ops:
        now += dt
        if op == "debit":
            b = core.debit(b, min(x, 1000), now)
        elif op == "finish":
            b = core.finish(b, requested=min(x, b.outstanding), refund=min(y, x), now=now)
        else:
            b = core.sync(b, core.ThrottleStatus(2000, min(x, 2000), 100), now)
        assert b.outstanding >= 0
        assert core.level_at(b, now) <= b.capacity - b.outstanding + 1e-6
