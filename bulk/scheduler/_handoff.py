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

Standby: when every slot is taken and the head's own client holds a permit that carries nobody, the
head is admitted ahead of time onto it (the same decision, at that moment: paid above its floor,
fenced, in line order). Its process starts it the moment the carrier's request ends, without asking
the store, and the carrier's release moves it into the carrier's slot — one request per permit, in
sequence, in one process, so the cap holds and the release -> hand-over -> send chain across
processes is off the path. A free slot goes to the first of the line and the standbys by (priority,
arrival), so a standby never starts after a later, lower-lane request that found a free slot.

Revoked: a head that finds no slot and no permit of its own to ride on would otherwise wait behind
every lower-lane standby (each carrier's slot passing to its standby). So the store revokes the
lower-lane standbys still riding, and tells their processes: a process that hears of it before the
carrier's request ends does not start it, its release says so (``started``), and the slot is free for
the head; one that started it already says so too, and the standby takes the slot (the cap holds
either way). A revoked standby stays paid and fenced, and takes a free slot in its turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bulk.scheduler._admission import Granted, State


@dataclass(frozen=True, slots=True)
class Handed:
    """What the store decided on its own: ``granted`` to ``waiter``, on a slot now (``on`` None) or
    as a standby riding on the permit ``on`` of the same client; or (``revoked``) that standby must
    not be started when ``on``'s request ends."""

    waiter: str
    granted: Granted
    on: str | None = None
    revoked: bool = False


def hand_over(state: State, now: float, pins: Mapping[str, int | None]) -> list[Handed]:
    """Give free slots and standby places in line order while the line allows; what was handed.

    First the standbys that took their released carrier's slot (:meth:`State.release`). Then, while a
    slot is free, it goes to the first of the live line and the live standbys by (priority, arrival):
    a standby takes it as it is (already paid), the head is admitted as its own ``acquire`` would
    be. While every slot is taken, the head is admitted as a standby onto its client's oldest permit
    that carries nobody; with no such permit, the lower-lane standbys still riding are revoked (and
    the head may then ride on a permit of its own freed so). A head that cannot be admitted (no
    place, or its bucket cannot pay yet) stops it all: nobody may pass it. A head no bucket can
    *ever* pay is dropped by ``admit`` (it learns so when it asks again) and the next one is tried.
    ``pins`` gives the token a waiter asked for (a bulk operation's calls belong to one app).
    """
    handed = [Handed(wid, granted) for wid, granted in state.promoted]
    state.promoted.clear()
    state.purge(now)  # so that nothing below meets a client whose lease ended
    while True:
        line = state.line(now)
        head = line[0] if line else None
        free = len(state.permits) < state.config.max_in_flight
        if free and (sid := _first_standby(state, now)) is not None:
            s = state.standbys[sid]
            first = state.waiters[head] if head is not None else None
            if first is None or (s.priority, s.seq) < (first.priority, first.seq):
                handed.append(Handed(sid.removeprefix("p:"), state.promote(sid)))
                continue
        if head is None:
            break
        w = state.waiters[head]
        on = None if free else _free_carrier(state, w.client)
        if not free and on is None:
            revoked = _revoke_below(state, w.priority)
            handed += revoked
            if revoked:
                continue  # a permit of the head's own client may carry nobody now
            break  # every slot taken and no permit of the head's client to ride on: it waits
        result = state.admit(head, now, token=pins.get(head), on=on)
        if isinstance(result, Granted):
            handed.append(Handed(head, result, on))
        elif head in state.waiters:
            break  # the head waits for points: nobody may pass it
    return handed


def _revoke_below(state: State, priority: int) -> list[Handed]:
    """Detach every standby of a lane below ``priority`` still riding on a permit: the first slot
    that frees goes to the higher lane, not to work admitted ahead of time before it came."""
    revoked = []
    for sid, s in sorted(state.standbys.items()):
        if s.on is not None and s.priority > priority:
            granted = Granted(sid, s.token, s.fence)
            revoked.append(Handed(sid.removeprefix("p:"), granted, s.on, revoked=True))
            s.on = None
    return revoked


def _first_standby(state: State, now: float) -> str | None:
    """The live standby first in line (priority, arrival): a paused client's is skipped like its
    waiters, it would hold the slot without sending."""
    live = [
        (s.priority, s.seq, sid)
        for sid, s in state.standbys.items()
        if (c := state.clients.get(s.client)) is not None and now - c.seen < state.config.waiter_ttl
    ]
    return min(live)[2] if live else None


def _free_carrier(state: State, client: str) -> str | None:
    """The oldest permit (lowest fence: the likeliest to end first) of ``client`` that carries no
    standby yet."""
    carrying = {s.on for s in state.standbys.values()}
    mine = [(p.fence, pid) for pid, p in state.permits.items() if p.client == client and pid not in carrying]
    return min(mine)[1] if mine else None


def held_by(state: State, client: str, waiter: str) -> Granted | None:
    """The grant already handed to ``waiter`` of ``client`` (its permit id is ``p:<waiter>``)."""
    permit = state.permits.get(f"p:{waiter}")
    if permit is None or permit.client != client:
        return None
    return Granted(permit=f"p:{waiter}", token=permit.token, fence=permit.fence)
