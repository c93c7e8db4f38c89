"""The SQLite journal's one thread runs a lane's small calls before bulk outcome records waiting then."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from pathlib import Path

from bulk.journal import Outcome, SqliteJournal, UnitKind
from bulk.journal._priority_thread import BACKGROUND, FIRST, PriorityThread
from bulk.lanes.bulk.shard_data import ShardData, inline_unit
from bulk.models import OutcomeStatus


def test_priority_then_arrival_order() -> None:
    worker = PriorityThread("test")
    gate = threading.Event()
    ran: list[str] = []
    blocker = worker.submit(gate.wait)
    futures = [worker.submit(functools.partial(ran.append, f"bulk{n}"), BACKGROUND) for n in range(3)]
    futures += [worker.submit(functools.partial(ran.append, f"claim{n}"), FIRST) for n in range(2)]
    gate.set()
    blocker.result(timeout=5)
    for f in futures:
        f.result(timeout=5)
    worker.shutdown()
    assert ran == ["claim0", "claim1", "bulk0", "bulk1", "bulk2"]


def test_an_error_reaches_the_caller() -> None:
    worker = PriorityThread("test")
    try:
        worker.submit(lambda: 1 / 0).result(timeout=5)
    except ZeroDivisionError:
        pass
    else:
        raise AssertionError("the exception was lost")
    assert worker.submit(lambda: 42).result(timeout=5) == 42  # the thread survived it
    worker.shutdown()


class HeldClock:
    """Wall time; once :meth:`hold` is called, the next reading taken off the caller's thread (the
    journal's own thread, starting a transaction) waits for :attr:`release`: the thread is busy."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self._held_from: int | None = None

    def hold(self) -> None:
        self._held_from = threading.get_ident()

    def now(self) -> float:
        if self._held_from is not None and threading.get_ident() != self._held_from:
            self._held_from = None
            self.entered.set()
            self.release.wait(10)
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_claim_overtakes_queued_outcome_records(tmp_path: Path) -> None:
    clock = HeldClock()
    async with SqliteJournal(tmp_path / "journal.sqlite3", clock=clock) as journal:
        run, _ = await journal.create_run("k", input_name="in.csv", input_hash="k", options={})
        shard = ShardData("variants", [b"{}\n"], [[("in.csv", 1)]])
        await journal.add_units(run.run_id, [inline_unit("k/0", shard)])
        clock.hold()
        blocked = asyncio.create_task(journal.get_run(run.run_id))
        assert await asyncio.to_thread(clock.entered.wait, 10)  # the thread is busy: nothing queued is taken
        finished: list[str] = []

        async def record(n: int) -> None:
            outcomes = [Outcome("in.csv", 1000 * n + i, OutcomeStatus.APPLIED, None) for i in range(1000)]
            await journal.record_outcomes(run.run_id, outcomes)
            finished.append("outcomes")

        async def claim() -> None:
            assert await journal.claim("w", [UnitKind.BULK_SHARD], lease_s=30)
            finished.append("claim")

        async def queued(n: int) -> None:
            """Yield until ``n`` calls wait for the blocked thread (no guess at how long that takes)."""
            for _ in range(10_000):
                if journal.statistics().waiting >= n:
                    return
                await asyncio.sleep(0)
            raise AssertionError(f"{n} calls never got queued")

        records = [asyncio.create_task(record(n)) for n in range(3)]
        await queued(3)  # the records are queued first
        claiming = asyncio.create_task(claim())
        await queued(4)
        clock.release.set()
        await asyncio.gather(blocked, claiming, *records)
        assert finished[0] == "claim"
        assert len(await journal.list_outcomes(run.run_id)) == 3000
        assert journal.statistics().waiting == 0
