"""The per-product admission (:class:`~bulk.plan.ordering.KindAdmission`) kept in a worker thread of its
own, off the event loop.

Admitting a planned chunk walks every line in Python — about 0.2 s for the 240,000 lines of a Black
Friday chunk on the 2-core box — and the event loop is the urgent lane's too: an inventory change that
arrives meanwhile would wait for it. The book itself stays pure bookkeeping; this only decides where it
runs. One thread, so calls take effect in the order they were made: lines marked done before a chunk
is admitted (or held lines released) are free for it, exactly as when everything ran on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from bulk.plan import PlannedLine
from bulk.plan.ordering import KindAdmission

T = TypeVar("T")


class AdmissionThread:
    """:class:`KindAdmission`'s calls, run one at a time in their own thread (see the module docstring)."""

    def __init__(self, admission: KindAdmission | None = None) -> None:
        self._admission = admission or KindAdmission()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-admission")
        self._error: BaseException | None = None  # a failed `done`, raised by the next awaited call

    async def admit(self, lines: list[PlannedLine]) -> tuple[list[PlannedLine], list[PlannedLine]]:
        """(held lines whose product is free now, the given lines that may be sent now): both admitted,
        so counted in flight until :meth:`done`; the others are held."""
        def both() -> tuple[list[PlannedLine], list[PlannedLine]]:
            return self._admission.release_held(), self._admission.admit(lines)
        return await self._call(both)

    async def release_held(self) -> list[PlannedLine]:
        """Held lines whose product is free now (admitted)."""
        return await self._call(self._admission.release_held)

    def done(self, lines: list[PlannedLine]) -> None:
        """These lines are finished: queued without waiting (a shard's end is reported from a callback),
        and applied before any call made after this one."""
        self._thread.submit(self._admission.done, lines).add_done_callback(self._keep_error)

    @property
    def held(self) -> int:
        """Lines waiting behind an in-flight line of their product and kind."""
        return self._admission.held

    def close(self) -> None:
        """Let the thread go once what is queued has run (nothing is admitted after this)."""
        self._thread.shutdown(wait=False)

    async def _call(self, call: Callable[[], T]) -> T:
        result = await asyncio.get_running_loop().run_in_executor(self._thread, call)
        if self._error is not None:
            raise self._error
        return result

    def _keep_error(self, future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._error = future.exception()

    def __repr__(self) -> str:
        return f"AdmissionThread(held={self.held})"
