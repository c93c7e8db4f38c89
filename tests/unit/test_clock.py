"""The manual clock's driving loop: it moves time only when the tasks have nothing else to wait for."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bulk.clock import ManualClock
from bulk.journal import SqliteJournal
from tests.thread_work import ThreadWork


async def poll_beside_a_thread(clock: ManualClock, thread_work: ThreadWork | None) -> float:
    """A task polls every manual second while another waits for a thread; the thread is let go only
    after the driving loop has turned 50 times (as a loaded box would be slow). Returns the manual
    time at which the thread's answer reached the loop."""
    gate = threading.Event()
    answered: list[float] = []

    async def poller() -> None:
        while True:
            await clock.sleep(1.0)

    async def waiter() -> None:
        await asyncio.to_thread(gate.wait)
        answered.append(clock.now())

    turns = 0

    def done() -> bool:
        nonlocal turns
        turns += 1
        if turns == 50:
            gate.set()
        return bool(answered)

    polling, waiting = asyncio.create_task(poller()), asyncio.create_task(waiter())
    await clock.advance_until(done, step=1.0, busy=None if thread_work is None else thread_work.busy)
    polling.cancel()
    await asyncio.gather(polling, waiting, return_exceptions=True)
    return answered[0]


async def test_time_stands_while_a_thread_call_is_under_way(thread_work: ThreadWork) -> None:
    assert await poll_beside_a_thread(ManualClock(), thread_work) == 0.0
    assert thread_work.calls == 1 and not thread_work.busy()


async def test_without_busy_time_runs_while_the_thread_works() -> None:
    # the race the hook removes: how far the clock got depends on how long the thread took
    assert await poll_beside_a_thread(ManualClock(), None) > 0.0


async def test_the_sqlite_journals_own_thread_counts_as_thread_work(thread_work: ThreadWork,
                                                                    tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.sqlite3", clock=ManualClock()) as journal:
        before = thread_work.calls
        await journal.list_runs()
    assert thread_work.calls > before and not thread_work.busy()
