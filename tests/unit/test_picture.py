"""The picture of a run: the timeline built from recorded events (operations per token and slot,
points spent against the budget, lines per second) and the HTML page that names every operation."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser
from pathlib import Path

from bulk.clock import ManualClock
from bulk.scheduler.protocol import SchedulerStatistics, TokenStatistics
from bulk.submit.picture import render_html
from bulk.submit.timeline import RunRecorder, build_timeline, cancelled, load_events


class Cells(HTMLParser):
    """The text of every table cell, table header and SVG text element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.headers: list[str] = []
        self.svg_text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag if tag in ("td", "th", "text") else None

    def handle_data(self, data: str) -> None:
        if self._in == "th":
            self.headers.append(data.strip())
        elif self._in == "td":
            self.cells.append(data.strip())
        elif self._in == "text":
            self.svg_text.append(data.strip())


def started(t: float, n: int, token: int, lines: int) -> tuple[float, str, dict[str, object]]:
    op = f"gid://shopify/BulkOperation/{n}"
    return t, "shard_started", {"op": op, "token": token, "lines": lines, "shard": op}


def finished(t: float, n: int, objects: int) -> tuple[float, str, dict[str, object]]:
    op = f"gid://shopify/BulkOperation/{n}"
    return t, "op_finished", {"op": op, "status": "COMPLETED", "objects": objects}


OPS = [started(0.0, 1, 0, 100), started(0.5, 2, 0, 50), finished(2.0, 1, 100), started(2.5, 3, 0, 10),
       started(1.0, 4, 1, 20), finished(3.0, 2, 50), finished(3.0, 3, 10), finished(3.0, 4, 20)]


def test_an_operation_takes_the_first_slot_of_its_token_that_is_free() -> None:
    tl = build_timeline(OPS)
    slots = {o.op.rsplit("/", 1)[-1]: (o.token, o.slot) for o in tl.ops}
    assert slots == {"1": (0, 0), "2": (0, 1), "3": (0, 0), "4": (1, 0)}  # 3 starts after 1 ended
    assert sum(v for _, v in tl.lines_per_s) == 180  # every line once, spread over its operation


def test_points_spent_are_what_the_bucket_lost_beyond_its_refill() -> None:
    snapshots = [(t, "scheduler", {"in_flight": n, "max_in_flight": 8, "tokens": [[0, level, 2000.0, 100.0]]})
                 for t, n, level in [(0.0, 0, 2000.0), (1.0, 3, 1500.0), (2.0, 8, 1500.0), (3.0, 0, 2000.0)]]
    tl = build_timeline(snapshots)
    assert [round(spent) for _, spent, _ in tl.spent[0]] == [0, 500, 600, 600]  # full bucket: no refill
    assert tl.spent[0][-1][2] == 2300.0  # the budget: the bucket plus 3 s of restore rate
    assert max(n for _, n in tl.in_flight) == tl.max_in_flight == 8


def test_the_page_names_every_operation_in_its_table_and_its_chart() -> None:
    page = Cells()
    page.feed(render_html(build_timeline(OPS), title="run", facts={"run": "k"}))
    for n in "1234":
        assert f"gid://shopify/BulkOperation/{n}" in page.cells
        assert any(t.startswith(f"{n} ·") for t in page.svg_text)
    assert "bulk operations per token and slot (label: operation · lines)" in page.svg_text


def test_the_recorder_keeps_the_last_recording_and_counts_direct_lines(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "events.jsonl"
    first = RunRecorder(path, clock)
    first.record("shard_started", {"op": "old", "token": 0, "lines": 1})
    first.close()  # a run interrupted, then resumed: the picture is of the resumed part
    again = RunRecorder(path, clock)
    for _ in range(3):
        again.listener(lambda _n, _d: None)("line_done", {"rows": 2})
    clock.advance(1.5)
    again.record("urgent_batch", {"latency_s": 0.2, "changes": 4})
    again.close()
    events = load_events(path)
    assert [name for _, name, _ in events] == ["recording_started", "urgent_batch", "line_dones"]
    tl = build_timeline(events)
    assert tl.lines_per_s == [(0.0, 3.0)] and tl.urgent == [(1.5, 0.2, 4)] and tl.ops == []


async def test_each_urgent_batch_is_timed(tmp_path: Path) -> None:
    clock = ManualClock()
    recorder = RunRecorder(tmp_path / "events.jsonl", clock)

    async def send(batch: list[str]) -> list[str]:
        clock.advance(0.25)  # the shop's answer takes a quarter of a second
        return batch

    assert await recorder.timed(send)(["a", "b", "c"]) == ["a", "b", "c"]
    recorder.close()
    assert build_timeline(load_events(tmp_path / "events.jsonl")).urgent == [(0.25, 0.25, 3)]


async def test_the_scheduler_is_sampled_on_the_injected_clock_until_cancelled(tmp_path: Path) -> None:
    clock = ManualClock()
    recorder = RunRecorder(tmp_path / "events.jsonl", clock)
    token = TokenStatistics(index=0, level=1500.0, capacity=2000.0, restore_rate=100.0, outstanding=0.0,
                            learned=True, throttled=0)
    snapshot = SchedulerStatistics(tokens=(token,), in_flight=3, max_in_flight=8, waiters={}, admitted=0,
                                   throttled=0, expired_permits=0, clients=1)
    task = asyncio.create_task(recorder.sample(lambda: snapshot, every_s=0.25))
    await clock.run_until_idle()
    clock.advance(0.25)
    await clock.run_until_idle()
    await cancelled(task)
    recorder.close()
    tl = build_timeline(load_events(tmp_path / "events.jsonl"))
    assert tl.in_flight == [(0.0, 3), (0.25, 3)] and tl.max_in_flight == 8
    assert [t for t, _, _ in tl.spent[0]] == [0.0, 0.25]
