"""Fleet throughput: 1, 2, 4 and 8 ``bulk worker`` processes on the same simulated shop.

Why this measure: the shop (or a downstream API) allows at most ``--cap`` requests in flight, and the
fleet shares one scheduler (Redis) and one journal (Postgres). Adding workers must never exceed the
cap (``cap_violations``, counted by the simulator: the referee) and must keep it full while work waits
(``utilization`` = the simulator's time-averaged in-flight count / cap, from the moment the work is
enqueued to the moment the last request is answered).

The work is direct price mutations (one variant each), cut into journal batches every worker claims
from. Each measurement gets a fresh shop of the same configuration and a fresh journal database; the
workers are started, seen alive in the journal, and only then is the work enqueued, so process start-up
is not counted. Every request also pays ~5 ms outside the shop (two Redis round trips for its permit,
the HTTP client), which is why the latency matters: at 100 ms utilization is ~0.95, at 40 ms ~0.85-0.9.
``enqueue_to_claim_p50_ms`` / ``_max_ms``: after the main measurement, ``--probes`` single units are
enqueued one at a time into the idle fleet (each once the previous one is done, after a short random
pause) and the time from the start of ``add_units`` to the moment the unit is seen claimed is taken
(seen by polling the unit every 2 ms from here: a few ms of the figure are the probe's own). Idle
workers wait for the journal's LISTEN/NOTIFY notices; their fallback re-check (``--idle-wait-s``,
5 s here) is far longer than the figure, so it measures the notice, not a poll.
``idle_slot_s`` says where the cap's slots sat empty (slot-seconds): ``ramp`` before the cap was
first full, ``tail`` after it was last full, ``gaps`` between, split into ``gaps_queued`` (requests
waited for a permit meanwhile: the release -> hand-over -> send chain across processes) and
``gaps_unasked`` (no request waited: between units, journal writes, the workers' own loops).
Needs PostgreSQL and Redis: ``--database-url`` (an admin URL: a database is created per
measurement) and ``--redis-url``, or ``BULK_TEST_DATABASE_URL`` / ``BULK_TEST_REDIS_URL`` as set by
``source scripts/servers.sh; start_servers``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from bulk.journal import Journal, RunStatus, UnitState, open_journal
from bulk.journal.migrations import upgrade_postgres
from bulk.lanes.direct import direct_units
from bulk.plan import PlannedLine
from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler.backends.redis_backend import RedisBackend
from bulk.sim import SimConfig, SimShop
from bulk.submit.options import shop_id

TOKENS = ("shpat_fleet_0", "shpat_fleet_1", "shpat_fleet_2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench fleet``."""
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts to measure (default 1,2,4,8)")
    parser.add_argument("--lines", type=int, default=1200, help="price mutations per measurement")
    parser.add_argument("--batch", type=int, default=50, help="lines per journal unit (default 50)")
    parser.add_argument("--cap", type=int, default=8, help="the shop's hard in-flight cap (default 8)")
    parser.add_argument("--latency-ms", type=float, default=200.0,
                        help="simulated mean latency; Shopify mutations take ~150-400 ms (default 200)")
    parser.add_argument("--plan", default="enterprise", help="simulated plan (default enterprise)")
    parser.add_argument("--probes", type=int, default=20,
                        help="single units enqueued into the idle fleet to time enqueue-to-claim")
    parser.add_argument("--idle-wait-s", type=float, default=5.0,
                        help="the workers' fallback re-check when idle (notices wake them sooner)")
    parser.add_argument("--database-url", default=os.environ.get("BULK_TEST_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BULK_TEST_REDIS_URL"))


def _lines(n: int) -> list[PlannedLine]:
    return [PlannedLine("variants", {"productId": f"gid://shopify/Product/{p}", "variants": [
        {"id": f"gid://shopify/ProductVariant/{p * 10}", "price": f"{100 + p % 50}.99"}]},
        (("fleet.csv", p + 1),)) for p in range(1, n + 1)]


async def _until(check: Callable[[], Awaitable[bool]], period: float) -> None:
    """Poll ``check`` (the figures live in other processes: there is no event to wait on)."""
    while True:
        if await check():
            return
        await asyncio.sleep(period)


async def _database(admin_url: str) -> str:
    name = f"bulk_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    await upgrade_postgres(url)
    return url


