"""Polling a bulk operation to its end (``bulk.shopify.bulk_operations``), on a manual clock."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import pytest

from bulk.clock import ManualClock
from bulk.shopify.bulk_operations import Progress, next_delay, poll_until_finished, poll_with_estimate


@dataclass(frozen=True)
class Polled:
    status: str
    object_count: int = 0


class FakeOperation:
    """CREATED for 1 s, then ``rate`` objects per second until ``total``: what the shop would answer."""

    def __init__(self, clock: ManualClock, *, total: int, rate: float) -> None:
        self.clock, self.total, self.rate = clock, total, rate
        self.polls: list[float] = []

    async def poll(self) -> Polled:
        now = self.clock.now()
        self.polls.append(now)
        if now < 1.0:
            return Polled("CREATED")
        done = min(self.total, int((now - 1.0) * self.rate))
        return Polled("COMPLETED" if done >= self.total else "RUNNING", done)


async def run_on(clock: ManualClock, task: asyncio.Task[Polled], step: float = 0.01) -> Polled:
    """Advance the clock in small steps whenever the poller sleeps, until it is done."""
    await clock.advance_until(task.done, step=step)
    return task.result()


def test_the_estimate_comes_from_two_samples_else_from_the_prior() -> None:
    progress = Progress(total=1000, prior=lambda: 50.0)
    assert progress.eta() is None
    progress.add(10.0, 100)
    assert progress.eta() == pytest.approx(10.0 + 900 / 50)
    progress.add(12.0, 300)  # measured: 100 per second
    assert progress.measured_rate() == pytest.approx(100.0)
    assert progress.eta() == pytest.approx(12.0 + 700 / 100)
    assert progress.running_since() == pytest.approx(9.0)  # 100 objects at 100/s before t=10


def test_the_end_is_estimated_at_the_recent_pace_when_the_shop_slows_down() -> None:
    progress = Progress(total=2000)
    for t in range(10):  # 100 per second for 10 s ...
        progress.add(float(t), 100 * t)
    for t in range(10, 15):  # ... then 50 per second
        progress.add(float(t), 900 + 50 * (t - 9))
    assert progress.measured_rate() == pytest.approx(1150 / 14)  # the average since the first poll
    assert progress.recent_rate() == pytest.approx(50.0)
    assert progress.eta() == pytest.approx(14.0 + (2000 - 1150) / 50)


def test_the_next_poll_is_timed_for_the_end_within_the_ceiling() -> None:
    assert next_delay(0.0, None, 0.7, fine_s=0.1, max_s=5.0) == 0.7  # no estimate: the backoff
    assert next_delay(0.0, 3.0, 0.7, fine_s=0.1, max_s=5.0) == 3.0  # sleep until the end
    assert next_delay(0.0, 60.0, 0.7, fine_s=0.1, max_s=5.0) == 5.0  # never longer than the ceiling
    assert next_delay(9.0, 8.5, 0.7, fine_s=0.1, max_s=5.0) == 0.1  # past the estimate: poll often


async def test_an_operation_is_seen_ending_within_a_fine_poll_and_with_few_polls() -> None:
    clock = ManualClock()
    op = FakeOperation(clock, total=1000, rate=50.0)  # ends at t = 1 + 20 = 21
    task = asyncio.ensure_future(poll_with_estimate(op.poll, clock, Progress(total=1000), initial_s=0.5,
                                                    max_s=5.0, fine_s=0.1))
    final = await run_on(clock, task)
    assert final.status == "COMPLETED"
    assert 21.0 <= op.polls[-1] <= 21.0 + 0.1 + 0.02
    assert len(op.polls) <= 12
    assert max(b - a for a, b in itertools.pairwise(op.polls)) <= 5.0 + 0.02


async def test_the_plain_backoff_is_kept_for_callers_without_a_size() -> None:
    clock = ManualClock()
    op = FakeOperation(clock, total=100, rate=50.0)  # ends at t = 3
    task = asyncio.ensure_future(poll_until_finished(op.poll, clock, initial_s=0.5, max_s=1.0))
    assert (await run_on(clock, task)).status == "COMPLETED"
    gaps = [b - a for a, b in itertools.pairwise(op.polls)]
    assert gaps[:3] == pytest.approx([0.5, 0.75, 1.0], abs=0.02) and op.polls[-1] >= 3.0
