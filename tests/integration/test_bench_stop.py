"""A benchmark stopped from outside (``kill``, a CI job's timeout) stops the ``bulk sim`` it started:
left running, a shop polls and eats a core beside every later measurement on the box."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parents[2]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_benchmark_stopped_with_sigterm_stops_its_simulated_shop(tmp_path: Path) -> None:
    shops: list[int] = []
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "blackfriday", "--products", "3000", "--prices", "1500",
         "--images", "100", "--json", str(tmp_path / "out.json")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing claim
        while not shops and time.monotonic() < deadline and bench.poll() is None:
            shops = _children(bench.pid)
            time.sleep(0.1)
        assert shops, "the benchmark never started its simulated shop"
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) != 0  # stopped, not finished
        assert not [pid for pid in shops if _alive(pid)]
    finally:
        if bench.poll() is None:
            bench.kill()
        for pid in shops:  # whatever the outcome, no shop is left running on the box
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
