"""The lane's picture of its operation slots (``bulk.lanes.bulk._slots``): openings, reservations, pace."""

from __future__ import annotations

import pytest

from bulk.lanes.bulk._slots import MIN_MEASURED_S, Opening, PaceMeter, SlotBoard


def test_free_slots_open_now_and_running_ones_at_their_expected_end() -> None:
    board = SlotBoard(tokens=2, per_token=2)
    board.start("op1", 0, eta=30.0)
    board.start("op2", 0, eta=12.0)
    board.start("op3", 1, eta=50.0)
    # token 1 has one free slot now; token 0 opens at 12 (op2), then 30; token 1 again at 50
    assert board.openings(now=10.0, horizon_s=5.0) == [Opening(1, 10.0), Opening(0, 12.0)]
    assert board.openings(now=10.0, horizon_s=100.0)[2:] == [Opening(0, 30.0), Opening(1, 50.0)]
    assert board.next_opening(now=10.0, horizon_s=5.0) == 25.0  # op1's end enters the window
    board.estimate("op1", 14.0)  # a poll says it ends sooner
    assert Opening(0, 14.0) in board.openings(now=10.0, horizon_s=5.0)


def test_a_reservation_takes_its_tokens_earliest_slot_until_its_operation_starts() -> None:
    board = SlotBoard(tokens=1, per_token=2)
    board.start("op1", 0, eta=20.0)
    board.reserve(0, busy_s=7.0)  # a shard waits for token 0: it takes the free slot
    assert board.openings(now=0.0, horizon_s=30.0) == [Opening(0, 20.0)]
    # for sizing, the reserved slot is busy for its shard's work, the running one until its end
    assert sorted(board.busy_until(0.0, exclude=[])) == [7.0, 20.0]
    assert board.busy_until(0.0, exclude=[Opening(0, 20.0)]) == [7.0]
    board.unreserve(0, busy_s=7.0)
    board.start("op2", 0, eta=9.0)
    board.finish("op1")
    assert board.running() == 1 and board.running(0) == 1
    assert board.openings(now=0.0, horizon_s=1.0) == [Opening(0, 0.0)]


def test_the_pace_is_the_prior_until_enough_was_measured_then_time_weighted() -> None:
    pace = PaceMeter(prior_rate=50.0, overhead=1.5)
    pace.observe(MIN_MEASURED_S / 2, 1000)  # a short burst is not enough to go by
    assert pace.rate == 50.0
    pace.observe(MIN_MEASURED_S * 10, 400)
    assert pace.rate == pytest.approx(1400 / (MIN_MEASURED_S * 10.5))
    pace.observe(-1.0, 10)  # nonsense is ignored
    assert pace.rate == pytest.approx(1400 / (MIN_MEASURED_S * 10.5))


def test_the_overhead_is_a_running_average_of_what_operations_took_to_begin() -> None:
    pace = PaceMeter(prior_rate=50.0, overhead=2.0)
    for _ in range(30):
        pace.observe_overhead(0.5)
    assert pace.overhead == pytest.approx(0.5, abs=0.01)
    pace.observe_overhead(-3.0)  # a clock quirk never makes it negative
    assert pace.overhead >= 0


def test_the_lead_grows_to_cover_slow_uploads_and_shrinks_back() -> None:
    from bulk.lanes.bulk._slots import LEAD_MARGIN, LEAD_WINDOW, LeadMeter

    lead = LeadMeter(2.0)
    assert lead.lead_s == 2.0  # nothing measured: the configured lead
    lead.observe(0.5)
    assert lead.lead_s == 2.0  # fast preparations never shorten it
    lead.observe(4.0)  # a 4 s upload: a 2 s lead would leave the slot idle for 2 s
    assert lead.lead_s == LEAD_MARGIN * 4.0
    for _ in range(LEAD_WINDOW):
        lead.observe(1.0)
    assert lead.lead_s == 2.0  # the slow one is forgotten
