"""Waiting for a bulk operation (mutation or query export) to finish: one polling rule for every caller.

Without knowing how big the operation is, polls start fast (a small shard finishes in seconds) and
back off by half each time up to a ceiling, so a long operation costs few calls (each poll is paid
from the owning token's bucket).

When the caller knows how many objects the operation will process (a bulk mutation: one per line),
the polls also *estimate when it ends* from its ``objectCount`` progress: the next poll is timed for
that moment (never later than the ceiling, so a failure is still seen soon), then repeated every
``fine_s`` until it is over. The slot the operation holds is then handed to the next one within a
fraction of a second instead of up to a whole ceiling late, for a handful of extra one-point polls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bulk.clock import Clock

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "CANCELLED", "EXPIRED"})
RECENT = 4  # poll intervals the estimated end goes by, once an operation has had that many


class HasStatus(Protocol):
    """Anything with a bulk operation's ``status`` field."""

    @property
    def status(self) -> str: ...


class HasProgress(HasStatus, Protocol):
    """A polled bulk operation that also says how many objects it has processed."""

    @property
    def object_count(self) -> int: ...


S = TypeVar("S", bound=HasStatus)
P = TypeVar("P", bound=HasProgress)


def _no_prior() -> float | None:
    return None


@dataclass
class Progress:
    """``(time, objectCount)`` samples of one running operation, and what they say about its end."""

    total: int  # objects the operation will have processed when done
    # objects per second to assume until two samples differ (e.g. what other operations measured)
    prior: Callable[[], float | None] = _no_prior
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, now: float, count: int) -> None:
        """Record one poll of a RUNNING operation."""
        self.samples.append((now, count))

    def measured_rate(self) -> float | None:
        """Objects per second between the first and the last sample, once they differ."""
        if len(self.samples) >= 2:
            (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
            if c1 > c0 and t1 > t0:
                return (c1 - c0) / (t1 - t0)
        return None

    def rate(self) -> float | None:
        """The measured rate, else the prior."""
        measured = self.measured_rate()
        return self.prior() if measured is None else measured

    def running_since(self) -> float | None:
        """When the operation began processing objects, extrapolated back from its first sample."""
        rate = self.rate()
        if not self.samples or rate is None or rate <= 0:
            return None
        t, count = self.samples[0]
        return t - count / rate

    def recent_rate(self) -> float | None:
        """Objects per second over the last :data:`RECENT` samples: the shop's pace can drift during
        a long operation (load on its side), and the end is near the recent pace, not the average."""
        if len(self.samples) > RECENT:
            (t0, c0), (t1, c1) = self.samples[-RECENT - 1], self.samples[-1]
            if c1 > c0 and t1 > t0:
                return (c1 - c0) / (t1 - t0)
        return self.rate()

    def eta(self) -> float | None:
        """When the operation should end (same clock as the samples), if it can be told yet."""
        rate = self.recent_rate()
        if not self.samples or rate is None or rate <= 0:
            return None
        t, count = self.samples[-1]
        return t + max(0, self.total - count) / rate


def next_delay(now: float, eta: float | None, backoff: float, *, fine_s: float, max_s: float) -> float:
    """Seconds until the next poll: the backoff while the end cannot be told, else until the estimated
    end — at least ``fine_s`` (an operation past its estimate is polled every ``fine_s``), at most
    ``max_s``."""
    if eta is None:
        return min(backoff, max_s)
    return min(max_s, max(fine_s, eta - now))


async def poll_until_finished(
    poll: Callable[[], Awaitable[S]], clock: Clock, *, initial_s: float, max_s: float
) -> S:
    """Call ``poll`` until the operation is in a terminal status; return that last status."""
    delay = initial_s
    while True:
        status = await poll()
        if status.status in TERMINAL:
            return status
        await clock.sleep(delay)
        delay = min(max_s, delay * 1.5)


async def poll_with_estimate(
    poll: Callable[[], Awaitable[P]],
    clock: Clock,
    progress: Progress,
    *,
    initial_s: float,
    max_s: float,
    fine_s: float,
    on_estimate: Callable[[float], None] | None = None,
) -> P:
    """Like :func:`poll_until_finished`, timing polls by the end estimated from ``progress`` (which
    records every RUNNING sample); ``on_estimate(eta)`` hears each new estimate."""
    backoff = initial_s
    while True:
        status = await poll()
        if status.status in TERMINAL:
            return status
        now = clock.now()
        eta = None
        if status.status == "RUNNING":
            progress.add(now, status.object_count)
            eta = progress.eta()
            if eta is not None and on_estimate is not None:
                on_estimate(eta)
        await clock.sleep(next_delay(now, eta, backoff, fine_s=fine_s, max_s=max_s))
        backoff = min(max_s, backoff * 1.5)
