"""One worker thread that runs the calls given to it by priority, then in the order they came.

Why: SQLite has one writer, so the SQLite journal runs every statement on one thread. A lane's claims,
starts and lease renewals are small and on the path that keeps the shop's operation slots busy; the
outcomes of 15 operations that ended together are large. In arrival order the small calls would
queue behind the large ones for seconds; by priority they wait at most for the one call running.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

FIRST = 0  # claims, starts, renewals, reads: whatever a caller is waiting on to go on
BACKGROUND = 1  # bulk records (outcomes, applied values) nobody is blocked on but their writer
LAST = 2  # closing: after everything already given


class PriorityThread:
    """A single worker thread taking calls from a priority queue (lower number first)."""

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any] | None]] = \
            queue.PriorityQueue()
        self._order = itertools.count()  # equal priorities keep their order; never compares the calls
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T], priority: int = FIRST) -> Future[T]:
        """Run ``fn`` on the thread; its future holds the result or the exception."""
        future: Future[T] = Future()
        self._queue.put((priority, next(self._order), fn, future))
        return future

    @property
    def queued(self) -> int:
        """Calls given and not yet taken by the thread (approximate while they are being given)."""
        return self._queue.qsize()

    def shutdown(self) -> None:
        """Stop the thread once every call given before has run (does not wait for it)."""
        self._queue.put((LAST + 1, next(self._order), None, None))

    def _work(self) -> None:
        while True:
            _, _, fn, future = self._queue.get()
            if fn is None or future is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

    def __repr__(self) -> str:
        return f"PriorityThread({self._thread.name!r}, queued={self._queue.qsize()})"
