"""Standby grants (pure): the head of the line admitted ahead of time onto a busy permit of its own
client — paid, fenced and ordered at that moment — and started by that client when the permit's
request ends. Unit cases, and the stateful machine of test_scheduler_admission with hand-overs and
a model of what each process really has on the wire."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from bulk.clock import ManualClock
from bulk.models import Lane
from bulk.scheduler import core
from bulk.scheduler._admission import STANDBY, Granted, Wait
from bulk.scheduler._handoff import Handed, hand_over
from bulk.scheduler.protocol import Notifier
from tests.unit.test_scheduler_admission import AdmissionMachine, make
from tests.unit.test_scheduler_handoff import admitted_before, live_line


def test_the_head_rides_on_its_own_clients_busy_permit_and_takes_its_slot_on_release() -> None:
    s = make(max_in_flight=1)
    held = s.acquire("a", "held", 10, Lane.NORMAL, 0.0)
    assert isinstance(held, Granted)
    assert isinstance(s.acquire("a", "next", 10, Lane.NORMAL, 0.0), Wait)
    level = core.level_at(s.buckets[0], 0.0) + core.level_at(s.buckets[1], 0.0)
    (h,) = hand_over(s, 0.0, {})
    assert h == Handed("next", Granted("p:next", h.granted.token, held.fence + 1), on=held.permit)
    assert len(s.permits) == 1 and list(s.standbys) == ["p:next"] and not s.waiters
    assert core.level_at(s.buckets[0], 0.0) + core.level_at(s.buckets[1], 0.0) == level - 10  # paid now
    assert s.admitted == 2
    again = s.acquire("a", "next", 10, Lane.NORMAL, 0.1)  # its process asks again: never twice
    assert isinstance(again, Wait) and again.reason == STANDBY
    s.release("a", held.permit, held.token, None, False, 0.2, started="p:next")
    assert list(s.permits) == ["p:next"] and not s.standbys  # it took the slot: never free between
    assert hand_over(s, 0.2, {}) == [Handed("next", h.granted)]  # told, in case the message was lost


def test_a_standby_its_process_did_not_start_waits_for_a_free_slot_in_line() -> None:
    s = make(max_in_flight=1)
    held = s.acquire("a", "held", 10, Lane.NORMAL, 0.0)
    assert isinstance(held, Granted)
    s.acquire("a", "next", 10, Lane.NORMAL, 0.0)
    hand_over(s, 0.0, {})
    s.acquire("b", "later", 10, Lane.NORMAL, 0.0)
    s.release("a", held.permit, held.token, None, False, 0.1)  # it had not heard of its standby
    assert not s.permits and s.standbys["p:next"].on is None  # never started on that permit
    assert [(h.waiter, h.on) for h in hand_over(s, 0.1, {})] == [("next", None)]  # first in line
    assert list(s.permits) == ["p:next"] and list(s.waiters) == ["later"]


def test_an_urgent_head_revokes_lower_lane_standbys_so_it_takes_the_first_slot_that_ends() -> None:
    s = make(max_in_flight=2)
    a = s.acquire("a", "a1", 10, Lane.BULK, 0.0)
    b = s.acquire("b", "b1", 10, Lane.BULK, 0.0)
    assert isinstance(a, Granted) and isinstance(b, Granted)
    s.acquire("a", "a2", 10, Lane.BULK, 0.0)
    s.acquire("b", "b2", 10, Lane.BULK, 0.0)
    assert [h.on for h in hand_over(s, 0.0, {})] == [a.permit, b.permit]
    s.acquire("c", "urgent", 10, Lane.URGENT, 0.0)
    revoked = hand_over(s, 0.0, {})
    assert sorted((h.waiter, h.on, h.revoked) for h in revoked) == [
        ("a2", a.permit, True), ("b2", b.permit, True)
    ]
    # a's process heard it in time and starts nothing; b's had started b2 already and says so
    s.release("b", b.permit, b.token, None, False, 0.1, started="p:b2")
    s.release("a", a.permit, a.token, None, False, 0.1)
    handed = hand_over(s, 0.1, {})
    assert [(h.waiter, h.on) for h in handed] == [("b2", None), ("urgent", None)]  # b2 keeps its slot
    assert sorted(s.permits) == ["p:b2", "p:urgent"] and s.standbys["p:a2"].on is None


def test_no_standby_on_another_clients_permit() -> None:
    s = make(max_in_flight=1)
    assert isinstance(s.acquire("a", "held", 10, Lane.NORMAL, 0.0), Granted)
    assert isinstance(s.acquire("b", "other", 10, Lane.NORMAL, 0.0), Wait)
    assert hand_over(s, 0.0, {}) == []
    assert list(s.waiters) == ["other"] and not s.standbys


def test_a_head_that_cannot_ride_blocks_the_ones_behind_it() -> None:
    s = make(max_in_flight=1)
    assert isinstance(s.acquire("a", "held", 10, Lane.NORMAL, 0.0), Granted)
    assert isinstance(s.acquire("b", "first", 10, Lane.NORMAL, 0.0), Wait)  # b holds nothing
    assert isinstance(s.acquire("a", "second", 10, Lane.NORMAL, 0.0), Wait)
    assert hand_over(s, 0.0, {}) == []  # "second" could ride on a's permit, but "first" came first
    assert not s.standbys


def test_a_free_slot_goes_to_an_urgent_waiter_before_a_normal_standby() -> None:
    s = make(max_in_flight=2)
    a = s.acquire("a", "a1", 10, Lane.NORMAL, 0.0)
    b = s.acquire("b", "b1", 10, Lane.NORMAL, 0.0)
    assert isinstance(a, Granted) and isinstance(b, Granted)
    assert isinstance(s.acquire("a", "a2", 10, Lane.NORMAL, 0.0), Wait)
    assert [h.on for h in hand_over(s, 0.0, {})] == [a.permit]  # a2 rides on a1
    assert isinstance(s.acquire("c", "urgent", 10, Lane.URGENT, 0.0), Wait)
    s.release("b", b.permit, b.token, None, False, 0.1)
    assert [h.waiter for h in hand_over(s, 0.1, {})] == ["urgent"]  # first in line, not a2
    assert list(s.standbys) == ["p:a2"]


def test_a_free_slot_promotes_a_standby_first_in_line() -> None:
    s = make(max_in_flight=2)
    a = s.acquire("a", "a1", 10, Lane.NORMAL, 0.0)
    b = s.acquire("b", "b1", 10, Lane.NORMAL, 0.0)
    assert isinstance(a, Granted) and isinstance(b, Granted)
    assert isinstance(s.acquire("a", "a2", 10, Lane.NORMAL, 0.0), Wait)
    hand_over(s, 0.0, {})
    assert isinstance(s.acquire("c", "later", 10, Lane.NORMAL, 0.0), Wait)
    s.release("b", b.permit, b.token, None, False, 0.1)
    handed = hand_over(s, 0.1, {})
    assert [(h.waiter, h.on) for h in handed] == [("a2", None)]  # it starts now, before its carrier ends
    assert sorted(s.permits) == ["p:a1", "p:a2"] and list(s.waiters) == ["later"]


def test_a_cancelled_standby_returns_its_points_and_a_dead_clients_keep_them_spent() -> None:
    s = make(token_count=1, max_in_flight=1, lease=2.0)
    held = s.acquire("a", "held", 10, Lane.NORMAL, 0.0)
    assert isinstance(held, Granted)
    s.acquire("a", "next", 40, Lane.NORMAL, 0.0)
    hand_over(s, 0.0, {})
    before = core.level_at(s.buckets[0], 0.0)
    s.cancel("a", "next", 0.0)
    assert not s.standbys and core.level_at(s.buckets[0], 0.0) == before + 40  # never started
    s.acquire("a", "again", 40, Lane.NORMAL, 0.0)
    hand_over(s, 0.0, {})
    assert list(s.standbys) == ["p:again"] and s.heartbeat("a", 0.0) == ["p:again", "p:held"]
    level = core.level_at(s.buckets[0], 2.0)
    s.heartbeat("b", 2.0)  # a's lease ends: its permit and its standby go, their points stay spent
    assert not s.permits and not s.standbys and s.expired == 2
    assert core.level_at(s.buckets[0], 2.0) == level


def test_a_standby_that_ended_before_its_carriers_release_is_released_on_its_own() -> None:
    s = make(token_count=1, max_in_flight=1)
    held = s.acquire("a", "held", 10, Lane.NORMAL, 0.0)
    assert isinstance(held, Granted)
    s.acquire("a", "next", 10, Lane.NORMAL, 0.0)
    (h,) = hand_over(s, 0.0, {})
    assert s.release("a", h.granted.permit, 0, core.CostReport(10, 4, None), False, 0.1)
    assert not s.standbys and list(s.permits) == [held.permit]  # the carrier's slot is still counted
    assert s.buckets[0].outstanding == 10
    s.release("a", held.permit, 0, None, False, 0.2)
    assert not s.permits and s.buckets[0].outstanding == 0


async def test_a_process_starts_a_standby_only_at_its_carriers_end_and_only_once() -> None:
    notifier = Notifier(ManualClock())
    notifier.register("w")
    granted = Granted("p:w", 0, 2)
    notifier.standby("w", granted, "p:carrier")
    assert notifier.take("w") is None  # nothing to do until the carrier's request ends
    assert notifier.start("p:carrier") == "p:w" and notifier.take("w") == granted
    notifier.register("late")
    notifier.standby("late", Granted("p:late", 0, 3), "p:carrier")  # heard of after the end
    assert notifier.start("p:carrier") is None and notifier.take("late") is None  # never on it
    notifier.released("p:carrier")
    notifier.register("r")
    notifier.standby("r", Granted("p:r", 0, 4), "p:other")
    notifier.revoke("p:other", "p:r")  # a higher lane came: not started when p:other ends
    assert notifier.start("p:other") is None and notifier.take("r") is None


class StandbyMachine(AdmissionMachine):
    """Random workers with hand-overs, standbys and revocations between any two steps, and each
    process's wire: a request starts when its grant reaches its process (a hand-over, or its
    carrier's end for a standby it has heard of) and ends before its release reaches the store,
    which names the standby it started. Messages may come too late (``late``): the process then
    starts a standby the store has revoked, or none it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.running: set[str] = set()  # requests on the wire
        self.ended: dict[str, str | None] = {}  # requests over, release not yet in the store -> started
        self.known: dict[str, str] = {}  # carrier -> the standby its process will start on it

    def attempt(self, wid: str) -> None:
        super().attempt(wid)
        if f"p:{wid}" in self.s.permits:
            self.running.add(f"p:{wid}")

    @rule(late=st.booleans())
    def hand_over(self, late: bool) -> None:
        self.s.purge(self.now)
        self._forget_the_dead()
        line = live_line(self.s, self.now)
        clients = {cid: (c.expires, c.seen) for cid, c in self.s.clients.items()}
        levels = [core.level_at(b, self.now) for b in self.s.buckets]
        standbys = admitted_before(self.s)
        handed = hand_over(self.s, self.now, {})
        admitted = [h for h in handed if h.granted.permit not in standbys]
        assert [h.waiter for h in admitted] == line[: len(admitted)]  # in order
        for h in admitted:
            client, cost, priority = self.asks.pop(h.waiter)
            floor = 0.0 if priority == Lane.URGENT else 100.0
            assert levels[h.granted.token] >= cost + floor - 1e-6  # invariants 1 and 2, at the decision
            levels[h.granted.token] -= cost
            if h.on is not None:
                assert self.s.permits[h.on].client == client  # only on its own client's permit
        for h in handed:
            if h.revoked:
                assert self.s.standbys[h.granted.permit].on is None
                if not late and self.known.get(str(h.on)) == h.granted.permit:
                    del self.known[str(h.on)]
            elif h.on is None:
                if h.granted.permit not in self.ended:
                    self.running.add(h.granted.permit)  # a slot of its own: its process sends it now
            elif not late and h.on not in self.ended:
                self.known[h.on] = h.granted.permit
        assert {cid: (c.expires, c.seen) for cid, c in self.s.clients.items()} == clients

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data())
    def request_ends(self, data: st.DataObject) -> None:
        """A request's answer arrives: its process starts the standby it knows on it at once,
        before the release reaches the store."""
        pid = data.draw(st.sampled_from(sorted(self.running)))
        self.running.discard(pid)
        started = self.known.pop(pid, None)
        if started is not None and (started in self.s.standbys or started in self.s.permits):
            self.running.add(started)
        self.ended[pid] = started

    @precondition(lambda self: bool(self.ended))
    @rule(data=st.data())
    def release_ended(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(sorted(self.ended)))
        started = self.ended.pop(pid)
        p = self.s.permits.get(pid) or self.s.standbys.get(pid)
        if p is not None:
            self.s.release(p.client, pid, p.token, None, False, self.now, started=started)

    @precondition(lambda self: bool(self.s.permits))
    @rule(data=st.data(), available=st.floats(-50, 2000), actual=st.none() | st.floats(0, 400))
    def release(self, data: st.DataObject, available: float, actual: float | None) -> None:
        """A request's end and its release at once (the admission machine's release, with the
        standby its process started)."""
        pid = data.draw(st.sampled_from(sorted(self.s.permits)))
        p = self.s.permits[pid]
        report = data.draw(
            st.none() | st.just(core.CostReport(p.cost, actual, core.ThrottleStatus(2000, available, 100)))
        )
        throttled = report is not None and actual is None and data.draw(st.booleans())
        started = self.known.pop(pid, None) if pid in self.running else self.ended.get(pid)
        if started is not None and (started in self.s.standbys or started in self.s.permits):
            self.running.add(started)
        self.running.discard(pid)
        self.ended.pop(pid, None)
        self.s.release(p.client, pid, p.token, report, throttled, self.now, started=started)

    @rule(dt=st.floats(0, 3))
    def advance(self, dt: float) -> None:
        super().advance(dt)
        self._forget_the_dead()

    def _forget_the_dead(self) -> None:
        # a client whose lease ended: the premise is that its requests ended within the lease
        alive = set(self.s.permits) | set(self.s.standbys)
        self.running &= alive
        self.ended = {pid: sid for pid, sid in self.ended.items() if pid in alive}
        self.known = {on: sid for on, sid in self.known.items() if on in alive}

    @invariant()
    def one_request_per_slot(self) -> None:
        self._forget_the_dead()  # (any operation may have ended a lease)
        assert len(self.running) <= self.s.config.max_in_flight  # invariant 3, on the wire
        carriers = [s.on for s in self.s.standbys.values() if s.on is not None]
        assert len(carriers) == len(set(carriers))  # at most one standby per permit
        for sid, standby in self.s.standbys.items():
            assert self.s.clients[standby.client].expires > self.now  # invariant 4
            if standby.on is not None:
                carrier = self.s.permits.get(standby.on)
                assert carrier is not None and carrier.client == standby.client
            if sid in self.running:  # started early: on a carrier whose request ended, not released
                assert any(started == sid for started in self.ended.values())
        for pid in self.running:
            assert pid in self.s.permits or pid in self.s.standbys

    @invariant()
    def standbys_left_the_queue(self) -> None:
        for pid in [*self.s.permits, *self.s.standbys]:
            assert pid.removeprefix("p:") not in self.s.waiters


StandbyMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
test_standby_machine = StandbyMachine.TestCase
