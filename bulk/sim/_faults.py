"""Fault injection: latency, 5xx answers and dropped connections (pure decisions from a seeded RNG).

These are the shop's background noise (``fault_rate``, ``drop_rate``, ``latency_ms``); the faults a
rehearsal scripts by name (``--fault ise:rate=0.02``, ``5xx:at=10,for=3``, a revoked token, a
frozen shop …) are :mod:`bulk.sim._fault_specs` and :mod:`bulk.sim._fault_schedule`.

Why seeded and pure: a rehearsal that failed must be replayable. :class:`FaultPlan` only *decides*
(from ``random.Random(seed)``); the server carries the decision out.

Choices where Shopify is silent (stricter reading, see docs/simulator.md):

- a **502** is "applied, then the gateway failed": the mutation ran and was charged, the client got
  no answer it can use; a **503** is "refused before running": nothing applied or charged;
- a **dropped connection** is "applied, then dropped": the request ran in full, then the socket was
  closed without a response, so a client that retries must be idempotent.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import Enum


class Fault(Enum):
    """What happens to one request."""

    NONE = "none"
    REFUSE_503 = "503"  # refused before execution: not applied, not charged
    FAIL_502 = "502"  # executed (applied, charged), then answered 502
    DROP = "drop"  # executed (applied, charged), then the connection is closed without a response


# Shopify-like bodies for the 5xx answers (Shopify's edge serves JSON errors on the Admin API).
BODY_502 = {"errors": "Bad Gateway: the shop did not answer in time. Retry with backoff."}
BODY_503 = {"errors": "Service Unavailable: the shop is temporarily unavailable. Retry with backoff."}

# Lognormal shape: sigma 0.5 gives a realistic right tail (p99 ≈ 3× the median).
LATENCY_SIGMA = 0.5


@dataclass
class FaultPlan:
    """Seeded decisions: the latency of a request and its fault, if any."""

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "fault_rate", "drop_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.fault_rate + self.drop_rate > 1:
            raise ValueError("fault_rate + drop_rate must be <= 1")
        self._rng = random.Random(self.seed)  # decisions replay exactly for a given seed
        # Lognormal with the requested *mean*: mean = exp(mu + sigma²/2).
        self._mu = math.log(self.latency_ms) - LATENCY_SIGMA**2 / 2 if self.latency_ms > 0 else 0.0

    def latency_s(self) -> float:
        """One latency sample in (simulated) seconds; 0 when latency is off."""
        if self.latency_ms <= 0:
            return 0.0
        return self._rng.lognormvariate(self._mu, LATENCY_SIGMA) / 1000.0

    def fault(self) -> Fault:
        """The fault for the next request (5xx split evenly between 502 and 503)."""
        if self.fault_rate <= 0 and self.drop_rate <= 0:
            return Fault.NONE
        roll = self._rng.random()
        if roll < self.drop_rate:
            return Fault.DROP
        if roll < self.drop_rate + self.fault_rate:
            return Fault.FAIL_502 if self._rng.random() < 0.5 else Fault.REFUSE_503
        return Fault.NONE
