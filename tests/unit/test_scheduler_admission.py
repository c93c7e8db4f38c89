"""Admission (pure state machine): order, reserve, cap, leases — unit and stateful property tests."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bulk.models import Lane
from bulk.scheduler import core
from bulk.scheduler._admission import Granted, State, Wait
from bulk.scheduler._config import SchedulerConfig


def make(**options: float) -> State:
    config = SchedulerConfig(
        token_count=int(options.pop("token_count", 2)),
        max_in_flight=int(options.pop("max_in_flight", 4)),
        **options,
    )
    return State(config=config, buckets=[core.Bucket(at=0.0) for _ in range(config.token_count)])


def status(available: float, maximum: float = 2000, rate: float = 100) -> core.CostReport:
    return core.CostReport(10, 10, core.ThrottleStatus(maximum, available, rate))


def test_waiters_are_served_by_priority_then_arrival() -> None:
    s = make(max_in_flight=1)
    assert isinstance(s.acquire("a", "first", 10, Lane.NORMAL, 0.0), Granted)
    order = [("b1", Lane.BULK), ("n1", Lane.NORMAL), ("u1", Lane.URGENT), ("n2", Lane.NORMAL)]
    for wid, lane in order:
        assert isinstance(s.acquire("a", wid, 10, lane, 0.0), Wait)
    s.release("a", "p:first", 0, None, False, 0.0)
    served = []
    for _ in order:
        for wid, lane in order:
            if wid in s.waiters and isinstance(r := s.acquire("a", wid, 10, lane, 0.0), Granted):
                served.append(wid)
                s.release("a", r.permit, r.token, None, False, 0.0)
    assert served == ["u1", "n1", "n2", "b1"]


def test_lower_lanes_leave_the_urgent_reserve() -> None:
    s = make(token_count=1, urgent_reserve=100)
    s.release("a", "none", 0, status(available=150), False, 0.0)  # learn: 150 points left
    assert isinstance(s.acquire("a", "n", 40, Lane.NORMAL, 0.0), Granted)
    blocked = s.acquire("a", "b", 40, Lane.BULK, 0.0)
    assert isinstance(blocked, Wait) and blocked.reason == "points"
    assert blocked.retry_after == pytest.approx(0.3)
    s.cancel("a", "b", 0.0)
    # Urgent work does not wait: the reserve is there for it.
    assert isinstance(s.acquire("a", "u", 100, Lane.URGENT, 0.0), Granted)


def test_urgent_head_waiting_for_points_holds_back_lower_lanes() -> None:
    s = make(token_count=1, urgent_reserve=50)
    s.release("a", "none", 0, status(available=200), False, 0.0)
    assert isinstance(s.acquire("a", "u", 300, Lane.URGENT, 0.0), Wait)
    # 10 points would fit above the reserve, but the urgent request came first.
    assert s.acquire("a", "n", 10, Lane.NORMAL, 0.0).reason == "queued"  # type: ignore[union-attr]


def test_a_dead_clients_permits_return_when_its_lease_ends_and_points_stay_spent() -> None:
    s = make(max_in_flight=1, lease=2.0)
    granted = s.acquire("dead", "w", 100, Lane.NORMAL, 0.0)
    assert isinstance(granted, Granted)
    level = core.level_at(s.buckets[granted.token], 0.0)
    assert s.acquire("live", "w", 10, Lane.NORMAL, 1.0).reason == "in_flight"  # type: ignore[union-attr]
    assert isinstance(s.acquire("live", "w", 10, Lane.NORMAL, 2.0), Granted)
    assert s.expired == 1
    # Two seconds of restore, but no refund: the shop may have charged the lost request.
    assert core.level_at(s.buckets[granted.token], 2.0) == level + 200
    assert s.heartbeat("dead", 2.0) == []  # the dead client learns it lost the permit


def test_a_paused_waiter_at_the_head_is_skipped_after_waiter_ttl() -> None:
    s = make(max_in_flight=2, waiter_ttl=0.3)
    assert isinstance(s.acquire("a", "x", 10, Lane.NORMAL, 0.0), Granted)
    assert isinstance(s.acquire("a", "y", 10, Lane.NORMAL, 0.0), Granted)
    assert s.acquire("paused", "p", 10, Lane.URGENT, 0.0).reason == "in_flight"  # type: ignore[union-attr]
    s.release("a", "p:x", 0, None, False, 0.1)
    queued = s.acquire("b", "q", 10, Lane.NORMAL, 0.1)
    assert isinstance(queued, Wait) and queued.reason == "queued"
    assert queued.retry_after == pytest.approx(0.2)
    assert isinstance(s.acquire("b", "q", 10, Lane.NORMAL, 0.3), Granted)
    assert "paused" in {w.client for w in s.waiters.values()}  # skipped, not dropped


def test_throttled_resyncs_the_model_and_counts() -> None:
    s = make(token_count=1)
    g = s.acquire("a", "w", 50, Lane.NORMAL, 0.0)
    assert isinstance(g, Granted)
    report = core.CostReport(50, None, core.ThrottleStatus(2000, 20, 100))
    s.release("a", g.permit, g.token, report, True, 0.0)
    assert s.throttled == [1]
    assert core.level_at(s.buckets[0], 0.0) == 20
    wait = s.acquire("a", "w2", 50, Lane.URGENT, 0.0)
    assert isinstance(wait, Wait) and wait.reason == "points"
    assert wait.retry_after == pytest.approx(0.3)


def test_settle_refunds_requested_minus_actual() -> None:
    s = make(token_count=1)
    g = s.acquire("a", "w", 50, Lane.NORMAL, 0.0)
    assert isinstance(g, Granted)
    s.release("a", g.permit, 0, core.CostReport(50, 12, None), False, 0.0)
    assert core.level_at(s.buckets[0], 0.0) == core.INITIAL_LEVEL - 12


class AdmissionMachine(RuleBasedStateMachine):
    """Random workers acquire, release (with random server figures), pause and die."""

    def __init__(self) -> None:
        super().__init__()
        self.s = make(token_count=3, max_in_flight=3, urgent_reserve=100, lease=2.0, waiter_ttl=0.3)
        self.now = 0.0
        self.asks: dict[str, tuple[str, float, int]] = {}
        self.n = 0

    @rule(client=st.sampled_from("abc"), cost=st.floats(0, 400), lane=st.sampled_from(list(Lane)))
    def ask(self, client: str, cost: float, lane: Lane) -> None:
        self.n += 1
        self.asks[f"w{self.n}"] = (client, cost, int(lane))
        self.attempt(f"w{self.n}")

    @precondition(lambda self: bool(self.asks))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        self.attempt(data.draw(st.sampled_from(sorted(self.asks))))

    def attempt(self, wid: str) -> None:
        client, cost, priority = self.asks[wid]
        before = [core.level_at(b, self.now) for b in self.s.buckets]
        live_ahead = [
            w
            for w in self.s.waiters.values()
            if w.priority < priority and self.now - self.s.clients[w.client].seen < 0.3
        ]
        result = self.s.acquire(client, wid, cost, priority, self.now)
        if isinstance(result, Granted):
            del self.asks[wid]
            floor = 0.0 if priority == Lane.URGENT else 100.0
            assert before[result.token] >= cost + floor - 1e-6  # invariants 1 and 2
            assert not live_ahead  # nobody of a higher lane was waiting (invariant 2)
        elif wid not in self.s.waiters:  # the client had died meanwhile: forget it
            del self.asks[wid]

    @precondition(lambda self: bool(self.s.permits))
    @rule(data=st.data(), available=st.floats(-50, 2000), actual=st.none() | st.floats(0, 400))
    def release(self, data: st.DataObject, available: float, actual: float | None) -> None:
        pid = data.draw(st.sampled_from(sorted(self.s.permits)))
        p = self.s.permits[pid]
        report = data.draw(
            st.none() | st.just(core.CostReport(p.cost, actual, core.ThrottleStatus(2000, available, 100)))
        )
        throttled = report is not None and actual is None and data.draw(st.booleans())
        self.s.release(p.client, pid, p.token, report, throttled, self.now)

    @rule(dt=st.floats(0, 3))
    def advance(self, dt: float) -> None:
        self.now += dt
        self.s.heartbeat("observer", self.now)  # any operation ends the leases that ran out

    @rule(client=st.sampled_from("abc"))
    def heartbeat(self, client: str) -> None:
        held = self.s.heartbeat(client, self.now)
        assert all((self.s.permits.get(pid) or self.s.standbys[pid]).client == client for pid in held)

    @invariant()
    def cap_and_leases_hold(self) -> None:
        assert len(self.s.permits) <= self.s.config.max_in_flight  # invariant 3
        for p in self.s.permits.values():
            c = self.s.clients.get(p.client)
            assert c is not None
            assert c.expires > self.now  # invariant 4: no permit outlives its lease

    @invariant()
    def model_stays_within_its_ceiling(self) -> None:
        for b in self.s.buckets:
            assert b.outstanding >= -1e-9
            assert core.level_at(b, self.now) <= b.capacity - b.outstanding + 1e-6


AdmissionMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_admission_machine = AdmissionMachine.TestCase


def test_a_heartbeat_drops_the_clients_ghost_waiters_only() -> None:
    s = make(max_in_flight=1)
    assert isinstance(s.acquire("a", "held", 10, Lane.NORMAL, 0.0), Granted)
    for client, wid in [("a", "ghost"), ("a", "live"), ("b", "other")]:
        assert isinstance(s.acquire(client, wid, 10, Lane.NORMAL, 0.0), Wait)
    assert s.heartbeat("a", 0.0, forget=["ghost", "other"]) == ["p:held"]
    assert sorted(s.waiters) == ["live", "other"]
