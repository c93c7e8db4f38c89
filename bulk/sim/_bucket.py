"""Shopify's per-app leaky bucket of calculated query cost (pure: time is passed in as ``now``).

Why pure: the admission rule is the heart of what the simulator must get exactly right, and a pure
state machine can be tested over hours of simulated time without a single sleep. The front reads
``now`` from its one clock and calls :meth:`CostBucket.admit` / :meth:`CostBucket.refund`.

The rule (shopify.dev "API rate limits"): each app (= access token) has a bucket holding at most
``maximumAvailable`` points that refills continuously at ``restoreRate`` points per second. A request
is admitted only if ``currentlyAvailable >= requestedQueryCost``; the requested cost is taken at
once, and after execution ``requested - actual`` is given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Plan(Enum):
    """Shop plans and their Admin GraphQL bucket figures: (maximumAvailable, restoreRate per second)."""

    STANDARD = (2000.0, 100.0)
    ADVANCED = (4000.0, 200.0)
    PLUS = (20000.0, 1000.0)
    ENTERPRISE = (40000.0, 2000.0)

    @property
    def maximum(self) -> float:
        """Bucket size in points."""
        return self.value[0]

    @property
    def restore_rate(self) -> float:
        """Points restored per second."""
        return self.value[1]

    @classmethod
    def parse(cls, name: str) -> Plan:
        """``"plus"`` → :attr:`PLUS` (case-insensitive); ``ValueError`` naming the choices otherwise."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(p.name.lower() for p in cls)
            raise ValueError(f"unknown plan {name!r} (choose one of: {choices})") from None


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """The ``throttleStatus`` object of a response's ``extensions.cost``."""

    maximum_available: float
    currently_available: float
    restore_rate: float

    def as_json(self) -> dict[str, float]:
        """Shopify's spelling; ``currentlyAvailable`` is a whole number of points, like Shopify's."""
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": float(int(self.currently_available)),
            "restoreRate": self.restore_rate,
        }


class CostBucket:
    """One token's bucket. Every method takes ``now`` (seconds, the simulator's clock)."""

    def __init__(self, maximum: float, restore_rate: float, *, now: float = 0.0) -> None:
        if maximum <= 0 or restore_rate <= 0:
            raise ValueError("maximum and restore_rate must be > 0")
        self.maximum = maximum
        self.restore_rate = restore_rate
        self._level = maximum  # a new app starts with a full bucket
        self._updated = now
        self.admitted = 0
        self.throttled = 0
        self.spent = 0.0  # points charged and not refunded

    @classmethod
    def for_plan(cls, plan: Plan, *, now: float = 0.0) -> CostBucket:
        """A full bucket with ``plan``'s figures."""
        return cls(plan.maximum, plan.restore_rate, now=now)

    def available(self, now: float) -> float:
        """Points available at ``now`` (refills continuously, capped at ``maximum``)."""
        self._refill(now)
        return self._level

    def admit(self, cost: float, now: float) -> bool:
        """Take ``cost`` points if the bucket holds at least that many; ``False`` = THROTTLED."""
        self._refill(now)
        if self._level >= cost:
            self._level -= cost
            self.admitted += 1
            self.spent += cost
            return True
        self.throttled += 1
        return False

    def refund(self, points: float, now: float) -> None:
        """Give back ``points`` (requested − actual) after execution; never above ``maximum``."""
        if points <= 0:
            return
        self._refill(now)
        self._level = min(self.maximum, self._level + points)
        self.spent -= points

    def drain(self, now: float) -> None:
        """Empty the bucket at ``now``: another client of the same app spent it all (the ``throttle``
        fault). It refills from zero at the restore rate afterwards, as a real one would."""
        self._refill(now)
        self._level = 0.0

    def status(self, now: float) -> ThrottleStatus:
        """The ``throttleStatus`` to report at ``now``."""
        return ThrottleStatus(self.maximum, self.available(now), self.restore_rate)

    def statistics(self, now: float) -> dict[str, Any]:
        """Snapshot for ``/_sim/stats``."""
        return {
            "currently_available": round(self.available(now), 3),
            "maximum_available": self.maximum,
            "restore_rate": self.restore_rate,
            "admitted": self.admitted,
            "throttled": self.throttled,
            "cost_spent": round(self.spent, 3),
        }

    def reset_statistics(self) -> None:
        """Zero the counters (the level is state, not a statistic, and stays)."""
        self.admitted = self.throttled = 0
        self.spent = 0.0

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._level = min(self.maximum, self._level + (now - self._updated) * self.restore_rate)
            self._updated = now

    def __repr__(self) -> str:
        return (
            f"CostBucket(level={self._level:.1f}/{self.maximum:.0f}, restore={self.restore_rate:.0f}/s, "
            f"admitted={self.admitted}, throttled={self.throttled})"
        )
