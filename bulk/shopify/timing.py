"""What the requests made under one context spent: waiting for the scheduler's grants, and on the wire.

Why here, below the lanes: the urgent lane measures its batches' sends *and* the SKU / location
lookups (:mod:`bulk.shopify.resolve`) that come before them, with one record type. The measuring
wrappers (the urgent client's scheduler and transport, :mod:`bulk.session._inventory`) add to the
record current in the context that sends; a task started inside :func:`recording` inherits it
(:class:`~contextvars.ContextVar`). No clock here: callers pass durations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["SendTimes", "add_http", "add_permit", "recording"]


@dataclass(slots=True)
class SendTimes:
    """What some requests spent, in seconds: waiting for grants, and on the wire; and the shop's ids
    of those it answered (``X-Request-Id``: what support, or the simulator's log, knows them by)."""

    permit_s: float = 0.0
    http_s: float = 0.0
    requests: int = 0
    request_ids: list[str] = field(default_factory=list)

    def add(self, other: SendTimes) -> None:
        """Count ``other``'s grants, wire time and requests here too."""
        self.permit_s += other.permit_s
        self.http_s += other.http_s
        self.requests += other.requests
        self.request_ids += other.request_ids


_current: ContextVar[SendTimes | None] = ContextVar("bulk_send_times", default=None)


@contextlib.contextmanager
def recording(times: SendTimes) -> Iterator[SendTimes]:
    """Make ``times`` the record that :func:`add_permit` and :func:`add_http` add to, here and in
    every task started inside the block."""
    token = _current.set(times)
    try:
        yield times
    finally:
        _current.reset(token)


def add_permit(seconds: float) -> None:
    """A grant took ``seconds`` to come (no-op outside :func:`recording`)."""
    times = _current.get()
    if times is not None:
        times.permit_s += seconds


def add_http(seconds: float, request_id: str | None = None) -> None:
    """A request took ``seconds`` on the wire; the shop named it ``request_id`` if it answered (no-op
    outside :func:`recording`)."""
    times = _current.get()
    if times is not None:
        times.http_s += seconds
        times.requests += 1
        if request_id is not None:
            times.request_ids.append(request_id)
