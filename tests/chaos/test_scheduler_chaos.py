"""Chaos: 16 worker processes share one Redis scheduler while we kill -9 and SIGSTOP them.

The simulator is the referee: it refuses (and counts) every request beyond its hard cap of 8, and
integrates in-flight over time. Invariants 3 and 4: zero violations, and permits of dead or paused
workers come back: time-averaged in-flight stays >= 75 % of the cap while work always waits. Were a
dead worker's permits never returned, three kills would leak the whole cap and in-flight would fall
towards 0; 75 % tells the two apart on any machine. The figure itself (92-95 % on the 2-core box: a
paused holder keeps up to 3 permits for up to a lease) depends on how loaded the machine is, so it is
printed and recorded in docs/scheduler.md, not asserted at a bar the load can cross.

``BULK_CHAOS_SECONDS`` shortens the run for local use; CI runs the full 60 s.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler.backends.redis_backend import RedisBackend
from bulk.sim import SimConfig, SimShop
from bulk.sim._faults import Fault

WORKERS = 16
CAP = 8
LEASE = 0.8
SHOP = "chaos"

pytestmark = [pytest.mark.chaos, pytest.mark.redis]


class RequestsWithinTheLease:
    """Requests of 0.15-0.35 s (a mutation's usual time, 0.25 s on average), never longer than the
    0.4 s of lease a worker makes sure of before it sends one. That is the scheme's premise: a paused
    (SIGSTOP) worker cannot cancel what it already sent, so a request outliving its lease while its
    permit is re-granted is a violation no scheduler can prevent (docs/scheduler.md). The simulator's
    own lognormal latency has a tail: at a 0.25 s mean, 12 % of requests take over 0.4 s."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def latency_s(self) -> float:
        return self._rng.uniform(0.15, 0.35)

    def fault(self) -> Fault:
        return Fault.NONE


class Fleet:
    """The worker processes: start, kill -9, stop, continue, replace."""

    def __init__(self, redis_url: str, graphql_url: str, tokens: str, logs: Path) -> None:
        self.logs = logs
        self.args = [
            sys.executable, "-m", "bulk.scheduler._chaos_worker",
            "--redis", redis_url, "--shop", SHOP, "--graphql-url", graphql_url,
            "--max-in-flight", str(CAP), "--lease", str(LEASE), "--waiter-ttl", "0.2", "--concurrency", "3",
        ]  # fmt: skip
        self.env = {**os.environ, "BULK_CHAOS_TOKENS": tokens}
        self.procs: list[asyncio.subprocess.Process] = []
        self.stopped: set[int] = set()
        self.kills = self.stops = 0

    async def spawn(self) -> None:
        with (self.logs / f"worker-{len(self.procs) + self.kills}.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(*self.args, env=self.env, stdout=log, stderr=log)
        self.procs.append(proc)

    async def kill_one(self, rng: random.Random) -> None:
        proc = rng.choice([p for p in self.procs if p.pid not in self.stopped])
        proc.kill()
        await proc.wait()
        self.procs.remove(proc)
        self.kills += 1
        await self.spawn()  # worker count changes all the time; nothing is configured per worker

    async def pause_one(self, rng: random.Random, seconds: float) -> None:
        proc = rng.choice([p for p in self.procs if p.pid not in self.stopped])
        self.stopped.add(proc.pid)
        proc.send_signal(signal.SIGSTOP)
        self.stops += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGCONT)
            self.stopped.discard(proc.pid)

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            await proc.wait()

    def crashed(self) -> list[int]:
        """Exit codes of workers that died on their own (they should run until killed)."""
        return [p.returncode for p in self.procs if p.returncode is not None and p.returncode != -9]


async def sim_stats(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/_sim/stats") as response:
        stats: dict[str, Any] = await response.json()
        return stats


@pytest.mark.timeout(300)
async def test_cap_holds_and_stays_busy_while_workers_die_and_hang(redis_url: str, tmp_path: Path) -> None:
    duration = float(os.environ.get("BULK_CHAOS_SECONDS", "60"))
    rng = random.Random(int(os.environ.get("BULK_CHAOS_SEED", "7")))
    config = SimConfig(products=10, max_concurrency=CAP, seed=1)
    async with SimShop(config) as shop, aiohttp.ClientSession() as session:
        shop.app.faults = RequestsWithinTheLease(random.Random(1))  # type: ignore[assignment]
        fleet = Fleet(redis_url, shop.graphql_url, ",".join(config.tokens), tmp_path)
        pauses: set[asyncio.Task[None]] = set()
        try:
            for _ in range(WORKERS):
                await fleet.spawn()
            warm_until = time.monotonic() + 180  # a hang guard: 16 processes start slowly on a loaded box
            while (await sim_stats(session, shop.url))["concurrency"]["in_flight"] < CAP:
                assert time.monotonic() < warm_until, "workers never filled the cap"
                await asyncio.sleep(0.1)
            async with session.post(shop.url + "/_sim/reset-stats") as response:
                assert response.status < 300
            end = time.monotonic() + duration
            while time.monotonic() < end:
                await asyncio.sleep(rng.uniform(0.75, 2.25))
                if rng.random() < 0.5:
                    await fleet.kill_one(rng)
                elif len(fleet.stopped) < 3:
                    # Half the pauses outlast the lease: those workers' permits must come back.
                    seconds = rng.uniform(0.1, LEASE) if rng.random() < 0.5 else rng.uniform(LEASE, 4)
                    task = asyncio.create_task(fleet.pause_one(rng, seconds))
                    pauses.add(task)
                    task.add_done_callback(pauses.discard)
            stats = await sim_stats(session, shop.url)
            assert not fleet.crashed(), f"workers crashed: see {tmp_path}"
        finally:
            for task in list(pauses):
                task.cancel()
            await asyncio.gather(*pauses, return_exceptions=True)
            await fleet.close()
    backend = RedisBackend(redis_url, shop=SHOP, config=SchedulerConfig(token_count=3, max_in_flight=CAP))
    await backend.open("chaos-observer")
    try:
        sched = await backend.snapshot()
    finally:
        await backend.close()
    concurrency = stats["concurrency"]
    print(
        f"chaos {duration:.0f}s: kills={fleet.kills} stops={fleet.stops} "
        f"requests={stats['totals']['requests']} avg_in_flight={concurrency['avg_in_flight']} "
        f"max_in_flight={concurrency['max_in_flight']} violations={concurrency['violations']} "
        f"expired_permits={sched.expired_permits} throttled={stats['totals']['throttled']}"
    )
    assert fleet.kills >= duration / 8 and fleet.stops >= duration / 8
    assert concurrency["violations"] == 0
    assert concurrency["max_in_flight"] <= CAP
    assert sched.expired_permits > 0  # dead and paused holders' permits really came back by lease
    assert concurrency["avg_in_flight"] >= 0.75 * CAP  # permits came back (see the module docstring)
