"""The bucket model and token choice: pure functions of (bucket, cost, floor, now).

Why a model at all: Shopify only tells us a bucket's level *after* a request, and that figure does not
know about the requests we still have in flight. So each token gets an estimated level that we debit
with the *requested* cost when we admit a request (invariant 1: never admit what the model cannot
pay), credit back ``requested - actual`` when the response arrives, and re-sync to the server's
``throttleStatus`` minus what is still outstanding. Estimates err low on purpose: an over-estimate
costs a THROTTLED round trip, an under-estimate only a few milliseconds.

Time is model time: the caller passes ``now`` (seconds). The Lua script in ``lua/scheduler.lua``
implements the same arithmetic; the shared backend tests hold the two together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

# Shopify Standard plan (Admin GraphQL, per app per shop): the figures we assume until a response
# teaches us the real ones. Starting at half the bucket is the conservative part: the shop may
# already have been drained by someone else.
STANDARD_CAPACITY = 2000.0
STANDARD_RESTORE_RATE = 100.0
INITIAL_LEVEL = STANDARD_CAPACITY / 2


@dataclass(frozen=True, slots=True)
class Bucket:
    """Our estimate of one token's leaky bucket at time ``at``.

    ``level`` excludes points debited for requests still in flight (``outstanding``), so it may be
    negative right after a re-sync.
    """

    capacity: float = STANDARD_CAPACITY
    restore_rate: float = STANDARD_RESTORE_RATE
    level: float = INITIAL_LEVEL
    at: float = 0.0
    outstanding: float = 0.0
    learned: bool = False


def level_at(bucket: Bucket, now: float) -> float:
    """Estimated spendable points at ``now``.

    Capped at ``capacity - outstanding``: the server's bucket still holds our in-flight requests'
    points until it charges them, so the model must never refill into that room.
    """
    elapsed = max(0.0, now - bucket.at)
    return min(bucket.capacity - bucket.outstanding, bucket.level + bucket.restore_rate * elapsed)


def advance(bucket: Bucket, now: float) -> Bucket:
    """The same bucket with its restore applied up to ``now``."""
    if now <= bucket.at:
        return bucket
    return replace(bucket, level=level_at(bucket, now), at=now)


def wait_for(bucket: Bucket, cost: float, floor: float, now: float) -> float:
    """Seconds until the bucket can pay ``cost`` and stay at or above ``floor``; ``inf`` if the
    ceiling (capacity minus outstanding) can never allow it without a release first."""
    need = cost + floor
    if need > bucket.capacity - bucket.outstanding:
        return math.inf
    have = level_at(bucket, now)
    if have >= need:
        return 0.0
    if bucket.restore_rate <= 0:
        return math.inf
    return (need - have) / bucket.restore_rate


def choose_token(
    buckets: Sequence[Bucket],
    cost: float,
    floor: float | Sequence[float],
    now: float,
    *,
    only: int | None = None,
) -> tuple[int, float]:
    """The token that can pay soonest; ties go to the one with the most headroom left after paying
    (compared to the milli-point, so that Lua and Python break ties alike), then the lowest index.

    ``floor`` is one figure for every bucket or one per bucket; ``only`` restricts the choice to one
    token (a bulk operation's calls use its app's token). Returns ``(index, wait_seconds)``:
    ``wait_seconds`` is 0 when it can pay now, ``inf`` when no token can ever pay without a release.
    A refused token (:func:`refused`) has no capacity, so it is only chosen with ``wait = inf``.
    """
    floors = [floor] * len(buckets) if isinstance(floor, int | float) else list(floor)
    keys = [
        (wait_for(bucket, cost, floors[index], now), -round(level_at(bucket, now), 3), index)
        for index, bucket in enumerate(buckets)
        if only is None or index == only
    ]
    wait, _, index = min(keys)
    return index, wait


def debit(bucket: Bucket, cost: float, now: float) -> Bucket:
    """Admit a request: its requested cost leaves the level and joins ``outstanding``."""
    b = advance(bucket, now)
    return replace(b, level=b.level - cost, outstanding=b.outstanding + cost)


def finish(bucket: Bucket, requested: float, refund: float, now: float) -> Bucket:
    """A request is no longer in flight; ``refund`` points (``requested - actual``) come back."""
    b = advance(bucket, now)
    out = max(0.0, b.outstanding - requested)
    return replace(b, level=min(b.capacity - out, b.level + refund), outstanding=out)


def sync(bucket: Bucket, status: ThrottleStatus, now: float) -> Bucket:
    """Re-sync to the server's figures, which do not yet count what is still outstanding."""
    b = advance(bucket, now)
    return replace(
        b,
        capacity=status.maximum,
        restore_rate=status.restore_rate,
        level=min(status.maximum - b.outstanding, status.available - b.outstanding),
        learned=True,
    )


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """``extensions.cost.throttleStatus``: the server's bucket right after the request."""

    maximum: float
    available: float
    restore_rate: float


@dataclass(frozen=True, slots=True)
class CostReport:
    """What a response taught us: ``actual`` points charged (None = unknown) and the bucket."""

    requested: float | None
    actual: float | None
    status: ThrottleStatus | None


def parse_cost(cost: Mapping[str, Any] | None) -> CostReport | None:
    """Read Shopify's ``extensions.cost`` object: the one parser of it in the project.

    ``None`` (or not an object) gives ``None``. Tolerant on purpose, a missing or malformed figure
    must never fail a request the shop applied: a figure that is not a finite number (a bool, a
    string, NaN, infinity) reads as unknown, and a ``throttleStatus`` with any such figure as absent.
    """
    if not isinstance(cost, Mapping):
        return None
    status: ThrottleStatus | None = None
    raw = cost.get("throttleStatus")
    if isinstance(raw, Mapping):
        maximum = _num(raw.get("maximumAvailable"))
        available = _num(raw.get("currentlyAvailable"))
        rate = _num(raw.get("restoreRate"))
        if maximum is not None and available is not None and rate is not None:
            status = ThrottleStatus(maximum=maximum, available=available, restore_rate=rate)
    return CostReport(
        requested=_num(cost.get("requestedQueryCost")),
        actual=_num(cost.get("actualQueryCost")),
        status=status,
    )


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def seconds_until_affordable(report: CostReport) -> float:
    """How long the shop's bucket needs to restore ``requested`` points, by the answer's own figures:
    ``(requestedQueryCost - currentlyAvailable) / restoreRate`` (0 if it can pay now or cannot say)."""
    status = report.status
    if report.requested is None or status is None or status.restore_rate <= 0:
        return 0.0
    return max(0.0, (report.requested - status.available) / status.restore_rate)


# A token the shop refused (401/403) is taken out for the run by re-syncing its bucket to nothing:
# no capacity and no restore, so ``wait_for`` is infinite and ``choose_token`` never picks it while
# another token can pay. Through the ordinary release path (a report whose status is this), so the
# in-process and Redis backends (and the Lua script) need no new operation, and every worker sharing
# the Redis state learns it at once.
REFUSED = ThrottleStatus(maximum=0.0, available=0.0, restore_rate=0.0)


def refused_report() -> CostReport:
    """What a grant reports when the shop refused its token: the bucket becomes :data:`REFUSED`."""
    return CostReport(requested=None, actual=None, status=REFUSED)


def refused(bucket: Bucket) -> bool:
    """True when the token was taken out for the run (its bucket was synced to :data:`REFUSED`)."""
    return bucket.learned and bucket.capacity <= 0 and bucket.restore_rate <= 0
