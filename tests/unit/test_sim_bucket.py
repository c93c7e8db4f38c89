"""The per-token cost bucket: admission, continuous refill, refunds — over simulated time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk.clock import ManualClock
from bulk.sim._bucket import CostBucket, Plan


@pytest.mark.parametrize(
    ("name", "maximum", "rate"),
    [("standard", 2000, 100), ("advanced", 4000, 200), ("plus", 20000, 1000), ("enterprise", 40000, 2000)],
)
def test_plan_figures(name: str, maximum: float, rate: float) -> None:
    plan = Plan.parse(name)
    assert (plan.maximum, plan.restore_rate) == (maximum, rate)


def test_unknown_plan_names_the_choices() -> None:
    with pytest.raises(ValueError, match="standard, advanced, plus, enterprise"):
        Plan.parse("basic")


def test_admits_while_points_last_then_throttles() -> None:
    bucket = CostBucket.for_plan(Plan.STANDARD)
    assert all(bucket.admit(1000, now=0.0) for _ in range(2))
    assert not bucket.admit(1, now=0.0)
    assert (bucket.admitted, bucket.throttled, bucket.available(0.0)) == (2, 1, 0.0)


def test_admission_needs_the_full_requested_cost() -> None:
    bucket = CostBucket(100, 10)
    assert bucket.admit(60, 0.0)
    assert not bucket.admit(41, 0.0)  # 40 available: a partial payment is never taken
    assert bucket.available(0.0) == 40
    assert bucket.admit(40, 0.0)


def test_refill_over_manual_clock_time() -> None:
    clock = ManualClock()
    bucket = CostBucket.for_plan(Plan.STANDARD, now=clock.now())
    assert bucket.admit(2000, clock.now())
    clock.advance(2.5)
    assert bucket.available(clock.now()) == pytest.approx(250)
    assert not bucket.admit(251, clock.now())
    clock.advance(0.02)
    assert bucket.admit(251, clock.now())
    clock.advance(3600)
    assert bucket.available(clock.now()) == 2000  # never above the maximum


def test_refund_is_capped_and_reduces_spent() -> None:
    bucket = CostBucket(1000, 50)
    assert bucket.admit(102, 0.0)
    bucket.refund(97, 0.0)
    assert bucket.available(0.0) == 995
    assert bucket.spent == 5
    bucket.refund(500, 0.0)
    assert bucket.available(0.0) == 1000


def test_status_reports_shopify_figures() -> None:
    bucket = CostBucket.for_plan(Plan.PLUS)
    bucket.admit(10.5, 0.0)
    assert bucket.status(0.0).as_json() == {
        "maximumAvailable": 20000.0,
        "currentlyAvailable": 19989.0,  # whole points, never rounded up
        "restoreRate": 1000.0,
    }


def test_repr_and_statistics() -> None:
    bucket = CostBucket.for_plan(Plan.STANDARD)
    bucket.admit(10, 0.0)
    assert "1990.0/2000" in repr(bucket)
    stats = bucket.statistics(0.0)
    assert stats["admitted"] == 1 and stats["cost_spent"] == 10


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=5, allow_nan=False),  # time step
            st.floats(min_value=0, max_value=1000, allow_nan=False),  # cost
            st.floats(min_value=0, max_value=1000, allow_nan=False),  # refund share
        ),
        max_size=60,
    )
)
def test_level_stays_within_bounds_and_never_pays_on_credit(steps: list[tuple[float, float, float]]) -> None:
    bucket = CostBucket.for_plan(Plan.STANDARD)
    now = 0.0
    for dt, cost, refund in steps:
        now += dt
        before = bucket.available(now)
        if bucket.admit(cost, now):
            assert before >= cost
            bucket.refund(min(refund, cost), now)
        else:
            assert before < cost
        assert 0 <= bucket.available(now) <= bucket.maximum
