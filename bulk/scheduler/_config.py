"""Scheduler settings: frozen and keyword-only, shared by every backend.

Nothing here is per worker: workers may come and go, the cap and the reserve are properties of the
shop (and of the downstream API's concurrency limit), so every process passes the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulk.errors import ConfigError
from bulk.models import Lane


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerConfig:
    """How the scheduler admits requests.

    - ``token_count``: access tokens (one bucket each); grants name an index, never a token.
    - ``max_in_flight``: global cap on requests in flight, over every worker (invariant 3).
    - ``urgent_reserve``: points per token that NORMAL and BULK may not spend (invariant 2);
      capped at half a bucket so a small (REST-like) bucket still serves lower lanes.
    - ``lease``: seconds a permit lives without a renewal (invariant 4). Every request must finish
      within it (see docs/scheduler.md).
    - ``waiter_ttl``: a queued waiter whose process has not been heard from for this long no longer
      blocks the ones behind it (a SIGSTOPped worker must not stall the queue for a whole lease).
    - ``time_scale``: model seconds per coordination-clock second (a simulator at ``--speed 20``
      refills buckets 20x faster; the Redis server's clock does not know that).
    """

    token_count: int
    max_in_flight: int
    urgent_reserve: float = 100.0
    lease: float = 2.0
    waiter_ttl: float = 0.3
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.token_count < 1:
            raise ConfigError("token_count must be >= 1")
        if self.max_in_flight < 1:
            raise ConfigError("max_in_flight must be >= 1")
        if self.urgent_reserve < 0:
            raise ConfigError("urgent_reserve must be >= 0")
        if self.lease <= 0 or self.waiter_ttl <= 0:
            raise ConfigError("lease and waiter_ttl must be > 0")
        if self.time_scale <= 0:
            raise ConfigError("time_scale must be > 0")

    def floor(self, priority: int, capacity: float) -> float:
        """Points a request of ``priority`` must leave in the bucket: 0 for URGENT, else the reserve."""
        if priority <= Lane.URGENT:
            return 0.0
        return min(self.urgent_reserve, capacity / 2)
