"""Chaos: 8 ``bulk worker`` processes apply a 40k-row submission while being killed (-9), paused
(SIGSTOP/SIGCONT), stopped (SIGTERM) and restarted at random, over real Postgres and Redis.

40k rows, not 100k: the file still spans four planning chunks (5k, 10k, 20k, then the rest: products
straddle them), the first kill still lands on a worker whose bulk operation runs, and the chaos goes
on until the run is done; a bigger file only made the run (and the suite) longer.

What users rely on (invariants 3 and 5): at the end every row has exactly one outcome, the shop saw
no change applied twice (``objects_written_more_than_once == 0``) and never more requests in flight
than its hard cap (violations 0). Real time by nature: the workers are real processes.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from bulk.cli._request import SubmitRequest, submit_file
from bulk.journal import RunStatus, UnitState, open_journal
from bulk.journal.migrations import upgrade_postgres
from bulk.sim import SimConfig, SimShop

TOKENS = ("chaos-a", "chaos-b", "chaos-c")
WORKERS = 8
PRODUCTS = 20_001  # 40,002 variants: product p has 1 + p % 3


def write_prices(path: Path) -> tuple[int, int]:
    """A new price for every variant, plus an unknown SKU every 10,000 rows (rejections are part of
    the run too); returns (rows, rows with an unknown SKU). Products straddle the planning chunks, so
    the enqueueing submitter must hold their later lines until the fleet finished the earlier ones."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "price"])
        n = junk = 0
        for p in range(1, PRODUCTS + 1):
            for v in range(1 + p % 3):
                if n and n % 10_000 == 0:
                    w.writerow([f"SKU-UNKNOWN-{n}", "1.00"])
                    n, junk = n + 1, junk + 1
                w.writerow([f"SKU-{p:07d}-{v}", f"{100 + p % 40}.{v}0"])
                n += 1
    return n, junk


class Fleet:
    """The worker processes, restartable by slot."""

    def __init__(self, shop: str, db: str, redis_url: str, logs: Path) -> None:
        self._args = [sys.executable, "-m", "bulk", "worker", "--database-url", db, "--redis-url", redis_url,
                      "--shop", shop, "--lease-s", "6", "--poll-max-s", "0.5", "--idle-wait-s", "0.3",
                      "--shutdown-grace-s", "5"]
        self._env = {**os.environ, "SHOPIFY_ACCESS_TOKENS": ",".join(TOKENS)}  # never on argv
        self._logs = logs
        self.procs: list[asyncio.subprocess.Process | None] = [None] * WORKERS
        self.paused: set[int] = set()
        self.starts = 0
        self.ids: list[str] = [""] * WORKERS  # the worker id now running in each slot

    async def start(self, slot: int) -> None:
        self.starts += 1
        self.ids[slot] = f"chaos-{slot}-{self.starts}"
        log = (self._logs / f"worker-{slot}-{self.starts}.log").open("w")
        self.procs[slot] = await asyncio.create_subprocess_exec(
            *self._args, "--worker-id", self.ids[slot], env=self._env,
            stdout=log, stderr=log)
        log.close()

    def signal(self, slot: int, sig: int) -> None:
        proc = self.procs[slot]
        if proc is not None and proc.returncode is None:
            proc.send_signal(sig)

    async def reap(self, slot: int) -> None:
        proc = self.procs[slot]
        if proc is not None:
            await proc.wait()

    async def stop_all(self) -> None:
        for slot in range(WORKERS):
            self.signal(slot, signal.SIGCONT)
            self.signal(slot, signal.SIGTERM)

        async def ended(proc: asyncio.subprocess.Process) -> None:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()

        # side by side: after a failure every worker may sit out its grace, 30 s each one by one
        await asyncio.gather(*(ended(proc) for proc in self.procs if proc is not None))


async def running_an_operation(db: str, fleet: Fleet, done: asyncio.Event) -> int | None:
    """The slot of a worker that holds a shard whose bulk operation has started, as soon as there is
    one (asked of the journal, not guessed from a delay: a loaded machine starts its workers late);
    None if the run ended first."""
    async with open_journal(db) as journal:
        while not done.is_set():
            for run in await journal.list_runs():
                for unit in await journal.list_units(run.run_id, state=UnitState.SUBMITTED):
                    if unit.lease_owner in fleet.ids:
                        return fleet.ids.index(unit.lease_owner)
            await asyncio.sleep(0.1)
    return None


