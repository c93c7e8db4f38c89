"""Hand-over: a freed permit goes straight to the waiter first in line, in the same atomic step.

Why: without it a release only *wakes* the head of the queue, which then asks again (release → wake
→ acquire: one more round trip to the store, a few ms on Redis) while the permit sits idle, so under
churn the in-flight cap is never quite full. Here, whatever freed a permit or points (a release, a
cancel, an expired lease) admits the live head of the line at once, as its own ``acquire`` would have,
and the backend tells the head's process the grant it now holds.

Only the head is ever admitted, so priority order and the urgent reserve (invariant 2) are exactly
those of :meth:`State.acquire`; the cap (invariant 3) is checked by it too. A hand-over is not a sign
of life from the head's client: its lease is left as it was (invariant 4), and the facade counts the
grant's deadline from the client's own last call. ``lua/scheduler.lua`` does the same in Redis.
"""

from __future__ import annotations

from collections.abc import Mapping

from bulk.scheduler._admission import Granted, State


def hand_over(state: State, now: float, pins: Mapping[str, int | None]) -> list[tuple[str, Granted]]:
    """Admit the live head of the line while it can be admitted; the (waiter, grant) pairs.

    ``pins`` gives the token a waiter asked for (a bulk operation's calls belong to one app).
    A head that cannot be admitted (no free permit, or its bucket cannot pay yet) stops the hand-over:
    nobody may pass it. A head that no bucket can *ever* pay is dropped by ``acquire`` (it learns so
    when it asks again) and the next one is tried.
    """
    handed: list[tuple[str, Granted]] = []
    state.purge(now)  # so that acquire() below purges nothing (it would re-queue a purged head)
    while len(state.permits) < state.config.max_in_flight:
        line = state.line(now)
        if not line:
            break
        wid = line[0]
        waiter = state.waiters[wid]
        client = state.clients[waiter.client]  # in the line: live, so present
        result = state.acquire(waiter.client, wid, waiter.cost, waiter.priority, now, token=pins.get(wid))
        state.clients[waiter.client] = client  # acquire touched it: undo, a hand-over is no sign of life
        if isinstance(result, Granted):
            handed.append((wid, result))
        elif wid in state.waiters:
            break  # the head waits (points, or a permit): nobody may pass it
    return handed


def held_by(state: State, client: str, waiter: str) -> Granted | None:
    """The grant already handed to ``waiter`` of ``client`` (its permit id is ``p:<waiter>``)."""
    permit = state.permits.get(f"p:{waiter}")
    if permit is None or permit.client != client:
        return None
    return Granted(permit=f"p:{waiter}", token=permit.token, fence=permit.fence)
