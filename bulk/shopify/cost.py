"""Read ``extensions.cost`` — what a request was charged and what the token's bucket holds now.

Why parse it at all: the scheduler models each token's bucket and must re-sync to the shop's own
``throttleStatus`` after every answer (a bucket shared with other apps, a restore-rate change on a plan
upgrade), and a THROTTLED answer's cost says how long until the request could be paid. Pure: no I/O.

Shopify sends::

    "extensions": {"cost": {"requestedQueryCost": 12, "actualQueryCost": 10,
                            "throttleStatus": {"maximumAvailable": 2000.0,
                                               "currentlyAvailable": 1990, "restoreRate": 100.0}}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleStatus:
    """A token's bucket as the shop saw it when it answered."""

    maximum_available: float
    currently_available: float
    restore_rate: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryCost:
    """The cost extension of one answer. ``actual`` is ``None`` when the request was not run."""

    requested: float
    actual: float | None
    throttle_status: ThrottleStatus | None

    def seconds_until_affordable(self) -> float:
        """How long the bucket needs to restore enough points to pay ``requested`` (0 if it can now)."""
        status = self.throttle_status
        if status is None or status.restore_rate <= 0:
            return 0.0
        missing = self.requested - status.currently_available
        return max(0.0, missing / status.restore_rate)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_cost(extensions: Mapping[str, Any] | None) -> QueryCost | None:
    """The :class:`QueryCost` in an answer's ``extensions``, or ``None`` if absent or malformed.

    Tolerant on purpose: a missing cost must never fail a request that the shop applied.
    """
    if not extensions:
        return None
    raw = extensions.get("cost")
    if not isinstance(raw, Mapping):
        return None
    requested = _number(raw.get("requestedQueryCost"))
    if requested is None:
        return None
    status: ThrottleStatus | None = None
    raw_status = raw.get("throttleStatus")
    if isinstance(raw_status, Mapping):
        maximum = _number(raw_status.get("maximumAvailable"))
        available = _number(raw_status.get("currentlyAvailable"))
        rate = _number(raw_status.get("restoreRate"))
        if maximum is not None and available is not None and rate is not None:
            status = ThrottleStatus(
                maximum_available=maximum, currently_available=available, restore_rate=rate
            )
    return QueryCost(requested=requested, actual=_number(raw.get("actualQueryCost")), throttle_status=status)


def cost_dict(extensions: Mapping[str, Any] | None) -> dict[str, Any]:
    """``extensions.cost`` as a plain dict (``{}`` when absent): what the scheduler's ``settle`` takes."""
    if not extensions:
        return {}
    raw = extensions.get("cost")
    return dict(raw) if isinstance(raw, Mapping) else {}
