"""Which calls the test's event loop has handed to a thread and not got back yet.

A test on a :class:`~bulk.clock.ManualClock` must not move time while the code under test waits for
a thread (``asyncio.to_thread``, ``run_in_executor``, the SQLite journal's own thread): on a loaded
machine the thread is slower and the manual clock is not, so a poll loop or a lease timer beside it
would see more time pass the busier the box is (a CI run failed that way). :class:`ThreadWork` sees
every such call where asyncio turns a thread's ``concurrent.futures.Future`` into an awaitable
(``asyncio.wrap_future``, which ``run_in_executor`` uses too); pass its :meth:`busy` to
``ManualClock.advance_until(busy=...)`` (the ``thread_work`` fixture in ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import asyncio.futures
import concurrent.futures
from collections.abc import Callable
from typing import Any

import pytest

WrapFuture = Callable[..., "asyncio.Future[Any]"]


class ThreadWork:
    """Counts the thread calls awaited through ``asyncio.wrap_future`` since :meth:`install`."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Future[Any]] = []
        self.calls = 0  # every thread call seen, finished or not

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Watch every ``wrap_future`` of this test (undone with the monkeypatch)."""
        original: WrapFuture = asyncio.futures.wrap_future

        def wrap_future(future: Any, *, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[Any]:
            wrapped = original(future, loop=loop)
            if isinstance(future, concurrent.futures.Future):  # an asyncio future passes through as is
                self.calls += 1
                self._pending.append(wrapped)
            return wrapped

        # base_events.run_in_executor calls futures.wrap_future; the journal calls asyncio.wrap_future
        monkeypatch.setattr(asyncio.futures, "wrap_future", wrap_future)
        monkeypatch.setattr(asyncio, "wrap_future", wrap_future)

    def busy(self) -> bool:
        """Whether a thread call has not come back to the loop yet. Its asyncio future is resolved
        on the loop, and the tasks awaiting it are scheduled in the same step, so once this says
        False an idle loop really has nothing left to wait for but the clock."""
        self._pending = [f for f in self._pending if not f.done()]
        return bool(self._pending)

    def __repr__(self) -> str:
        return f"ThreadWork(calls={self.calls}, pending={len(self._pending)})"
