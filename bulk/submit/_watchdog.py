"""A run that stops making progress says what it waits for, instead of sitting silent.

Why: a re-run that hung (issue 15) showed nothing for 15 minutes — no request, no output — and the
user could not tell a long bulk operation from a deadlock. Progress is anything that moves the run: an
outcome recorded, a request that is not a poll answered with the same state (an upload, a start, a
look-up), an operation whose status or object count changed, a chunk of the source planned.
When none happened for ``after_s`` (the clock's seconds: a test's :class:`~bulk.clock.ManualClock`, a
sped-up simulator's clock), the watchdog reports once, then again every ``after_s`` while the stall
lasts, as an event (``stalled``, whose ``message`` is one plain line) and a log record with
``action="submit.stalled"``.

The decision (:class:`StallTimer`) is pure; :class:`Watchdog` only sleeps on the clock and asks the
submission for a :class:`Waiting` snapshot when it reports. :class:`WatchedPort` wraps the bulk lane's
port so that its requests count as progress.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk.clock import Clock
from bulk.lanes.bulk.ports import BulkOpsPort, OpStatus
from bulk.models import OnEvent

log = logging.getLogger(__name__)

DEFAULT_STALL_S = 300.0  # five minutes: longer than any poll interval or back-off of a healthy run


@dataclass
class StallTimer:
    """When the run last made progress, and when the watchdog last reported (pure; times passed in)."""

    after_s: float
    last_progress: float
    reported_at: float = -math.inf

    def progress(self, now: float) -> None:
        """Something moved the run."""
        self.last_progress = now

    def due(self) -> float:
        """When a report falls due if nothing moves before: ``after_s`` past the last progress, and
        past the last report (a stall is reported again every ``after_s``, not continuously)."""
        return max(self.last_progress, self.reported_at) + self.after_s

    def check(self, now: float) -> bool:
        """True when a report is due now (and it is counted as made)."""
        if now < self.due():
            return False
        self.reported_at = now
        return True

    def stalled_for(self, now: float) -> float:
        """Seconds since the last progress."""
        return now - self.last_progress


@dataclass(frozen=True)
class Waiting:
    """What a run waits for, for a person to read (each list: short descriptions, the first few)."""

    operations: list[str] = field(default_factory=list)  # running bulk operations, last polled state
    units: list[str] = field(default_factory=list)  # the run's open journal units
    held: int = 0  # lines held behind an in-flight line of their product
    pooled: int = 0  # bulk lines not cut into a shard yet
    direct: int = 0  # direct mutation lines sent and not answered
    source: str = ""  # the reader: waiting for a chunk, or read to the end

    def message(self, stalled_s: float) -> str:
        """One plain line."""
        return (f"no progress for {_duration(stalled_s)}; waiting for "
                f"{_listed(self.operations, 'bulk operation(s)')}; {_listed(self.units, 'open unit(s)')}; "
                f"{self.held} held line(s); {self.pooled} pooled line(s); "
                f"{self.direct} direct line(s) in flight; source: {self.source}")

    def fields(self) -> dict[str, Any]:
        """The snapshot as plain data (the event's payload, the log record's extras)."""
        return {"operations": self.operations, "units": self.units, "held": self.held,
                "pooled": self.pooled, "direct": self.direct, "source": self.source}


class Watchdog:
    """Reports a stalled run; call :meth:`progress` whenever something moves, run :meth:`run` as a task."""

    def __init__(self, after_s: float, clock: Clock, describe: Callable[[], Awaitable[Waiting]],
                 on_event: OnEvent) -> None:
        self._clock = clock
        self._timer = StallTimer(after_s, clock.now())
        self._describe = describe
        self._on_event = on_event
        self.reports = 0

    def progress(self) -> None:
        """Something moved the run (cheap: called for every outcome batch and request)."""
        self._timer.progress(self._clock.now())

    async def run(self) -> None:
        """Sleep until a report could fall due; report when it does. Runs until cancelled (at once
        when the period is not positive: no watchdog)."""
        if self._timer.after_s <= 0:
            return
        while True:
            wait = self._timer.due() - self._clock.now()
            if wait > 0:
                await self._clock.sleep(wait)
                continue
            now = self._clock.now()
            if self._timer.check(now):
                await self._report(self._timer.stalled_for(now), since=self._timer.last_progress)

    async def _report(self, stalled_s: float, *, since: float) -> None:
        try:
            waiting = await self._describe()
        except Exception as exc:  # a report must not end the run: say what could not be read
            waiting = Waiting(source=f"(the journal could not be read: {type(exc).__name__})")
        message = waiting.message(stalled_s)
        self.reports += 1
        log.warning(message, extra={"action": "submit.stalled", "stalled_s": round(stalled_s, 1),
                                    **waiting.fields()})
        self._on_event("stalled", {"message": message, "stalled_s": stalled_s, "since": since,
                                   **waiting.fields()})

    def __repr__(self) -> str:
        return f"Watchdog(after_s={self._timer.after_s}, reports={self.reports})"


class WatchedPort:
    """A :class:`BulkOpsPort` that tells the watchdog about every request that moved something, and
    remembers each operation's last polled state (for :class:`Waiting`). A poll answered with the same
    status and object count as the one before is not progress: an operation stuck ``RUNNING`` is
    exactly what the watchdog must notice."""

    def __init__(self, inner: BulkOpsPort, on_progress: Callable[[], None]) -> None:
        self._inner = inner
        self._progress = on_progress
        self.last: dict[str, OpStatus] = {}  # operation -> its last polled state

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        """Stage ``path`` (progress)."""
        staged = await self._inner.upload(path, token_index=token_index, admitted=admitted)
        self._progress()
        return staged

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        """Start an operation (progress)."""
        op = await self._inner.start(kind, staged_path, client_identifier=client_identifier,
                                     token_index=token_index)
        self._progress()
        return op

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        """Look an operation up (progress: it is part of adopting one)."""
        found = await self._inner.find(client_identifier, token_index=token_index)
        self._progress()
        return found

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        """Poll; progress only when the status or the object count moved."""
        return self._seen(await self._inner.status(op_id, token_index=token_index), op_id)

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        """Poll several; progress when any of them moved."""
        found = await self._inner.statuses(op_ids, token_index=token_index)
        return {op_id: self._seen(status, op_id) for op_id, status in found.items()}

    def _seen(self, status: OpStatus, op_id: str) -> OpStatus:
        before = self.last.get(op_id)
        if before is None or (before.status, before.object_count) != (status.status, status.object_count):
            self._progress()
        self.last[op_id] = status
        return status

    def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """The result lines, passed through unwrapped (a million lines would pay for a wrapper): the
        outcomes they decide are recorded in batches, and each batch is progress."""
        return self._inner.results(url)

    def describe(self, op_id: str, token: int) -> str:
        """``GID (token #t, STATUS n objects)`` from the last poll."""
        last = self.last.get(op_id)
        state = "not polled yet" if last is None else f"{last.status}, {last.object_count} objects"
        return f"{op_id} (token #{token}, {state})"


def _listed(items: list[str], what: str, *, first: int = 5) -> str:
    """``3 bulk operation(s) [a, b, c]`` (the first few named)."""
    if not items:
        return f"0 {what}"
    more = f", … {len(items) - first} more" if len(items) > first else ""
    return f"{len(items)} {what} [{', '.join(items[:first])}{more}]"


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
