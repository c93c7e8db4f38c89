"""Where an urgent change's time goes: one :class:`ChangeTiming` per change, and their summary.

Why per change and per phase: "urgent p99 is 230 ms while the shop answers in 76" says nothing about
what to fix. The phases split a change's life on the lane's clock: its lookups, the micro-batch
window (or a busy pair), the event loop starting its batch, the scheduler's grant (in-flight cap,
bucket), the request on the wire as the client saw it, and the rest (client CPU, retries' back-off).

The send's two inner phases are measured below the lane (the scheduler and the transport the urgent
client uses) and reach the batch through a :class:`~contextvars.ContextVar`: the lane sets a fresh
:class:`SendTimes` around each send, the tasks that send starts inherit it, and the measuring
wrappers add to it. No clock here: callers pass durations.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, fields

PHASES = ("lookup", "queued", "start", "permit", "http", "other", "total")


@dataclass(slots=True)
class SendTimes:
    """What one batch's sends spent, in seconds: waiting for grants, and on the wire."""

    permit_s: float = 0.0
    http_s: float = 0.0
    requests: int = 0


_current: ContextVar[SendTimes | None] = ContextVar("bulk_urgent_send_times", default=None)


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


def add_http(seconds: float) -> None:
    """A request took ``seconds`` on the wire (no-op outside :func:`recording`)."""
    times = _current.get()
    if times is not None:
        times.http_s += seconds
        times.requests += 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeTiming:
    """One change's way through the lane, in seconds of the lane's clock (``total_s`` is the sum)."""

    lookup_s: float  # asked → handed to the lane: SKU / location lookups (0 for known ones)
    queued_s: float  # handed → its batch started: the window, or an earlier change to its pair
    start_s: float  # batch created → its task running: the event loop's delay
    permit_s: float  # waiting for the scheduler's grants (in-flight cap, bucket, reserve)
    http_s: float  # its batch's requests on the wire, as the client measured them
    other_s: float  # the rest of the sends: client CPU, retry back-off, the deadline's bookkeeping
    total_s: float  # asked → answered
    pair_wait: bool  # it waited for a batch holding an earlier change to the same (item, location)
    requests: int  # requests its batch made (resends after an atomic refusal, retries)


def summarize(timings: Sequence[ChangeTiming]) -> dict[str, dict[str, float]]:
    """``{phase: {"p50_ms", "p99_ms", "max_ms"}}`` over ``timings`` (nearest rank; empty: ``{}``)."""
    if not timings:
        return {}
    out: dict[str, dict[str, float]] = {}
    for field in fields(ChangeTiming):
        if not field.name.endswith("_s"):
            continue
        values = sorted(getattr(t, field.name) * 1000 for t in timings)
        out[field.name[:-2]] = {"p50_ms": round(_rank(values, 50), 1), "p99_ms": round(_rank(values, 99), 1),
                                "max_ms": round(values[-1], 1)}
    return out


def _rank(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank ``q``-th percentile of sorted values."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def as_json(timing: ChangeTiming) -> Mapping[str, float | bool | int]:
    """A plain dict (ms) for benchmarks and logs."""
    return {f.name.removesuffix("_s") + ("_ms" if f.name.endswith("_s") else ""):
            round(getattr(timing, f.name) * 1000, 2) if f.name.endswith("_s") else getattr(timing, f.name)
            for f in fields(ChangeTiming)}
