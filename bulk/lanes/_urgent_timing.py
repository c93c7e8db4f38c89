"""Where an urgent change's time goes: one :class:`ChangeTiming` per change, and their summary.

Why per change and per phase: "urgent p99 is 230 ms while the shop answers in 76" says nothing about
what to fix. The phases split a change's life on the lane's clock: its lookups, the micro-batch
window (or a busy pair), the event loop starting its batch, the scheduler's grant (in-flight cap,
bucket), the request on the wire as the client saw it, and the rest (client CPU, retries' back-off).

The send's two inner phases are measured below the lane (the scheduler and the transport the urgent
client uses) and reach the batch through a :class:`~contextvars.ContextVar`
(:mod:`bulk.shopify.timing`, re-exported here): the lane sets a fresh :class:`SendTimes` around each
send, the tasks that send starts inherit it, and the measuring wrappers add to it. The lookups get
the same split (``lookup_permit``, ``lookup_http``): the resolver records each lookup request the
same way and hands a change the slowest of those it waited for. No clock here: callers pass
durations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from bulk.shopify.timing import SendTimes, add_http, add_permit, recording

__all__ = ["PHASES", "ChangeTiming", "SendTimes", "add_http", "add_permit", "as_json", "recording",
           "summarize"]

PHASES = ("lookup", "lookup_permit", "lookup_http", "queued", "start", "permit", "http", "other", "total")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeTiming:
    """One change's way through the lane, in seconds of the lane's clock (``total_s`` is the sum of
    lookup, queued, start, permit, http and other; ``lookup_permit_s`` and ``lookup_http_s`` are
    parts of ``lookup_s``)."""

    lookup_s: float  # asked → handed to the lane: SKU / location lookups (0 for known ones)
    lookup_permit_s: float  # of which the slowest lookup it waited for waited for its grants
    lookup_http_s: float  # of which that lookup's requests were on the wire (the rest: batching, joins, loop)
    queued_s: float  # handed → its batch started: the window, or an earlier change to its pair
    start_s: float  # batch created → its task running: the event loop's delay
    permit_s: float  # waiting for the scheduler's grants (in-flight cap, bucket, reserve)
    http_s: float  # its batch's requests on the wire, as the client measured them
    other_s: float  # the rest of the sends: client CPU, retry back-off, the deadline's bookkeeping
    total_s: float  # asked → answered
    pair_wait: bool  # it waited for a batch holding an earlier change to the same (item, location)
    requests: int  # requests its batch made (resends after an atomic refusal, retries)
    # the shop's ids (X-Request-Id) of the requests it waited for and the shop answered: its slowest
    # lookup's, then its batch's — what the shop itself says it took for them (bench blackfriday)
    request_ids: tuple[str, ...] = ()


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


def as_json(timing: ChangeTiming) -> Mapping[str, float | bool | int | tuple[str, ...]]:
    """A plain dict (ms) for benchmarks and logs."""
    return {f.name.removesuffix("_s") + ("_ms" if f.name.endswith("_s") else ""):
            round(getattr(timing, f.name) * 1000, 2) if f.name.endswith("_s") else getattr(timing, f.name)
            for f in fields(ChangeTiming)}
