"""A client's own view of its lease: what a handed grant may count on, and when to distrust it."""

from __future__ import annotations

import pytest

from bulk.scheduler._client_lease import ClientLease


def test_a_handed_grant_lives_a_lease_past_the_start_of_the_last_answered_call() -> None:
    lease = ClientLease(0.5)
    lease.answered(started=10.0, now=10.2)
    lease.answered(started=10.1, now=10.15)  # answered out of order: the later start counts
    lease.answered(started=9.0, now=10.3)  # an older call answered late moves nothing back
    assert lease.deadline() == pytest.approx(10.6)


def test_an_answer_more_than_a_lease_after_the_last_renewal_may_follow_a_lapse() -> None:
    lease = ClientLease(0.5)
    lease.answered(started=0.0, now=0.01)  # the first answer: nothing held before it to lose
    assert not lease.lapsed_since(-1.0)
    lease.answered(started=0.4, now=0.49)  # within a lease of the last renewal's start
    assert not lease.lapsed_since(0.0)
    lease.answered(started=0.5, now=1.2)  # paused: 0.8 s after the last renewal began
    assert lease.lapsed_since(1.0) and lease.lapsed_since(1.2)  # what was handed before may be gone
    assert not lease.lapsed_since(1.3)  # a waiter that first asked after it is not affected
