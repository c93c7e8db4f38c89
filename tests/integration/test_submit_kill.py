"""Acceptance: `bulk submit` killed with SIGKILL mid-run, then the same command again.

Real processes: a `bulk sim` server and two `bulk submit` runs sharing a state directory and journal.
The first run is killed as soon as a bulk operation has started; the second must finish the run, adopt
that operation instead of starting it again, and give every row exactly one outcome.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

TOKENS = "kill-a,kill-b,kill-c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{url}/_sim/stats") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the simulator did not start")


async def stats(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_sim/stats") as resp:
        data: dict[str, object] = await resp.json()
        return data


def submit_args(file: Path, url: str, state: Path) -> list[str]:
    return [sys.executable, "-m", "bulk", "submit", str(file), "--shop", url, "--tokens", TOKENS,
            "--route", "bulk", "--state-dir", str(state), "--journal", str(state / "journal.sqlite3"),
            "--lease-s", "3", "--json"]


@pytest.mark.timeout(180)
async def test_a_killed_submit_resumes_without_applying_twice(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # slow bulk operations, so the kill lands while one runs
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulk", "sim", "--port", str(port), "--products", "2000", "--tokens", TOKENS,
        "--bulk-lines-per-s", "300", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_until_up(url)
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
        shop_state = (await stats(url))["shop"]
        assert isinstance(shop_state, dict)
        assert shop_state["objects_written_more_than_once"] == 0
        assert shop_state["objects_written"] == len(rows)
    finally:
        sim.send_signal(signal.SIGTERM)
        await sim.wait()
