"""The lane's picture of its bulk-operation slots: which token runs what, and when each slot frees up.

Why the lane keeps one: to start the next operation the moment a slot frees, its shard must already
be cut, claimed and uploaded — so the lane looks ahead at the operations about to finish (their
expected end, refined by every poll) and prepares the next ones *for those slots*. The same picture
tells :mod:`bulk.lanes.bulk._sizing` how long every slot is still busy, so cuts end together.

A slot is one of ``ops_per_token`` operations a token (app) may run at once. A *reservation* is a
shard being prepared or waiting for a slot of its token: it takes that token's earliest free slot.
Bookkeeping only, no I/O; the time is passed in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

LEAD_MARGIN = 1.5  # the lead covers the slowest recent preparation this many times over
LEAD_WINDOW = 8  # preparations the lead remembers
MIN_MEASURED_S = 2.0  # operation-seconds of polls before the measured pace replaces the prior
OVERHEAD_WEIGHT = 0.3  # weight of each new overhead measurement in the running average


@dataclass
class _Running:
    token: int
    eta: float


@dataclass(frozen=True, slots=True)
class Opening:
    """A slot that is free, or will be at ``at``, and that no reservation has taken yet."""

    token: int
    at: float


@dataclass
class SlotBoard:
    """Running operations (with their expected end) and reservations, per token."""

    tokens: int
    per_token: int
    _running: dict[str, _Running] = field(default_factory=dict)
    _reserved: dict[int, list[float]] = field(default_factory=dict)  # token -> expected busy seconds
    _out: set[int] = field(default_factory=set)  # tokens the shop refused: no slot of theirs opens

    def take_out(self, token: int) -> None:
        """The shop refused ``token`` (401/403): none of its slots is offered from now on."""
        self._out.add(token)

    def start(self, op: str, token: int, eta: float) -> None:
        """An operation runs on ``token`` (started or adopted) and should end at ``eta``."""
        self._running[op] = _Running(token, eta)

    def estimate(self, op: str, eta: float) -> None:
        """A better estimate of when ``op`` ends (from its polls)."""
        if op in self._running:
            self._running[op].eta = eta

    def finish(self, op: str) -> None:
        """The operation ended: its slot is free."""
        self._running.pop(op, None)

    def reserve(self, token: int, busy_s: float) -> None:
        """A shard of about ``busy_s`` seconds of work will take the next free slot of ``token``."""
        self._reserved.setdefault(token, []).append(busy_s)

    def unreserve(self, token: int, busy_s: float) -> None:
        """The reservation is over (its operation started, or it was given up)."""
        mine = self._reserved.get(token, [])
        if busy_s in mine:
            mine.remove(busy_s)

    def running_ops(self) -> list[tuple[str, int]]:
        """(operation, token) of every running operation, earliest expected end first."""
        return [(op, r.token) for op, r in sorted(self._running.items(), key=lambda item: item[1].eta)]

    def running(self, token: int | None = None) -> int:
        """Operations running (on one token, or on all)."""
        return sum(1 for r in self._running.values() if token is None or r.token == token)

    def _slots(self, token: int, now: float) -> list[float]:
        """When each slot of ``token`` frees up, earliest first (running ones at their expected end)."""
        if token in self._out:
            return []
        etas = sorted(max(now, r.eta) for r in self._running.values() if r.token == token)
        return [now] * max(0, self.per_token - len(etas)) + etas[: self.per_token]

    def openings(self, now: float, horizon_s: float) -> list[Opening]:
        """Unreserved slots free by ``now + horizon_s``, earliest first (ties: least loaded token)."""
        out: list[Opening] = []
        for token in range(self.tokens):
            taken = len(self._reserved.get(token, []))
            out += [Opening(token, at) for at in self._slots(token, now)[taken:] if at <= now + horizon_s]
        return sorted(out, key=lambda o: (o.at, self.running(o.token), o.token))

    def busy_until(self, now: float, *, exclude: list[Opening]) -> list[float]:
        """When every slot not in ``exclude`` frees up for new work: running operations at their
        expected end, reserved slots after their reservation's work."""
        out: list[float] = []
        skip = [(o.token, o.at) for o in exclude]
        for token in range(self.tokens):
            slots = self._slots(token, now)
            reserved = self._reserved.get(token, [])
            for i, at in enumerate(slots):
                if i < len(reserved):
                    out.append(at + reserved[i])
                elif (token, at) in skip:
                    skip.remove((token, at))
                else:
                    out.append(at)
        return out

    def next_opening(self, now: float, horizon_s: float) -> float | None:
        """The earliest moment an unreserved running slot enters the look-ahead window (for a timer)."""
        later = [o.at - horizon_s for o in self.openings(now, float("inf")) if o.at > now + horizon_s]
        return min(later, default=None)

    def __repr__(self) -> str:
        reserved = sum(len(v) for v in self._reserved.values())
        return (f"SlotBoard(running={len(self._running)}, reserved={reserved}, "
                f"slots={self.tokens}x{self.per_token})")


@dataclass
class PaceMeter:
    """How fast one running operation processes lines, measured over every interval between two polls
    of every operation — weighted by time, so a few short operations at a busy moment cannot swing it —
    and the fixed overhead of an operation (start to its first line), as a running average."""

    prior_rate: float
    overhead: float
    objects: float = 0.0
    seconds: float = 0.0

    def observe(self, seconds: float, objects: int) -> None:
        """One operation processed ``objects`` more lines in ``seconds`` (between two of its polls)."""
        if seconds > 0 and objects >= 0:
            self.seconds += seconds
            self.objects += objects

    def observe_overhead(self, seconds: float) -> None:
        """One operation took ``seconds`` from its start to its first line."""
        self.overhead += OVERHEAD_WEIGHT * (max(0.0, seconds) - self.overhead)

    @property
    def rate(self) -> float:
        """Lines per second of one operation: measured once there is enough, else the prior."""
        if self.seconds >= MIN_MEASURED_S and self.objects > 0:
            return self.objects / self.seconds
        return self.prior_rate


@dataclass
class LeadMeter:
    """How long before a slot frees the lane starts preparing its next shard (claim, load, upload).

    Why measured: a fixed lead shorter than an upload leaves the slot idle for the difference — a
    20k-line shard took up to 4 s to upload to the simulator on a busy machine, against a 2 s lead,
    and a real shop's staged uploads of 100 MB files take longer still. The lead is the configured
    one or :data:`LEAD_MARGIN` times the slowest of the last :data:`LEAD_WINDOW` preparations."""

    configured_s: float
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=LEAD_WINDOW))

    def observe(self, seconds: float) -> None:
        """One shard's preparation took ``seconds`` (from its claim to its file being uploaded)."""
        self.recent.append(max(0.0, seconds))

    @property
    def lead_s(self) -> float:
        return max(self.configured_s, LEAD_MARGIN * max(self.recent, default=0.0))
