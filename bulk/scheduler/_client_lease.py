"""What one client (a :class:`~bulk.scheduler._scheduler.Scheduler`) knows of its own lease in the store.

Why its own module: the store renews a client's lease on every call it answers, by the store's clock,
while the client counts by its own. Two things follow that the facade must get exactly right, and
only the start and the answer time of each call are known here:

- a grant the store hands us between calls lives at least ``lease`` past the start of our last
  answered call (the store executed that call later than it began here): :meth:`deadline`;
- a call answered more than ``lease`` after the last renewal began may have found the lease ended
  (a pause, a stall): the store then dropped our permits and what it had handed us, and a hand-over
  message read only now must not be trusted on the renewed lease: :meth:`lapsed_since`.
"""

from __future__ import annotations

import math


class ClientLease:
    """The renewal times of one client's lease, by the client's clock."""

    def __init__(self, lease: float) -> None:
        self.lease = lease
        self.renewed_at = -math.inf  # the start of the last call the store answered
        self.lapse_seen_at = -math.inf  # when an answer last showed the lease may have ended before it

    def answered(self, started: float, now: float) -> None:
        """A call that began at ``started`` was answered at ``now``: the store renewed the lease."""
        if self.renewed_at > -math.inf and now - self.renewed_at > self.lease:
            self.lapse_seen_at = now
        self.renewed_at = max(self.renewed_at, started)

    def deadline(self) -> float:
        """Until when a grant handed to us since our last answered call lives, at least."""
        return self.renewed_at + self.lease

    def lapsed_since(self, moment: float) -> bool:
        """Whether the lease may have ended and started again since ``moment`` (what was handed to
        us before then may be gone)."""
        return self.lapse_seen_at >= moment

    def __repr__(self) -> str:
        return (f"ClientLease(lease={self.lease}, renewed_at={self.renewed_at}, "
                f"lapse_seen_at={self.lapse_seen_at})")