async def _drop(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """One measurement: ``workers`` processes, ``args.lines`` mutations."""
    db = await _database(args.database_url)
    config = SimConfig(products=max(1000, args.lines + args.probes + 1), plan=args.plan, tokens=TOKENS,
                       latency_ms=args.latency_ms, max_concurrency=args.cap, seed=1)
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with SimShop(config) as sim, open_journal(db) as journal:
            env = {**os.environ, "SHOPIFY_ACCESS_TOKENS": ",".join(TOKENS)}
            for i in range(workers):
                procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bulk", "worker", "--database-url", db,
                    "--redis-url", args.redis_url, "--shop", sim.url, "--worker-id", f"bench-{i}",
                    "--idle-wait-s", str(args.idle_wait_s),
                    "--max-in-flight", str(args.cap), env=env,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))

            async def all_up() -> bool:
                return len(await journal.list_workers()) >= workers

            async def all_sent() -> bool:
                written: int = sim.stats()["shop"]["writes_total"]
                return bool(written >= args.lines)

            async def run_done() -> bool:
                return (await journal.get_run(work.run_id)).status is RunStatus.DONE

            await _until(all_up, 0.1)  # every worker is up and polling
            work, _ = await journal.create_run("fleet", input_name="fleet.csv", input_hash="h", options={})
            units = direct_units("fleet", _lines(args.lines), batch=args.batch)
            sim.app.gateway.reset_statistics()
            sim.app.inflight.reset(sim.clock.now())
            timeline = _Timeline(sim.app.inflight, sim.clock.now())
            sampler = asyncio.create_task(timeline.sample_waiters(args.redis_url, sim.url, sim.clock))
            started = time.perf_counter()  # from the moment the work is there: claim latency counts
            await journal.add_units(work.run_id, units)
            await journal.set_run_status(work.run_id, RunStatus.RUNNING)
            await _until(all_sent, 0.02)
            elapsed = time.perf_counter() - started
            stats = sim.stats()
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            idle = timeline.idle(sim.clock.now(), args.cap)
            await _until(run_done, 0.1)
            final = await journal.get_run(work.run_id)
            claim_ms = await _probe_claims(journal, args.probes, args.lines)
    finally:
        for p in procs:
            if p.returncode is None:
                p.terminate()
        for p in procs:
            await p.wait()
        await _drop(args.database_url, db)
    conc = stats["concurrency"]
    return {
        "workers": workers,
        "utilization": round(conc["avg_in_flight"] / args.cap, 4),
        "cap_violations": conc["violations"],
        "rows_per_s": round(args.lines / elapsed, 1),
        "max_in_flight": conc["max_in_flight"],
        "applied": final.counters.applied,
        "written_twice": stats["shop"]["objects_written_more_than_once"],
        "elapsed_s": round(elapsed, 2),
        "idle_slot_s": idle,
        # mean standby grants at the scheduler (of the cap's permits, how many had their next
        # request admitted onto them), sampled every 10 ms while the work ran
        "standby_mean": round(statistics.fmean(timeline.standby), 2) if timeline.standby else None,
        "enqueue_to_claim_p50_ms": round(statistics.median(claim_ms), 1) if claim_ms else None,
        "enqueue_to_claim_max_ms": round(max(claim_ms), 1) if claim_ms else None,
    }


