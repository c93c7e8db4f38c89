"""Chaos: our own infrastructure fails too. Two ``bulk worker`` processes apply a bulk submission while
the real Redis (the shared scheduler) and then the real PostgreSQL (the shared journal) are restarted
under them. The servers are this test's own, started and stopped with ``scripts/servers.sh`` (the same
functions the suite's servers come from), so the rest of the suite — running beside it under
pytest-xdist — never loses its connections to a restart.

What users rely on: while Redis is away nothing is sent to the shop (no permit, no request: we fail
closed); work resumes when it is back (Redis restarts empty: ``--save ''``); the journal's restart
loses nothing; at the end every row has exactly one outcome, applied, and the shop wrote no object
twice. Real time by nature: the servers and workers are real processes.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import psycopg
import pytest

from bulk.cli._request import SubmitRequest, submit_file
from bulk.journal import RunStatus, open_journal
from bulk.journal.migrations import upgrade_postgres
from bulk.lanes.bulk import BulkLaneConfig
from bulk.sim import SimConfig, SimShop
from tests.csv_helpers import seeded_price_csv
from tests.ports import reserve

TOKENS = ("infra-a", "infra-b", "infra-c")
PRODUCTS = range(1, 601)  # 1,200 rows: product p has 1 + p % 3 variants
OUTAGE_S = 2.0


REPO = Path(__file__).resolve().parents[2]


class Servers(NamedTuple):
    directory: Path  # $BULK_SERVERS_DIR: redis.pid, pg/data, pg/log
    redis_url: str
    database_url: str  # the server's admin database


def _servers_sh(script: str, **env: str) -> str:
    return subprocess.run(["bash", "-c", f"source scripts/servers.sh && {script}"], cwd=REPO, check=True,
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120).stdout


@pytest.fixture
def servers() -> Iterator[Servers]:
    """A Redis and a PostgreSQL of this test's own (``start_servers`` on free ports), stopped after."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not found")
    out = _servers_sh('start_servers >/dev/null && printf "%s\\n" "$BULK_SERVERS_DIR" "$BULK_TEST_REDIS_URL" '
                      '"$BULK_TEST_DATABASE_URL"', BULK_TEST_REDIS_PORT="0", BULK_TEST_PG_PORT="0")
    directory, redis_url, database_url = out.split()
    try:
        yield Servers(Path(directory), redis_url, database_url)
    finally:
        _servers_sh("stop_servers", BULK_SERVERS_DIR=directory)


