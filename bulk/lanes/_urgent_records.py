"""What the urgent lane keeps while its changes travel, and how it keeps a deadline.

Per change: its times (:class:`Track`: asked, handed to the lane, what its lookups spent, whether it
waited for its pair) and the item it rides in (:class:`Entry`: one change, or several merged); per
batch: when it was created and started and what its sends spent (:data:`BatchTimes`). Together they
make the change's :class:`~bulk.lanes._urgent_timing.ChangeTiming` (:func:`change_timing`).
:func:`before` waits for a send on the lane's clock, so deadlines never need real time in tests.
:mod:`bulk.lanes.urgent` carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bulk.clock import Clock
from bulk.lanes._urgent_rules import InventoryResult
from bulk.lanes._urgent_timing import ChangeTiming, SendTimes
from bulk.shopify.inventory import QuantityChange

T = TypeVar("T")

Member = tuple[QuantityChange, "asyncio.Future[InventoryResult]"]
BatchTimes = tuple[float, float, float, SendTimes]  # batch created, started, seconds sending, its sends


@dataclass(slots=True)
class Track:
    """One pending change's times on the lane's clock (its deadline counts from ``since``)."""

    since: float  # asked (before its lookups)
    entered: float  # handed to the lane
    lookups: SendTimes = field(default_factory=SendTimes)  # the slowest lookup it waited for
    pair_wait: bool = False


@dataclass(slots=True, eq=False)
class Entry:
    """One item of a batch: a change, or several changes to one pair merged (``members``, in order)."""

    change: QuantityChange
    members: list[Member]
    mergeable: bool = True  # False once a merged send failed: its members then go one by one


@dataclass(frozen=True, slots=True, kw_only=True)
class UrgentStatistics:
    """A snapshot of the urgent lane's counters."""

    submitted: int
    batches: int
    largest_batch: int
    results: Mapping[str, int]  # results by status ("applied", "stale", "rejected")
    pending: int  # waiting for the micro-batch window
    in_flight_batches: int
    merged: int = 0  # changes that travelled merged into an earlier one to the same pair
    phases: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Where the latest answered changes' time went: ``{phase: {"p50_ms", "p99_ms", "max_ms"}}``
    for :data:`~bulk.lanes._urgent_timing.PHASES` (see :class:`ChangeTiming`)."""


def members(batch: Sequence[Entry]) -> list[Member]:
    """Every change of ``batch`` with its future (merged entries' changes in order)."""
    return [member for entry in batch for member in entry.members]


def change_timing(track: Track, batch: BatchTimes, now: float) -> ChangeTiming:
    """Where the change of ``track`` spent its time, answered at ``now`` in ``batch``."""
    created, started, sending, times = batch
    return ChangeTiming(
        lookup_s=track.entered - track.since, lookup_permit_s=track.lookups.permit_s,
        lookup_http_s=track.lookups.http_s, queued_s=created - track.entered, start_s=started - created,
        permit_s=times.permit_s, http_s=times.http_s,
        other_s=max(0.0, sending - times.permit_s - times.http_s), total_s=now - track.since,
        pair_wait=track.pair_wait, requests=times.requests,
        request_ids=(*track.lookups.request_ids, *times.request_ids))


async def before(clock: Clock, due: float, send: Awaitable[T]) -> T:
    """``send``'s answer, or :class:`TimeoutError` (the send cancelled) once ``clock`` reaches
    ``due``."""
    sending = asyncio.ensure_future(send)
    timer = asyncio.ensure_future(clock.sleep(max(0.0, due - clock.now())))
    try:
        await asyncio.wait({sending, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(BaseException):
                await sending
    if sending.cancelled():
        raise TimeoutError
    return sending.result()
