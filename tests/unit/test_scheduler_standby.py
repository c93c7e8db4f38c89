"""Standby grants (pure): the head of the line admitted ahead of time onto a busy permit of its own
client — paid, fenced and ordered at that moment — and started by that client when the permit's
request ends. Unit cases, and the stateful machine of test_scheduler_admission with hand-overs and
a model of what each process really has on the wire."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from bulk.models import Lane
from bulk.scheduler import core
from bulk.scheduler._admission import STANDBY, Granted, Wait
from bulk.scheduler._handoff import Handed, hand_over
from tests.unit.test_scheduler_admission import AdmissionMachine, make


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
    s.release("a", held.permit, held.token, None, False, 0.2)
    assert list(s.permits) == ["p:next"] and not s.standbys  # it took the slot: never free between
    assert hand_over(s, 0.2, {}) == [Handed("next", h.granted)]  # told, in case the message was lost


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


class StandbyMachine(AdmissionMachine):
    """Random workers with hand-overs and standbys between any two steps, and each process's wire:
    a request starts when its grant reaches its process (a hand-over, or its carrier's end for a
    standby) and ends before its release reaches the store."""

    def __init__(self) -> None:
        super().__init__()
        self.running: set[str] = set()  # requests on the wire
        self.ended: set[str] = set()  # requests over, release not yet in the store

    def attempt(self, wid: str) -> None:
        super().attempt(wid)
        if f"p:{wid}" in self.s.permits:
            self.running.add(f"p:{wid}")

    @rule()
    def hand_over(self) -> None:
        self.s.purge(self.now)
        self._forget_the_dead()
        line = sorted(
            (w.priority, w.seq, wid)
            for wid, w in self.s.waiters.items()
            if self.now - self.s.clients[w.client].seen < self.s.config.waiter_ttl
        )
        clients = {cid: (c.expires, c.seen) for cid, c in self.s.clients.items()}
        levels = [core.level_at(b, self.now) for b in self.s.buckets]
        standbys = set(self.s.standbys) | {granted.permit for _, granted in self.s.promoted}
        handed = hand_over(self.s, self.now, {})
        admitted = [h for h in handed if h.granted.permit not in standbys]
        assert [h.waiter for h in admitted] == [wid for _, _, wid in line[: len(admitted)]]  # in order
        for h in admitted:
            client, cost, priority = self.asks.pop(h.waiter)
            floor = 0.0 if priority == Lane.URGENT else 100.0
            assert levels[h.granted.token] >= cost + floor - 1e-6  # invariants 1 and 2, at the decision
            levels[h.granted.token] -= cost
            if h.on is not None:
                assert self.s.permits[h.on].client == client  # only on its own client's permit
        for h in handed:
            if h.on is None and h.granted.permit not in self.ended:
                self.running.add(h.granted.permit)  # a slot of its own: its process sends it now
        assert {cid: (c.expires, c.seen) for cid, c in self.s.clients.items()} == clients

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data())
    def request_ends(self, data: st.DataObject) -> None:
        """A request's answer arrives: its process starts the standby riding on it at once, before
        the release reaches the store."""
        pid = data.draw(st.sampled_from(sorted(self.running)))
        self.running.discard(pid)
        self.ended.add(pid)
        for sid, standby in self.s.standbys.items():
            if standby.on == pid:
                self.running.add(sid)

    @precondition(lambda self: bool(self.ended))
    @rule(data=st.data())
    def release_ended(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(sorted(self.ended)))
        self.ended.discard(pid)
        p = self.s.permits.get(pid) or self.s.standbys.get(pid)
        if p is not None:
            self.s.release(p.client, pid, p.token, None, False, self.now)

    @precondition(lambda self: bool(self.s.permits))
    @rule(data=st.data(), available=st.floats(-50, 2000), actual=st.none() | st.floats(0, 400))
    def release(self, data: st.DataObject, available: float, actual: float | None) -> None:
        """The admission machine's release: a request's end and its release at once."""
        before = set(self.s.permits)
        super().release(data, available, actual)
        for pid in before - set(self.s.permits):
            self.running.discard(pid)
            self.ended.discard(pid)
        self.running.update(sid for sid in self.s.permits if sid not in before)  # a promoted standby

    @rule(dt=st.floats(0, 3))
    def advance(self, dt: float) -> None:
        super().advance(dt)
        self._forget_the_dead()

    def _forget_the_dead(self) -> None:
        # a client whose lease ended: the premise is that its requests ended within the lease
        alive = set(self.s.permits) | set(self.s.standbys)
        self.running &= alive
        self.ended &= alive

    @invariant()
    def one_request_per_slot(self) -> None:
        self._forget_the_dead()  # (any operation may have ended a lease)
        assert len(self.running) <= self.s.config.max_in_flight  # invariant 3, on the wire
        carriers = [s.on for s in self.s.standbys.values()]
        assert len(carriers) == len(set(carriers))  # at most one standby per permit
        for sid, standby in self.s.standbys.items():
            carrier = self.s.permits.get(standby.on)
            assert carrier is not None and carrier.client == standby.client
            assert self.s.clients[standby.client].expires > self.now  # invariant 4
            if sid in self.running:  # started early: only once its carrier's request ended
                assert standby.on not in self.running
        for pid in self.running:
            assert pid in self.s.permits or pid in self.s.standbys

    @invariant()
    def standbys_left_the_queue(self) -> None:
        for pid in [*self.s.permits, *self.s.standbys]:
            assert pid.removeprefix("p:") not in self.s.waiters


StandbyMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
test_standby_machine = StandbyMachine.TestCase
