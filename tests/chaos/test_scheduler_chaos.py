"""Chaos: 16 worker processes share one Redis scheduler while we kill -9 and SIGSTOP them.

The simulator is the referee: it refuses (and counts) every request beyond its hard cap of 8, and
integrates in-flight over time. Invariants 3 and 4: zero violations, and permits of dead or paused
workers come back. Were a dead worker's permits never returned, kills would leak the cap and
in-flight would fall towards 0. Two checks tell that apart on any machine, however loaded:

- after the chaos every worker is killed, and a fresh client then holds the whole cap at once: a
  permit leaked for good never comes back, however long it waits (the scheduler's own state, not
  how busy 16 workers on a loaded box manage to keep the shop);
- chaos and calm alternate (``CHAOS_WINDOW`` seconds of kills and pauses and their aftermath, then
  ``CALM_WINDOW`` seconds of none), and the chaos windows' time-averaged in-flight is at least 80 %
  of the calm windows'. What the kills and pauses cost is measured against the machine as it is, at
  the same moments: the average itself follows the machine's load (7.36 of 8 at load 3, 5.9 of 8 at
  load 20-25 on the 2-core box), and a calm run measured once, after the chaos, failed when the load
  changed in between (0.79).

``BULK_CHAOS_SECONDS`` shortens the chaos for local use; CI runs the full 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench._stats import loop_lag
from bulk.scheduler import Scheduler
from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler.backends.redis_backend import RedisBackend
from bulk.sim import SimConfig, SimShop
from bulk.sim._faults import Fault

WORKERS = 16
CAP = 8
# A dead or paused worker's permits come back when its lease ends, so the lease is what the chaos
# costs (at 1.5 s: 91 % of the cap; at 0.8 s: 92-95 %; at 0.7 s with the short waiter TTL below:
# 95-96 % on a quiet box). A worker sends only with NEED seconds of lease left, and the shop answers
# in at most 0.35 s: 0.15 s of slack for the referee to handle a request late (its loop ran at most
# ~120 ms late in full-suite runs beside a benchmark). The heartbeat renews every WAITER_TTL / 3:
# ~0.17 s of lateness before a send is refused. (The lease was 1.5 s for a while, for violations on
# a loaded box that two bugs explain since: a stale hand-over and a request sent in two writes,
# docs/scheduler.md.)
LEASE = 0.7
NEED = 0.5
# A paused or dead worker's waiter first in line is skipped after this: until then, permits freed
# are handed to it and wait out its lease (at 0.2 s and lease 0.8 s: 24-28 permits came back by lease
# a minute; at 0.1 s and 0.7 s: 14-23).
WAITER_TTL = 0.1
# The referee, the simulated shop, runs in this process: the workers yield the CPU to it, so that how
# late it handles a request does not follow the 16 workers' load. A late worker only renews or sends
# late, which its own lease check makes safe.
WORKER_NICE = 10
SHOP = "chaos"
CHAOS_WINDOW = 10.0
CALM_WINDOW = 4.0  # right after a chaos window and its aftermath: a calm fleet at full strength
CHAOS_SHARE = 0.8  # the chaos windows' average in-flight, at least this share of the calm windows'
REFILL_TIMEOUT = 60.0  # a hang guard only: the cap comes back within one lease, or never

pytestmark = [pytest.mark.chaos, pytest.mark.redis]


class RequestsWithinTheLease:
    """Requests of 0.15-0.35 s (a mutation's usual time, 0.25 s on average), never longer than the
    lease a worker makes sure of before it sends one (NEED). That is the scheme's premise: a paused
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
            "--max-in-flight", str(CAP), "--lease", str(LEASE), "--need", str(NEED),
            "--waiter-ttl", str(WAITER_TTL), "--concurrency", "3", "--nice", str(WORKER_NICE),
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


async def holds_the_whole_cap(redis_url: str) -> bool:
    """Whether a fresh client of the shop's scheduler gets ``CAP`` permits at once once every worker
    is dead: their permits end with their leases, while one leaked for good never would."""
    sched = Scheduler.redis(redis_url, shop=SHOP, token_count=3, max_in_flight=CAP, lease=LEASE)
    async with sched, contextlib.AsyncExitStack() as held:
        try:
            async with asyncio.timeout(REFILL_TIMEOUT):
                await asyncio.gather(*(held.enter_async_context(sched.acquire(1)) for _ in range(CAP)))
        except TimeoutError:
            return False
        return True


async def sim_stats(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/_sim/stats") as response:
        stats: dict[str, Any] = await response.json()
        return stats


class Windows:
    """The referee's figures over back-to-back windows of chaos and calm. The shop's statistics are
    reset once and only read after: its counts (violations above all) cover every moment, and each
    window's in-flight time is the difference of the shop's running total at its two ends."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session, self._url = session, url
        self.area = {"chaos": 0.0, "calm": 0.0}  # in-flight x seconds
        self.seconds = {"chaos": 0.0, "calm": 0.0}
        self._since = self._last_at = 0.0
        self._last_area = 0.0
        self.stats: dict[str, Any] = {}  # the shop's, since the start: totals and concurrency

    async def start(self) -> None:
        async with self._session.post(self._url + "/_sim/reset-stats") as response:
            assert response.status < 300
        self._since = self._last_at = time.monotonic()

    async def end(self, kind: str) -> None:
        """The window since the last one ended (or the start) was of ``kind``."""
        self.stats = await sim_stats(self._session, self._url)
        now = time.monotonic()
        area = self.stats["concurrency"]["avg_in_flight"] * (now - self._since)
        self.area[kind] += area - self._last_area
        self.seconds[kind] += now - self._last_at
        self._last_at, self._last_area = now, area

    def average(self, kind: str) -> float:
        return self.area[kind] / self.seconds[kind]


@pytest.mark.timeout(300)
async def test_cap_holds_and_stays_busy_while_workers_die_and_hang(redis_url: str, tmp_path: Path) -> None:
    duration = float(os.environ.get("BULK_CHAOS_SECONDS", "60"))
    rng = random.Random(int(os.environ.get("BULK_CHAOS_SEED", "7")))
    config = SimConfig(products=10, max_concurrency=CAP, seed=1)
    async with SimShop(config) as shop, aiohttp.ClientSession() as session:
        shop.app.faults = RequestsWithinTheLease(random.Random(1))  # type: ignore[assignment]
        fleet = Fleet(redis_url, shop.graphql_url, ",".join(config.tokens), tmp_path)
        windows = Windows(session, shop.url)
        pauses: set[asyncio.Task[None]] = set()
        stopped = asyncio.Event()
        try:
            for _ in range(WORKERS):
                await fleet.spawn()
            warm_until = time.monotonic() + 180  # a hang guard: 16 processes start slowly on a loaded box
            while (await sim_stats(session, shop.url))["concurrency"]["in_flight"] < CAP:
                assert time.monotonic() < warm_until, "workers never filled the cap"
                await asyncio.sleep(0.1)
            lags: list[float] = []  # how late the referee's loop (this process's) ran: printed below
            lagging = asyncio.create_task(loop_lag(lags, stopped, interval_s=0.01))
            await windows.start()
            for _ in range(max(1, round(duration / CHAOS_WINDOW))):
                started = time.monotonic()
                while time.monotonic() < started + CHAOS_WINDOW:
                    await asyncio.sleep(rng.uniform(0.75, 2.25))
                    if rng.random() < 0.5:
                        await fleet.kill_one(rng)
                    elif len(fleet.stopped) < 3:
                        # Half the pauses outlast the lease: those workers' permits must come back.
                        seconds = rng.uniform(0.1, LEASE) if rng.random() < 0.5 else rng.uniform(LEASE, 4)
                        task = asyncio.create_task(fleet.pause_one(rng, seconds))
                        pauses.add(task)
                        task.add_done_callback(pauses.discard)
                # the chaos's aftermath is its own: every paused worker continued, a lease gone by
                await asyncio.gather(*list(pauses), return_exceptions=True)
                await asyncio.sleep(LEASE)
                await windows.end("chaos")
                await asyncio.sleep(CALM_WINDOW)  # nobody killed or paused
                await windows.end("calm")
            stopped.set()
            await lagging
            assert not fleet.crashed(), f"workers crashed: see {tmp_path}"
        finally:
            stopped.set()  # (the loop-lag probe ends with the test, whatever ended it)
            for task in list(pauses):
                task.cancel()
            await asyncio.gather(*pauses, return_exceptions=True)
            await fleet.close()
    whole_cap = await holds_the_whole_cap(redis_url)  # every worker dead now: their permits must end
    backend = RedisBackend(redis_url, shop=SHOP, config=SchedulerConfig(token_count=3, max_in_flight=CAP))
    await backend.open("chaos-observer")
    try:
        sched = await backend.snapshot()
    finally:
        await backend.close()
    chaos, calm = windows.average("chaos"), windows.average("calm")
    concurrency, totals = windows.stats["concurrency"], windows.stats["totals"]
    summary = (
        f"chaos {windows.seconds['chaos']:.0f}s: kills={fleet.kills} stops={fleet.stops} "
        f"requests={totals['requests']} avg_in_flight={chaos:.3f} "
        f"max_in_flight={concurrency['max_in_flight']} violations={concurrency['violations']} "
        f"expired_permits={sched.expired_permits} throttled={totals['throttled']} "
        f"calm_avg_in_flight={calm:.3f} chaos/calm={chaos / calm:.3f} "
        f"whole_cap_after={whole_cap} referee_lag_max_ms={max(lags, default=0):.0f}"
    )
    print(summary)
    (tmp_path / "summary.txt").write_text(summary + "\n")  # kept when pytest-xdist swallows the print
    assert fleet.kills >= duration / 8 and fleet.stops >= duration / 8
    assert concurrency["violations"] == 0
    assert concurrency["max_in_flight"] <= CAP
    assert sched.expired_permits > 0  # dead and paused holders' permits really came back by lease
    assert whole_cap, "a fresh client never held the whole cap after every worker died: permits leaked"
    # what the kills and pauses cost, against the same fleet on the same machine at the same time
    # (see the module docstring): a load-independent figure, unlike the average itself
    assert chaos >= CHAOS_SHARE * calm
