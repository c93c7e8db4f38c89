"""Waiting for a bulk operation (mutation or query export) to finish: one polling rule for every caller.

Polls start fast (a small shard finishes in seconds) and back off by half each time up to a ceiling,
so a long operation costs few calls (each poll is paid from the owning token's bucket).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bulk.clock import Clock

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "CANCELLED", "EXPIRED"})


class HasStatus(Protocol):
    """Anything with a bulk operation's ``status`` field."""

    @property
    def status(self) -> str: ...


S = TypeVar("S", bound=HasStatus)


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
