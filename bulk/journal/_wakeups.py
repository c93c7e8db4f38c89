"""Work notices: how an idle worker learns, without polling, that units may be claimable again.

Units become claimable when they are added, released (a shutdown, an error) or failed for a retry, and
when a run goes (back) to ``planning``/``running``. Each journal write that does one of these raises a
*notice*: the PostgreSQL journal by ``pg_notify`` in the same transaction (delivered to every listening
handle, on every machine, when it commits), the SQLite journal directly to the handles of the same file
in this process (one machine, one process: there is no one else to tell).

A :class:`WorkSignal` counts the notices a handle has seen. A worker takes the count *before* it
claims, and after a claim that found nothing waits for the count to move: a notice that lands between
the two is never missed. Notices are hints, never promises (another worker may claim the unit first;
an expired lease makes a unit claimable without any write), so a worker still re-checks after its
``idle_wait_s`` fallback.
"""

from __future__ import annotations

import asyncio
import weakref

from bulk.journal._records import RunStatus

CHANNEL = "bulk_work"  # the PostgreSQL LISTEN/NOTIFY channel (also named in sql/pg_queries.sql)
CLAIMABLE = frozenset({RunStatus.PLANNING, RunStatus.RUNNING})  # the claim query's run statuses


class WorkSignal:
    """A notice counter that coroutines, on any event loop, can wait on."""

    def __init__(self) -> None:
        self.count = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def notice(self) -> None:
        """Something may be claimable: wake every waiter."""
        self.count += 1
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            loop = future.get_loop()
            if loop.is_closed():
                continue
            loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, mark: int) -> None:
        """Return once a notice came after ``mark`` (a value of :attr:`count`)."""
        while self.count == mark:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(future)
            try:
                await future
            finally:
                self._waiters.discard(future)

    def __repr__(self) -> str:
        return f"WorkSignal(count={self.count}, waiting={len(self._waiters)})"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_shared: weakref.WeakValueDictionary[str, WorkSignal] = weakref.WeakValueDictionary()


def shared_signal(key: str) -> WorkSignal:
    """The signal of every handle on ``key`` (a SQLite file) in this process."""
    signal = _shared.get(key)
    if signal is None:
        signal = _shared[key] = WorkSignal()
    return signal
