"""What a run records for its picture, and the timeline built back from it.

Why a file of events: the picture of a run (:mod:`bulk.submit.picture`) must be drawable again later
(``bulk report RUN --html``) from what the run left behind — the journal holds the operations but no
times. So a run appends its events (the ones every ``OnEvent`` listener gets), snapshots of the
scheduler's statistics and the latency of each urgent batch to ``events.jsonl`` beside its state, one
JSON object a line: ``{"t": seconds since the run started, "name": …, "data": {…}}``. Per-line events
of the direct route are counted per second instead (a million lines would be a million records).

:func:`build_timeline` is pure: events in, the series the picture draws out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from bulk.clock import Clock
from bulk.models import OnEvent
from bulk.scheduler.protocol import SchedulerStatistics

EVENTS_FILE = "events.jsonl"
SAMPLE_EVERY_S = 0.25  # scheduler snapshots: often enough to see a bucket drain, cheap enough to keep
_COUNTED = frozenset({"line_done"})  # per-line events: counted per second, not recorded one by one

Event = tuple[float, str, dict[str, Any]]
_T = TypeVar("_T")


class RunRecorder:
    """Appends a run's events to ``path`` (see the module doc); wrap the run's ``on_event`` with
    :meth:`listener`, run :meth:`sample` beside it, and :meth:`close` at the end."""

    def __init__(self, path: Path, clock: Clock) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        self._t0 = clock.now()
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._second = -1
        self._counted: dict[str, int] = {}
        self.records = 0
        self.record("recording_started", {})  # a resumed run appends: its picture starts here

    def __repr__(self) -> str:
        return f"RunRecorder({str(self.path)!r}, records={self.records})"

    def record(self, name: str, data: dict[str, Any]) -> None:
        """One event, now."""
        t = self._clock.now() - self._t0
        if name in _COUNTED:
            second = int(t)
            if second != self._second:
                self._flush_counts()
                self._second = second
            self._counted[name] = self._counted.get(name, 0) + 1  # one event, one mutation line
            return
        self._file.write(json.dumps({"t": round(t, 4), "name": name, "data": data}, default=_plain) + "\n")
        self.records += 1

    def listener(self, on_event: OnEvent) -> OnEvent:
        """``on_event`` that also records every event."""

        def both(name: str, data: dict[str, Any]) -> None:
            self.record(name, data)
            on_event(name, data)

        return both

    async def sample(
        self, statistics: Callable[[], SchedulerStatistics], *, every_s: float = SAMPLE_EVERY_S
    ) -> None:
        """Snapshot the scheduler every ``every_s`` until cancelled (points per token, in flight)."""
        while True:
            s = statistics()
            self.record("scheduler", {
                "in_flight": s.in_flight, "max_in_flight": s.max_in_flight,
                "tokens": [[t.index, t.level, t.capacity, t.restore_rate] for t in s.tokens]})
            await self._clock.sleep(every_s)

    def timed(self, send: Callable[[_T], Awaitable[Any]]) -> Callable[[_T], Awaitable[Any]]:
        """``send`` (the urgent lane's sender) with each call's latency recorded as ``urgent_batch``."""

        async def timed_send(batch: _T) -> Any:
            started = self._clock.now()
            try:
                return await send(batch)
            finally:
                size = len(batch) if isinstance(batch, Sequence) else 1
                latency = round(self._clock.now() - started, 4)
                self.record("urgent_batch", {"latency_s": latency, "changes": size})

        return timed_send

    def close(self) -> None:
        """Write what is counted and close the file."""
        self._flush_counts()
        self._file.close()

    def _flush_counts(self) -> None:
        for name, count in self._counted.items():
            record = {"t": self._second, "name": name + "s", "data": {"count": count}}
            self._file.write(json.dumps(record) + "\n")
        self._counted.clear()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def load_events(path: Path) -> list[Event]:
    """The events of the last recording of a run (a run resumed after a crash appends a new one with
    its own clock; a truncated last line — the run was killed — is skipped)."""
    out: list[Event] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("name") == "recording_started":
                out.clear()
            out.append((float(record["t"]), str(record["name"]), dict(record.get("data") or {})))
    return out


@dataclass
class OpSpan:
    """One bulk operation on the timeline (seconds since the run started; None: not seen)."""

    op: str
    token: int
    lines: int
    start: float | None = None
    end: float | None = None
    status: str = "?"
    slot: int = 0  # which of its token's operation slots it held (drawn as a row)


@dataclass
class Timeline:
    """The series a run's picture draws."""

    ops: list[OpSpan] = field(default_factory=list)
    lines_per_s: list[tuple[float, float]] = field(default_factory=list)  # (second, lines applied)
    spent: dict[int, list[tuple[float, float, float]]] = field(default_factory=dict)  # token ->
    # (t, points spent so far, budget so far: bucket + restore rate × t)
    in_flight: list[tuple[float, int]] = field(default_factory=list)
    max_in_flight: int = 0
    urgent: list[tuple[float, float, int]] = field(default_factory=list)  # (t, latency s, changes)
    duration_s: float = 0.0


def build_timeline(
    events: Iterable[Event], *, journal_ops: Iterable[tuple[int, str, int, str]] = ()
) -> Timeline:
    """The timeline of a run from its recorded events; ``journal_ops`` — ``(token, op, lines,
    state)`` of each operation the journal knows — adds the operations no event named (a run recorded
    in part) so that every operation appears."""
    tl = Timeline()
    by_op: dict[str, OpSpan] = {}
    direct: dict[int, float] = {}
    last: dict[int, tuple[float, float]] = {}  # token -> (t, level) of the previous snapshot
    for t, name, data in sorted(events, key=lambda e: e[0]):
        tl.duration_s = max(tl.duration_s, t)
        if name == "shard_started":
            by_op[str(data["op"])] = OpSpan(str(data["op"]), int(data["token"]), int(data.get("lines", 0)), t)
        elif name == "op_finished" and str(data.get("op")) in by_op:
            span = by_op[str(data["op"])]
            span.end, span.status = t, str(data.get("status", "?"))
            span.lines = int(data.get("objects", span.lines) or 0) or span.lines
        elif name == "line_dones":
            direct[int(t)] = direct.get(int(t), 0.0) + float(data["count"])
        elif name == "urgent_batch":
            tl.urgent.append((t, float(data["latency_s"]), int(data.get("changes", 1))))
        elif name == "scheduler":
            tl.in_flight.append((t, int(data["in_flight"])))
            tl.max_in_flight = int(data["max_in_flight"])
            for index, level, capacity, rate in data["tokens"]:
                _spend(tl, last, t, int(index), float(level), float(capacity), float(rate))
    for token, op, lines, state in journal_ops:
        by_op.setdefault(op, OpSpan(op, token, lines, status=state))
    tl.ops = _slotted(by_op.values())
    tl.lines_per_s = _per_second(tl.ops, direct)
    return tl


def _spend(tl: Timeline, last: dict[int, tuple[float, float]], t: float, index: int, level: float,
           capacity: float, rate: float) -> None:
    """Points spent on a token since its last snapshot: what the bucket would hold after refilling
    (capped at its size), less what it holds now."""
    series = tl.spent.setdefault(index, [])
    spent = series[-1][1] if series else 0.0
    if index in last:
        t0, level0 = last[index]
        spent += max(0.0, min(capacity, level0 + rate * (t - t0)) - level)
    last[index] = (t, level)
    series.append((t, spent, capacity + rate * t))


def _slotted(ops: Iterable[OpSpan]) -> list[OpSpan]:
    """Operations in start order, each given the first of its token's slots free at its start."""
    ordered = sorted(ops, key=lambda o: (o.start is None, o.start or 0.0, o.op))
    free_at: dict[int, list[float]] = {}
    for op in ordered:
        slots = free_at.setdefault(op.token, [])
        start = op.start if op.start is not None else float("inf")
        slot = next((i for i, f in enumerate(slots) if f <= start), len(slots))
        if slot == len(slots):
            slots.append(0.0)
        slots[slot] = op.end if op.end is not None else float("inf")
        op.slot = slot
    return ordered


def _per_second(ops: Sequence[OpSpan], direct: dict[int, float]) -> list[tuple[float, float]]:
    """Lines applied per second: an operation's lines spread evenly over its span (the shop reports
    them only at the end), plus the direct route's lines as they were answered."""
    rate = dict(direct)
    for op in ops:
        if op.start is None or op.end is None or op.lines <= 0:
            continue
        span = max(op.end - op.start, 1e-6)
        second = int(op.start)
        while second < op.end:
            overlap = min(op.end, second + 1) - max(op.start, second)
            rate[second] = rate.get(second, 0.0) + op.lines * overlap / span
            second += 1
    return sorted((float(s), round(v, 1)) for s, v in rate.items())


async def cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel a sampling task and wait for it to end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