def _as_pg(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def _pg_ctl() -> str:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        pytest.skip("pg_ctl not found")
    return candidates[-1]


def stop_redis(directory: Path, redis_url: str) -> int:
    """Stop the test's Redis; returns its port."""
    port = urlsplit(redis_url).port
    assert port is not None
    pid = int((directory / "redis.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return port
        time.sleep(0.05)
    raise AssertionError("redis did not stop")


def start_redis(directory: Path, port: int) -> None:
    """Start it again as scripts/servers.sh does (empty: it saves nothing)."""
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                    "no", "--daemonize", "yes", "--pidfile", str(directory / "redis.pid"), "--logfile",
                    str(directory / "redis.log"), "--databases", "64"], check=True)
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError("redis did not come back")


def restart_postgres(directory: Path) -> None:
    """``pg_ctl restart -m fast``: every connection is cut; the data stays."""
    # -l: the restarted server logs to its file (it would otherwise hold our pipes open forever)
    data, log = directory / "pg" / "data", directory / "pg" / "log"
    subprocess.run(_as_pg(_pg_ctl(), "-D", str(data), "-l", str(log), "-m", "fast", "-w", "restart"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def price_file(path: Path) -> int:
    return seeded_price_csv(path, PRODUCTS, lambda p, v: f"{700 + p % 50}.{v}5")


async def attempts(sim: SimShop) -> int:
    return int(sim.stats()["totals"]["attempts"])


@pytest.mark.timeout(600)  # a hang guard: real servers and processes, on a machine of any load
async def test_redis_and_postgres_restarted_mid_run_lose_nothing_and_send_nothing_without_a_permit(
        tmp_path: Path, servers: Servers) -> None:
    directory = servers.directory
    database_url = servers.database_url.rsplit("/", 1)[0] + "/infra"
    redis_url = servers.redis_url.rsplit("/", 1)[0] + "/1"
    async with await psycopg.AsyncConnection.connect(servers.database_url, autocommit=True) as admin:
        await admin.execute("CREATE DATABASE infra")
    await upgrade_postgres(database_url)
    config = SimConfig(products=len(PRODUCTS), tokens=TOKENS, seed=11, bulk_lines_per_s=60.0,
                       max_concurrency=8)
    async with SimShop(config) as sim:
        file = tmp_path / "prices.csv"
        rows = price_file(file)
        request = SubmitRequest(file=file, shop=sim.url, tokens=TOKENS, route="bulk",
                                state_dir=tmp_path / "st", database_url=database_url, redis_url=redis_url,
                                lane=BulkLaneConfig(min_op_lines=50))
        await submit_file(request)  # planned and enqueued; the workers apply it
        env = {**os.environ, "SHOPIFY_ACCESS_TOKENS": ",".join(TOKENS)}
        args = [sys.executable, "-m", "bulk", "worker", "--database-url", database_url, "--redis-url",
                redis_url, "--shop", sim.url, "--lease-s", "6", "--poll-max-s", "0.5", "--idle-wait-s", "0.3",
                "--shutdown-grace-s", "5"]
        logs = [(tmp_path / f"worker{i}.log").open("wb") for i in range(2)]
        workers = [await asyncio.create_subprocess_exec(*args, env=env, stdout=log, stderr=log)
                   for log in logs]
        restarts = 0

        async def supervise() -> None:
            """A worker that exited (e.g. it could not reach Redis as it started) is started again,
            as its supervisor (systemd, Kubernetes) would."""
            nonlocal restarts
            for i, proc in enumerate(workers):
                if proc.returncode is not None:
                    restarts += 1
                    workers[i] = await asyncio.create_subprocess_exec(*args, env=env, stdout=logs[i],
                                                                      stderr=logs[i])
        try:
            async with open_journal(database_url) as journal:
                (run,) = await journal.list_runs()
                # until the fleet is busy with bulk operations, as the shop sees it (not for a fixed
                # number of polls: on a loaded machine the workers start late, and the outage then
                # came after the run had ended, when there was nothing left to resume)
                guard = time.monotonic() + 180  # a hang guard, not a budget
                while not sim.state.statistics()["bulk_by_status"].get("RUNNING"):
                    current = await journal.get_run(run.run_id)
                    assert current.status is not RunStatus.DONE, "the run ended before any outage"
                    assert time.monotonic() < guard, "the workers started no bulk operation"
                    await asyncio.sleep(0.05)
                port = await asyncio.to_thread(stop_redis, directory, redis_url)
                with reserve(port):  # while Redis is down, no other process on the box takes its port
                    await asyncio.sleep(0.5)  # requests sent under permits granted before the stop finish
                    before = await attempts(sim)
                    await asyncio.sleep(OUTAGE_S)
                    during = await attempts(sim) - before
                    await asyncio.to_thread(start_redis, directory, port)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(restart_postgres, directory)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    await supervise()
                    try:
                        current = await journal.get_run(run.run_id)
                    except Exception:  # the journal's own connection reconnects on the next call
                        await asyncio.sleep(0.2)
                        continue
                    if current.status is RunStatus.DONE:
                        break
                    await asyncio.sleep(0.2)
                final = await journal.get_run(run.run_id)
                outcomes = await journal.list_outcomes(run.run_id)
        finally:
            for proc in workers:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in workers:
                await proc.wait()
            for log in logs:
                log.close()
        stats = sim.stats()
        state = sim.state.statistics()
    assert during == 0, f"{during} requests reached the shop while Redis was away"  # fail closed
    assert stats["totals"]["attempts"] > before  # work resumed once Redis was back
    assert final.status is RunStatus.DONE, (final, restarts)
    assert len(outcomes) == rows and {o.status.value for o in outcomes} == {"applied"}
    assert state["objects_written_more_than_once"] == 0  # nothing written twice
    assert stats["concurrency"]["violations"] == 0  # the shop's hard cap held throughout
    for i in range(2):
        text = (tmp_path / f"worker{i}.log").read_text()
        assert "Traceback" not in text, text[-3000:]
