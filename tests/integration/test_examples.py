"""The examples in examples/ run as documented, against the simulated shop."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from aiohttp.test_utils import TestClient, TestServer

REPO = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slow_generator_applies_every_batch() -> None:
    env = {**os.environ, "EXAMPLE_BATCHES": "3", "EXAMPLE_BATCH_ROWS": "50", "EXAMPLE_QUERY_SECONDS": "0.1"}
    env.pop("SHOPIFY_SHOP", None)
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "slow_generator.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard: 85 s were seen on a loaded box
        check=True,
    )
    assert "done: {'applied': 150, 'unchanged': 0, 'rejected': 0, 'rows': 150}" in done.stdout


def test_nightly_prices_reports_bad_rows_and_exits_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPIFY_SHOP"}
    env["PYTHONPATH"] = str(REPO)  # this checkout's package, whatever `pip install -e` points at
    prices = tmp_path / "bad-rows.csv"  # a copy: a real shop's report would go beside its input
    shutil.copy(REPO / "fixtures" / "bad-rows.csv", prices)
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "nightly_prices.py"), str(prices)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard: 85 s were seen on a loaded box
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "'rejected': 3" in done.stdout
    (report,) = [Path(line.removeprefix("report: ")) for line in done.stdout.splitlines()
                 if line.startswith("report: ")]
    assert report.name == "bad-rows.report.csv" and report.is_file()
    assert report.parent != tmp_path  # a sim:// rehearsal never writes beside its input


async def test_webhook_sets_inventory_and_refuses_a_stale_change() -> None:
    example = load("webhook_inventory")
    async with TestClient(TestServer(example.make_app())) as client:
        ok = await client.post(
            "/inventory", json={"sku": "SKU-0000001-0", "location": "Main Warehouse", "quantity": 7}
        )
        assert ok.status == 200 and (await ok.json())["status"] == "applied"
        stale = await client.post(
            "/inventory",
            json={"sku": "SKU-0000001-0", "location": "Main Warehouse", "quantity": 9, "change_from": 3},
        )
        assert stale.status == 409 and (await stale.json())["status"] == "stale"
