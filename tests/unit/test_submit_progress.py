"""What ``bulk submit`` shows while it runs: the counters behind the live display, and the plain
lines a log (cron, CI) gets — every event the submission emits must be describable."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from bulk.cli._logs import configure_logging
from bulk.cli._submit_progress import SubmitProgress, describe

ROUTE = SimpleNamespace(kind="bulk", eta_bulk_s=12.0, eta_direct_s=80.0, shards=2)


def plan(lines: int, rows: int, unchanged: int, rejected: int) -> dict[str, Any]:
    stats = {"lines": lines, "rows_in_lines": rows, "unchanged": unchanged, "rejected": rejected}
    return {"plan": stats, "route": ROUTE}


def test_counters_follow_planning_operations_and_direct_lines() -> None:
    out = io.StringIO()
    with SubmitProgress(Console(file=out, force_terminal=False)) as progress:
        progress.event("planned", plan(10, 15, 3, 1))
        progress.event("planned", plan(30, 45, 4, 2))  # cumulative over chunks
        progress.event("shard_started", {"shard": "a", "token": 0, "op": "op1", "lines": 20})
        progress.event("shard_started", {"shard": "b", "token": 1, "op": "op2", "lines": 8})
        progress.event("shard_done", {"status": "COMPLETED", "lines": 20, "retried": 2})
        progress.event("line_done", {"rows": 1})
        progress.event("line_done", {"rows": 2})
    assert (progress.planned_rows, progress.unchanged, progress.rejected) == (51, 4, 2)
    assert (progress.lines_planned, progress.lines_done) == (30, 20)  # 18 by the operation, 2 direct
    assert (progress.ops_running, progress.ops_done) == (1, 1)


def test_a_log_gets_one_plain_line_per_event_but_not_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0, "plain")
    with SubmitProgress(Console(file=io.StringIO(), force_terminal=False, width=200)) as progress:
        progress.event("simulated", {"products": 1000, "plan": "standard"})
        progress.event("planned", plan(10, 15, 3, 1))
        progress.event("line_done", {"rows": 1})
        progress.event("resumed", {"run": 7})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO bulk\.progress: "
    assert all(re.match(stamp, line) for line in lines), lines  # timestamped, markup stripped
    assert "SIMULATED shop" in lines[0] and "no real shop is touched" in lines[0] and "[bold" not in lines[0]
    assert "10 mutation lines for 15 rows" in lines[1] and "route bulk" in lines[1]
    assert lines[2].endswith("bulk.progress: resuming run 7")


def test_json_log_lines_carry_the_event_name_as_action(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0, "json")
    with SubmitProgress(Console(file=io.StringIO(), force_terminal=False)) as progress:
        progress.event("resumed", {"run": 7})
    record = json.loads(capsys.readouterr().err)
    assert (record["action"], record["run"], record["message"]) == ("resumed", 7, "resuming run 7")
    assert record["level"] == "info" and record["ts"].endswith("Z")


def test_every_lane_event_has_a_sentence() -> None:
    events: dict[str, dict[str, object]] = {
        "shard_started": {"token": 2, "lines": 5},
        "shard_adopted": {"op": "gid://shopify/BulkOperation/1"},
        "shard_done": {"status": "COMPLETED", "lines": 5},
        "sharded": {"shards": 2, "lines": 9},
        "catalog_synced": {"lines": 3000},
        "input_read": {"rows": 3000},
        "run_done": {"run": 4},
        "start_limit_reached": {"ident": "k/variants-1", "token": 1},
    }
    for name, data in events.items():
        assert describe(name, data) != name.replace("_", " "), name