async def chaos(fleet: Fleet, db: str, rng: random.Random, done: asyncio.Event,
                actions: dict[str, int]) -> None:
    """Kill a worker that runs a bulk operation as soon as one does, so a takeover (and the adoption
    of that operation) certainly happens; then every 0.5–1.5 s do something nasty to a random worker,
    until the run is done."""
    first = await running_an_operation(db, fleet, done)
    if first is None:
        return
    fleet.signal(first, signal.SIGKILL)
    actions["kill"] += 1
    await fleet.reap(first)
    await fleet.start(first)
    while not done.is_set():
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        slot = rng.randrange(WORKERS)
        if slot in fleet.paused:
            continue
        action = rng.choice(["kill", "kill", "pause", "term"])
        actions[action] += 1
        if action == "kill":
            fleet.signal(slot, signal.SIGKILL)
            await fleet.reap(slot)
            await fleet.start(slot)
        elif action == "term":
            fleet.signal(slot, signal.SIGTERM)
            await fleet.reap(slot)
            await fleet.start(slot)
        else:
            fleet.signal(slot, signal.SIGSTOP)
            fleet.paused.add(slot)
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            fleet.signal(slot, signal.SIGCONT)
            fleet.paused.discard(slot)


@pytest.mark.timeout(900)
async def test_a_fleet_under_chaos_applies_every_row_exactly_once(
        tmp_path: Path, database_url: str, redis_url: str) -> None:
    await upgrade_postgres(database_url)
    file = tmp_path / "prices.csv"
    rows, unknown = write_prices(file)
    config = SimConfig(products=PRODUCTS, tokens=TOKENS, seed=5, max_concurrency=8, bulk_lines_per_s=4000)
    async with SimShop(config) as sim:
        request = SubmitRequest(file=file, shop=sim.url, tokens=TOKENS, route="bulk",
                                state_dir=tmp_path / "s", database_url=database_url, redis_url=redis_url)
        # the fleet is up first: the submitter enqueues chunk by chunk while workers already run them
        # (a product's later line waits until the fleet has finished its earlier one)
        fleet = Fleet(sim.url, database_url, redis_url, tmp_path)
        try:  # a failed run must not leave its workers behind (they outlive the servers and poll on)
            for slot in range(WORKERS):
                await fleet.start(slot)
            done = asyncio.Event()
            actions = {"kill": 0, "pause": 0, "term": 0}
            started = time.monotonic()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(submit_file(request))
                tg.create_task(chaos(fleet, database_url, random.Random(2026), done, actions))
                async with open_journal(database_url) as journal:
                    while True:
                        runs = await journal.list_runs()
                        if runs and runs[0].status is RunStatus.DONE:
                            (run,) = runs
                            break
                        assert time.monotonic() - started < 800, f"not done: {[r.counters for r in runs]}"
                        await asyncio.sleep(1.0)
                    done.set()
        finally:
            await fleet.stop_all()
        async with open_journal(database_url) as journal:
            (run,) = await journal.list_runs()
            outcomes = await journal.list_outcomes(run.run_id)
            units = await journal.list_units(run.run_id)
        stats = sim.stats()
    print(f"chaos: {rows} rows in {time.monotonic() - started:.0f}s, actions {actions}, "
          f"{fleet.starts} worker starts, {sum(u.attempt > 1 for u in units)} shards taken over, "
          f"outcomes {run.counters}, sim concurrency {stats['concurrency']}, "
          f"written twice {stats['shop']['objects_written_more_than_once']}")
    assert sum(actions.values()) >= 5
    assert max(u.attempt for u in units) > 1  # shards were taken over (and their operations adopted)
    assert len(outcomes) == rows == len({(o.file, o.line) for o in outcomes})  # each row exactly once
    assert run.counters.applied == rows - unknown and run.counters.rejected == unknown
    assert stats["concurrency"]["violations"] == 0
    assert stats["shop"]["objects_written_more_than_once"] == 0
