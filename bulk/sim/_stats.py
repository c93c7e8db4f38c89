"""Counters the simulator keeps about its clients: in-flight requests, violations, per-token totals.

Why here and not in the client: the simulator is the referee. It measures what the client actually
did (peak and time-averaged concurrency, requests refused for exceeding the cap) so benchmarks and
invariant tests can assert on the shop's view, never on the client's own claims.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

RECENT = 256  # attempts kept per token for spacing checks (older ones are only counted)


@dataclass(slots=True)
class TokenCounters:
    """Per-token request outcomes (the bucket keeps admitted/throttled/cost itself).

    ``attempts`` counts every GraphQL request sent with this token, whatever became of it;
    ``statuses`` the answers by HTTP status (``"dropped"``: the connection was closed without one,
    ``"abandoned"``: the client gave up on a held request first); ``faults`` what the simulator did
    to them by fault kind; ``recent`` the last :data:`RECENT` attempts as ``[arrived, answered,
    status, fault]`` (simulated seconds since the shop started), so a test can measure how long a
    client waited between an answer and its next attempt.
    """

    requests: int = 0
    errors: int = 0  # GraphQL errors other than THROTTLED (invalid document, max cost, …)
    server_errors: int = 0  # injected 5xx
    dropped: int = 0  # injected dropped connections
    attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    recent: deque[tuple[float, float, str, str]] = field(default_factory=lambda: deque(maxlen=RECENT))

    def answered(self, arrived: float, left: float, status: str, fault: str) -> None:
        """One attempt, arrived at ``arrived`` and ended at ``left``: ``status`` (``"200"``,
        ``"dropped"``, …) after fault ``fault`` (or ``"none"``)."""
        self.attempts += 1
        self.statuses[status] += 1
        if fault != "none":
            self.faults[fault] += 1
        self.recent.append((round(arrived, 6), round(left, 6), status, fault))

    def as_json(self) -> dict[str, Any]:
        """Plain dict for ``/_sim/stats``."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "server_errors": self.server_errors,
            "dropped": self.dropped,
            "attempts": self.attempts,
            "statuses": dict(sorted(self.statuses.items())),
            "faults": dict(sorted(self.faults.items())),
            "recent": [list(r) for r in self.recent],
        }


class InFlight:
    """Concurrent requests with a hard cap; integrates in-flight × time for the time-average.

    ``enter`` returns ``False`` (and counts a violation) when the cap is already reached: the
    front then refuses the request at once with HTTP 503.
    """

    def __init__(self, cap: int | None, now: float) -> None:
        if cap is not None and cap < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.cap = cap
        self.current = 0
        self.peak = 0
        self.violations = 0
        self._area = 0.0  # ∫ current dt
        self._since = now
        self._last = now

    def enter(self, now: float) -> bool:
        """Admit one request, or count a violation if the cap is reached."""
        if self.cap is not None and self.current >= self.cap:
            self.violations += 1
            return False
        self._advance(now)
        self.current += 1
        self.peak = max(self.peak, self.current)
        return True

    def leave(self, now: float) -> None:
        """One admitted request finished."""
        self._advance(now)
        self.current -= 1

    def average(self, now: float) -> float:
        """Time-averaged in-flight count since the start (or last reset)."""
        self._advance(now)
        elapsed = now - self._since
        return self._area / elapsed if elapsed > 0 else float(self.current)

    def reset(self, now: float) -> None:
        """Start measuring afresh (requests in flight stay in flight)."""
        self._advance(now)
        self.peak = self.current
        self.violations = 0
        self._area = 0.0
        self._since = now

    def statistics(self, now: float) -> dict[str, Any]:
        """Snapshot for ``/_sim/stats``."""
        return {
            "in_flight": self.current,
            "max_in_flight": self.peak,
            "avg_in_flight": round(self.average(now), 4),
            "max_concurrency": self.cap,
            "violations": self.violations,
        }

    def _advance(self, now: float) -> None:
        if now > self._last:
            self._area += self.current * (now - self._last)
            self._last = now

    def __repr__(self) -> str:
        return (
            f"InFlight(current={self.current}, peak={self.peak}, cap={self.cap}, "
            f"violations={self.violations})"
        )
