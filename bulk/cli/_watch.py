"""``bulk submit`` stops when its run is cancelled from elsewhere (``bulk cancel RUN`` in another terminal).

Why: ``bulk cancel`` marks the run failed ("cancelled by the operator") and cancels its bulk operations
on the shop; a fleet's workers then stop claiming its work, but the ``bulk submit`` process that runs
the work itself would wait for shards nobody may claim any more. So while it works, it looks at its
journal every :data:`WATCH_S` seconds for its input's run turning cancelled, and then stops (its claims
are handed back) and says how to resume. A run cancelled before this submission started is not this
one's business: only a change seen while it runs counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from bulk.clock import MonotonicClock
from bulk.errors import BulkError
from bulk.journal import Journal, RunStatus, open_journal
from bulk.submit.options import CANCELLED_REASON

T = TypeVar("T")
WATCH_S = 2.0


class RunCancelled(BulkError):
    """The run was cancelled by the operator while this process worked on it."""

    def __init__(self, run_id: int, input_name: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id} was cancelled by the operator (`bulk cancel`): nothing more is sent; "
                         f"run the same `bulk submit {input_name} …` command again to resume it")


async def _cancelled(journal: Journal, input_name: str) -> dict[int, datetime]:
    return {r.run_id: r.updated_at for r in await journal.list_runs(limit=200)
            if r.input_name == input_name and r.status is RunStatus.FAILED and r.error == CANCELLED_REASON}


async def _watch(location: str, input_name: str, poll_s: float) -> int:
    """The id of this input's run once it turns cancelled (returns only then)."""
    clock = MonotonicClock()
    async with open_journal(location) as journal:
        before = await _cancelled(journal, input_name)
        while True:
            await clock.sleep(poll_s)
            for run_id, updated in (await _cancelled(journal, input_name)).items():
                if before.get(run_id) != updated:
                    return run_id


async def unless_cancelled(work: Awaitable[T], *, journal: str | None, input_name: str,
                           poll_s: float = WATCH_S) -> T:
    """``await work``, unless its run is cancelled in ``journal`` meanwhile: then ``work`` is cancelled
    and :class:`RunCancelled` raised. Without a journal to watch, just ``await work``."""
    task = asyncio.ensure_future(work)
    if journal is None:
        return await task
    watcher = asyncio.ensure_future(_watch(journal, input_name, poll_s))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # cancelled ourselves (Ctrl-C): stop both
        task.cancel()
        watcher.cancel()
        raise
    if task.done():
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, BulkError):
            await watcher
        return task.result()
    if watcher.exception() is not None:  # the journal could not be watched: the work goes on
        return await task
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, BulkError):
        await task
    raise RunCancelled(watcher.result(), input_name)
