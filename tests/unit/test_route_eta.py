"""The ETA model of ``bulk submit --dry-run`` (bulk/plan/route.py): it counts the slots the lane
really uses and an overhead per wave of operations, and with the simulator's measured figures it
stays within ±25 % of the runs measured against ``bulk sim`` (the table in docs/simulator.md)."""

from __future__ import annotations

import pytest

from bulk.plan.route import ShopProfile, eta_bulk

SIM = ShopProfile.simulator()
SHOP_PACE = SIM.shop_lines_per_s or 0.0


def test_the_lane_runs_every_slot_that_gets_enough_lines_not_the_plans_shard_count() -> None:
    one_slot = eta_bulk(100, 1, SIM, rows=200)
    fifteen = eta_bulk(1500, 2, SIM, rows=3000)  # 15 slots x 100 lines, whatever the shard count
    real = ShopProfile()  # 50 lines/s per operation: a slot's pace matters, not the shard count
    assert eta_bulk(1500, 2, real, rows=3000) - eta_bulk(1500, 15, real, rows=3000) == 0
    assert eta_bulk(1500, 2, real, rows=3000) == pytest.approx(real.bulk_lead_s + real.bulk_overhead_s + 2.0)
    # one operation runs at its own pace; fifteen at the shop's, which is less than fifteen paces
    assert fifteen - one_slot == pytest.approx(1500 / SHOP_PACE - 100 / SIM.bulk_lines_per_s)


def test_a_plan_beyond_the_first_chunk_takes_two_more_waves_of_operations() -> None:
    first_chunk = eta_bulk(2000, 15, SIM, rows=SIM.first_chunk_rows)
    streamed = eta_bulk(2000, 15, SIM, rows=SIM.first_chunk_rows + 1)  # the rest comes while ops run
    assert SIM.bulk_wave_s is not None
    assert streamed - first_chunk == pytest.approx(2 * SIM.bulk_wave_s)
    assert first_chunk == pytest.approx(SIM.bulk_lead_s + SIM.bulk_overhead_s + 2000 / SHOP_PACE)
    real = ShopProfile()  # no separate figure for later waves: each pays the whole overhead
    later = eta_bulk(2000, 15, real, rows=6000) - eta_bulk(2000, 15, real, rows=5000)
    assert later == 2 * real.bulk_overhead_s


# (rows, mutation lines, seconds the run took) measured against `bulk sim` at speed 1: docs/simulator.md
MEASURED = [(5_000, 2_425, 2.3), (5_000, 2_425, 2.9), (5_000, 2_425, 1.9),
            (50_000, 24_198, 16.2), (50_000, 24_198, 20.0), (50_000, 24_198, 20.9), (50_000, 24_198, 24.2),
            (500_000, 242_109, 64.4), (500_000, 242_109, 60.9)]  # not the busy box's 138.8 s: see the doc


@pytest.mark.parametrize(("rows", "lines", "took"), MEASURED)
def test_the_simulator_profile_predicts_the_measured_runs_within_a_quarter(
    rows: int, lines: int, took: float
) -> None:
    assert eta_bulk(lines, 15, SIM, rows=rows) == pytest.approx(took, rel=0.25)
