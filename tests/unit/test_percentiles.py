"""The one percentile the simulator and the benchmarks report: nearest rank."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk.sim.percentiles import nearest_rank

samples = st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=200)


@given(samples, st.integers(min_value=1, max_value=100))
def test_the_smallest_value_at_least_q_percent_do_not_exceed(values: list[float], q: int) -> None:
    p = nearest_rank(values, q)
    n = len(values)
    assert p in values  # a value some sample had, never an interpolation
    assert 100 * sum(v <= p for v in values) >= q * n  # at least q % are at or below it
    assert 100 * sum(v < p for v in values) < q * n  # and no smaller value would do


@given(samples)
def test_the_ends_are_the_smallest_and_the_largest(values: list[float]) -> None:
    assert nearest_rank(values, 0) == min(values)
    assert nearest_rank(values, 100) == max(values)


def test_an_exact_rank_is_not_rounded_up() -> None:
    assert nearest_rank([6, 1, 5, 2, 4, 3], 50) == 3  # ⌈50 · 6 / 100⌉ = 3rd smallest
    assert nearest_rank(range(1, 101), 99) == 99
    assert nearest_rank(range(1, 101), 7) == 7  # 7 / 100 · 100 would be 7.000000000000001 in floats


def test_no_values_give_nan_and_q_stays_within_0_and_100() -> None:
    assert math.isnan(nearest_rank([], 99))
    with pytest.raises(ValueError, match="between 0 and 100"):
        nearest_rank([1.0], 101)
