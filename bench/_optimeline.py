"""Where a bulk submission's time goes: a timeline of every bulk operation, from the lane's events.

Why: ``overhead_ratio`` says how far a run is from the shop's own processing time, not why. An
operation holds one of the shop's operation slots (3 tokens × 5) from its start to the poll that saw it
end, and the shop processes its lines at a known pace once it has left CREATED. Every slot-second of
the run (``capacity`` = slots × total time) is one of:

- ``processing``: the shop running lines (lines / pace) — the only useful part;
- ``created``: the shop's CREATED → RUNNING delay, per operation;
- ``late``: the rest of an operation's time: the shop slower than its pace, or the end seen late;
- ``idle_start``: no operation yet (reading and planning the first lines);
- ``idle_gaps``: a slot free between two operations (waiting for lines, cutting, uploading, starting);
- ``idle_tail``: slots free after the last start while the last operations run (an uneven end);
- ``idle_end``: after the last operation ended (results, report).

Times are simulated seconds (real × speed) from the start of the submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Event = tuple[float, str, dict[str, Any]]


@dataclass
class OpTimes:
    """One operation's moments (simulated seconds since the submission started)."""

    lines: int
    claimed: float | None = None
    uploaded: float | None = None  # its file staged: only the start was left (the lead's work done)
    started: float | None = None
    token: int | None = None
    start_s: float | None = None  # from its slot free here to the shop's answer to the start
    start_call_s: float | None = None  # of which the start's call: its permit and the shop's answer
    finished: float | None = None
    done: float | None = None


def op_timeline(events: list[Event], *, t0: float, speed: float) -> list[OpTimes]:
    """The operations of a run, in start order, from ``(real_time, name, data)`` lane events."""
    claimed: dict[str, float] = {}
    uploaded: dict[str, float] = {}
    by_op: dict[str, OpTimes] = {}
    by_ident: dict[str, OpTimes] = {}
    for t, name, data in sorted(events, key=lambda e: e[0]):
        at = (t - t0) * speed
        if name == "shard_claimed":
            claimed[data["ident"]] = at
        elif name == "shard_uploaded":
            uploaded[data["ident"]] = at
        elif name == "shard_started":
            shard = data["shard"]
            op = OpTimes(int(data.get("lines", 0)), claimed.get(shard), uploaded.get(shard), at,
                         data.get("token"), data.get("start_s"), data.get("start_call_s"))
            by_op[data["op"]] = by_ident[shard] = op
        elif name == "op_finished" and data["op"] in by_op:
            by_op[data["op"]].finished = at
        elif name == "shard_done" and data.get("ident") in by_ident:
            by_ident[data["ident"]].done = at
    return sorted(by_op.values(), key=lambda o: o.started or 0.0)


def _spans(ops: list[OpTimes]) -> list[tuple[float, float, int]]:
    """(started, end seen, lines) of every operation that both started and ended."""
    return [(o.started, o.finished, o.lines) for o in ops if o.started is not None and o.finished is not None]


def max_parallel(ops: list[OpTimes]) -> int:
    """The most operations running at once (started, end not yet seen)."""
    moments = sorted([(s, 1) for s, _, _ in _spans(ops)] + [(f, -1) for _, f, _ in _spans(ops)])
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    return peak


def _idle(spans: list[tuple[float, float, int]], slots: int, start: float, end: float) -> float:
    """Slot-seconds with no operation running between ``start`` and ``end``."""
    if end <= start:
        return 0.0
    busy = sum(max(0.0, min(f, end) - max(s, start)) for s, f, _ in spans)
    return slots * (end - start) - busy


def breakdown(ops: list[OpTimes], *, total_s: float, slots: int, lines_per_s: float,
              created_s: float = 1.0) -> dict[str, float]:
    """Slot-seconds of the run by what the slot was doing (see the module docstring)."""
    spans = _spans(ops)
    if not spans:
        return {"capacity": round(total_s * slots, 1)}
    processing = sum(lines / lines_per_s for _, _, lines in spans)
    held = sum(f - s for s, f, _ in spans)
    first = min(s for s, _, _ in spans)
    last_start = max(s for s, _, _ in spans)
    last = max(f for _, f, _ in spans)
    out = {
        "capacity": total_s * slots,
        "processing": processing,
        "created": created_s * len(spans),
        "late": held - processing - created_s * len(spans),
        "idle_start": slots * first,
        "idle_gaps": _idle(spans, slots, first, last_start),
        "idle_tail": _idle(spans, slots, last_start, last),
        "idle_end": slots * (total_s - last),
        "first_start_s": first,
        "last_start_s": last_start,
        "last_finish_s": last,
    }
    return {k: round(v, 1) for k, v in out.items()}


def describe(ops: list[OpTimes]) -> list[dict[str, Any]]:
    """The timeline as JSON rows (rounded), for ``--json``."""
    return [{"lines": o.lines, "claimed": _r(o.claimed), "uploaded": _r(o.uploaded), "started": _r(o.started),
             "token": o.token, "start_s": o.start_s, "start_call_s": o.start_call_s,
             "finished": _r(o.finished), "done": _r(o.done)} for o in ops]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