class _Timeline:
    """Where the cap's slots sat empty, from the simulator's own enter/leave calls (it runs in this
    process): ``ramp`` until the cap is first full, ``tail`` after it was last full (the work runs
    out), ``gaps`` in between (a slot waiting for the next request), with how many dips below the
    cap there were and their median length in ms. The gaps are split by the shared scheduler's queue,
    sampled every 10 ms: ``gaps_queued`` while requests waited for a permit or on standby (the permit
    is on its way: release, hand-over, the holder's loop, the HTTP send), ``gaps_unasked`` while none
    did (no sender asked: between units, journal writes, the workers' own loops)."""

    def __init__(self, inflight: Any, now: float) -> None:
        self.events: list[tuple[float, int]] = [(now, inflight.current)]
        self.waiting: list[tuple[float, int]] = []  # (time, requests queued at the scheduler)
        self.standby: list[int] = []  # of those, admitted as standbys (riding on a busy permit)
        enter, leave = inflight.enter, inflight.leave

        def on_enter(at: float) -> bool:
            ok: bool = enter(at)
            self.events.append((at, inflight.current))
            return ok

        def on_leave(at: float) -> None:
            leave(at)
            self.events.append((at, inflight.current))

        inflight.enter, inflight.leave = on_enter, on_leave

    async def sample_waiters(self, redis_url: str, shop_url: str, clock: Any) -> None:
        """Sample the shared scheduler's queue length until cancelled."""
        backend = RedisBackend(redis_url, shop=shop_id(shop_url), config=SchedulerConfig(
            token_count=len(TOKENS), max_in_flight=1))
        await backend.open(f"bench-observer-{uuid.uuid4().hex[:6]}")
        try:
            while True:
                stats = await backend.snapshot()
                self.waiting.append((clock.now(), sum(stats.waiters.values()) + stats.standby))
                self.standby.append(stats.standby)
                await asyncio.sleep(0.01)
        finally:
            await backend.close()

    def _queued(self, at: float) -> bool:
        i = bisect.bisect_right(self.waiting, (at, math.inf)) - 1
        return i >= 0 and self.waiting[i][1] > 0

    def idle(self, now: float, cap: int) -> dict[str, float]:
        """Empty slot-seconds by phase, and the dips below the cap between the first and last full."""
        events = [*self.events, (now, self.events[-1][1])]
        full = [i for i, (_, n) in enumerate(events) if n >= cap]
        first, last = (full[0], full[-1]) if full else (len(events) - 1, len(events) - 1)
        phases = {"ramp": 0.0, "gaps": 0.0, "gaps_queued": 0.0, "gaps_unasked": 0.0, "tail": 0.0}
        dips: list[float] = []
        dip_start: float | None = None
        for i, ((t0, n), (t1, _)) in enumerate(itertools.pairwise(events)):
            phase = "ramp" if i < first else "tail" if i >= last else "gaps"
            phases[phase] += (cap - n) * (t1 - t0)
            if phase == "gaps":
                phases["gaps_queued" if self._queued(t0) else "gaps_unasked"] += (cap - n) * (t1 - t0)
            if phase == "gaps" and n < cap and dip_start is None:
                dip_start = t0
            elif n >= cap and dip_start is not None:
                dips.append(t0 - dip_start)
                dip_start = None
        out = {k: round(v, 2) for k, v in phases.items()}
        out["dips"] = len(dips)
        out["dip_p50_ms"] = round(statistics.median(dips) * 1000, 1) if dips else 0.0
        return out


async def _probe_claims(journal: Journal, probes: int, offset: int) -> list[float]:
    """Milliseconds from enqueueing one unit into the idle fleet to its claim, ``probes`` times."""
    rng = random.Random(1)
    took: list[float] = []
    for i in range(probes):
        await asyncio.sleep(rng.uniform(0.05, 0.15))  # the fleet is idle, waiting for notices
        run, _ = await journal.create_run(f"probe-{i}", input_name="probe.csv", input_hash="h", options={})
        line = _lines(offset + i + 1)[-1:]
        started = time.perf_counter()
        (unit,) = await journal.add_units(run.run_id, direct_units(f"probe-{i}", line, batch=1))

        async def claimed(unit_id: int = unit.unit_id) -> bool:
            return (await journal.get_unit(unit_id)).state is not UnitState.PENDING

        async def done(unit_id: int = unit.unit_id) -> bool:
            return (await journal.get_unit(unit_id)).state is UnitState.DONE

        await _until(claimed, 0.002)
        took.append((time.perf_counter() - started) * 1000)
        await _until(done, 0.01)
    return took


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every worker count in ``--workers``."""
    if not args.database_url or not args.redis_url:
        raise SystemExit("bench fleet needs --database-url and --redis-url (or source scripts/servers.sh "
                         "and start_servers, which sets BULK_TEST_DATABASE_URL / BULK_TEST_REDIS_URL)")
    rows = []
    for n in (int(x) for x in args.workers.split(",")):
        row = await measure(args, n)
        print(f"fleet: {n} workers: {row['rows_per_s']} rows/s, utilization {row['utilization']:.3f}, "
              f"violations {row['cap_violations']}, enqueue-to-claim p50 {row['enqueue_to_claim_p50_ms']} ms",
              file=sys.stderr)
        rows.append(row)
    return {"rows": rows, "cap": args.cap, "latency_ms": args.latency_ms, "lines": args.lines}
