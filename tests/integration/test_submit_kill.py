"""Acceptance: `bulk submit` killed with SIGKILL (or interrupted with Ctrl-C) mid-run, then the same
command again.

Real processes: a `bulk sim` server and two `bulk submit` runs sharing a state directory and journal.
The first run is stopped as soon as a bulk operation has started; the second must finish the run, adopt
that operation instead of starting it again, and give every row exactly one outcome. The Ctrl-C case is
issue 15's report (the re-run hung once the operations it adopted had ended before it planned their
lines again; without the fix it times out here).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from bench._simproc import sim_process, sim_stats

TOKENS = "kill-a,kill-b,kill-c"


def interruptible() -> None:
    """In the child: SIGINT as in a terminal, whatever the suite inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def submit_args(file: Path, url: str, state: Path) -> list[str]:
    return [sys.executable, "-m", "bulk", "submit", str(file), "--shop", url, "--tokens", TOKENS,
            "--route", "bulk", "--state-dir", str(state), "--journal", str(state / "journal.sqlite3"),
            "--lease-s", "3", "--json"]


@pytest.mark.timeout(180)
async def test_a_killed_submit_resumes_without_applying_twice(tmp_path: Path) -> None:
    # slow bulk operations, so the kill lands while one runs
    async with sim_process("--products", "2000", "--tokens", TOKENS, "--bulk-lines-per-s", "300") as url:
        file = tmp_path / "prices.csv"
        rows = [(f"SKU-{p:07d}-{v}", f"{100 + p % 50}.00") for p in range(1, 1201) for v in range(1 + p % 3)]
        with file.open("w", newline="") as f:
            csv.writer(f).writerows([("sku", "price"), *rows])
        state = tmp_path / "state"
        env = {**os.environ, "BULK_LOG": "info"}
        first = await asyncio.create_subprocess_exec(*submit_args(file, url, state), env=env,
                                                     stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.PIPE)
        assert first.stderr is not None
        async for raw in first.stderr:  # the progress lines; kill once an operation has started
            if b"bulk operation started" in raw:
                first.send_signal(signal.SIGKILL)
                break
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        second = await asyncio.create_subprocess_exec(*submit_args(file, url, state), env=env,
                                                      stdout=asyncio.subprocess.PIPE,
                                                      stderr=asyncio.subprocess.PIPE)
        out, err = await second.communicate()
        assert second.returncode == 0, err.decode()[-2000:]
        result = json.loads(out)
        assert result["summary"] == {"applied": len(rows), "unchanged": 0, "rejected": 0, "rows": len(rows)}
        shop_state = (await sim_stats(url))["shop"]
        assert isinstance(shop_state, dict)
        assert shop_state["objects_written_more_than_once"] == 0
        assert shop_state["objects_written"] == len(rows)


async def wait_for_no_running_operation(url: str) -> None:
    """The shop finishes what it was given after the client went away: wait until it has (1,800
    tries: a hang guard, not a budget)."""
    for _ in range(1800):
        shop_state = (await sim_stats(url))["shop"]
        assert isinstance(shop_state, dict)
        if not {"CREATED", "RUNNING"} & set(shop_state["bulk_by_status"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the simulated shop's operations did not end")


@pytest.mark.timeout(240)
async def test_ctrl_c_then_the_same_command_finishes_a_file_with_held_lines(tmp_path: Path) -> None:
    """Issue 15: Ctrl-C of a run, the shop finishes the operations it had, then the same command.

    The file holds two rows per product (variant 0, then variant 1 past the first 5,000-row chunk), so
    the second chunk's lines wait behind the first chunk's: what the re-run must release, when the
    operations it adopts have ended already. Every row one outcome, nothing written twice."""
    async with sim_process("--products", "7500", "--tokens", TOKENS, "--bulk-lines-per-s", "2500") as url:
        file = tmp_path / "prices.csv"
        multi = [p for p in range(1, 7501) if p % 3]  # 5,000 products with two or three variants
        rows = [(f"SKU-{p:07d}-{v}", f"{200 + p % 50}.00") for v in (0, 1) for p in multi]
        with file.open("w", newline="") as f:
            csv.writer(f).writerows([("sku", "price"), *rows])
        state = tmp_path / "state"
        env = {**os.environ, "BULK_LOG": "info"}
        # Ctrl-C as in a terminal: a suite started in the background (nohup, `&` without job control)
        # hands its children SIGINT ignored, and the first run then finished (exit 0, not 130)
        first = await asyncio.create_subprocess_exec(*submit_args(file, url, state), env=env,
                                                     stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.PIPE,
                                                     preexec_fn=interruptible)
        assert first.stderr is not None
        async for raw in first.stderr:
            if b"bulk operation started" in raw:
                first.send_signal(signal.SIGINT)  # Ctrl-C
                break
        await first.communicate()
        assert first.returncode == 130  # EXIT_INTERRUPTED
        await wait_for_no_running_operation(url)
        second = await asyncio.create_subprocess_exec(*submit_args(file, url, state), env=env,
                                                      stdout=asyncio.subprocess.PIPE,
                                                      stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(second.communicate(), 120)
        assert second.returncode == 0, err.decode()[-2000:]
        result = json.loads(out)
        assert result["summary"] == {"applied": len(rows), "unchanged": 0, "rejected": 0, "rows": len(rows)}
        with (tmp_path / "prices.report.csv").open(newline="") as f:
            lines = [int(r["line"]) for r in csv.DictReader(f)]
        assert sorted(lines) == list(range(2, len(rows) + 2))
        shop_state = (await sim_stats(url))["shop"]
        assert isinstance(shop_state, dict)
        assert shop_state["objects_written_more_than_once"] == 0
        assert shop_state["objects_written"] == len(rows)
