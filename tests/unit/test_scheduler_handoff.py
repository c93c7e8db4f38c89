"""Hand-over (pure): a freed permit goes to the live head of the line in the same step, never past
a higher lane, never beyond the cap, and never as a sign of life for the head's client."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import invariant, rule

from bulk.models import Lane
from bulk.scheduler import core
from bulk.scheduler._admission import Granted, State, Wait
from bulk.scheduler._handoff import hand_over, held_by
from tests.unit.test_scheduler_admission import AdmissionMachine, make


def live_line(s: State, now: float) -> list[str]:
    """The waiters a hand-over may admit, in order (lane, then arrival), those of clients seen within
    the waiter TTL: the property machines' own reading of the rule, independent of the code's."""
    return [wid for _, _, wid in sorted(
        (w.priority, w.seq, wid) for wid, w in s.waiters.items()
        if now - s.clients[w.client].seen < s.config.waiter_ttl)]


def admitted_before(s: State) -> set[str]:
    """Permit ids of standbys admitted before a hand-over (riding on a permit, or promoted): the
    hand-overs that are not new admissions."""
    return set(s.standbys) | {granted.permit for _, granted in s.promoted}


def test_a_release_hands_the_permit_to_the_head_not_to_a_lower_lane() -> None:
    s = make(max_in_flight=1)
    held = s.acquire("a", "held", 10, Lane.NORMAL, 0.0)
    assert isinstance(held, Granted)
    assert isinstance(s.acquire("b", "bulk", 10, Lane.BULK, 0.0), Wait)
    assert isinstance(s.acquire("c", "urgent", 10, Lane.URGENT, 0.0), Wait)
    s.release("a", held.permit, held.token, None, False, 0.1)
    handed = hand_over(s, 0.1, {})
    assert [h.waiter for h in handed] == ["urgent"]
    assert held_by(s, "c", "urgent") == handed[0].granted
    assert s.clients["c"].seen == 0.0  # not renewed by someone else's release
    assert list(s.waiters) == ["bulk"] and len(s.permits) == 1


def test_a_pinned_head_is_handed_its_own_token_or_waits() -> None:
    s = make(token_count=2, max_in_flight=1)
    held = s.acquire("a", "held", 10, Lane.URGENT, 0.0)
    assert isinstance(held, Granted)
    s.release("a", held.permit, held.token, core.CostReport(10, 10, core.ThrottleStatus(2000, 0, 100)),
              False, 0.0)  # token `held.token` is now empty
    assert isinstance(s.acquire("b", "pinned", 20, Lane.URGENT, 0.0, token=held.token), Wait)
    assert hand_over(s, 0.0, {"pinned": held.token}) == []  # the other token could pay: not pinned's
    (h,) = hand_over(s, 0.2, {"pinned": held.token})  # 100 points/s: 20 points in 0.2 s
    assert h.waiter == "pinned" and h.granted.token == held.token


class HandOverMachine(AdmissionMachine):
    """The admission machine's random workers, with hand-overs between any two steps."""

    @rule()
    def hand_over(self) -> None:
        self.s.purge(self.now)
        line = live_line(self.s, self.now)
        clients = {cid: (c.expires, c.seen) for cid, c in self.s.clients.items()}
        levels = [core.level_at(b, self.now) for b in self.s.buckets]
        promoted = admitted_before(self.s)
        handed = [h for h in hand_over(self.s, self.now, {}) if h.granted.permit not in promoted]
        assert [h.waiter for h in handed] == line[: len(handed)]  # in order
        for h in handed:
            wid, granted = h.waiter, h.granted
            client, cost, priority = self.asks.pop(wid)
            if h.on is None:
                assert held_by(self.s, client, wid) == granted
            else:
                assert self.s.standbys[granted.permit].on == h.on
            floor = 0.0 if priority == Lane.URGENT else 100.0
            assert levels[granted.token] >= cost + floor - 1e-6  # invariants 1 and 2
            levels[granted.token] -= cost
        assert {cid: (c.expires, c.seen) for cid, c in self.s.clients.items()} == clients

    @invariant()
    def handed_heads_left_the_queue(self) -> None:
        for pid in [*self.s.permits, *self.s.standbys]:
            assert pid.removeprefix("p:") not in self.s.waiters


HandOverMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_hand_over_machine = HandOverMachine.TestCase
