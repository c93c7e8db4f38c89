"""A Grant: the right to send one request on one token, for as long as the lease lasts.

Why a separate object: the caller needs three things from the scheduler while its request lives —
which token to use (an index, never the token), a fencing number, and a way to stop the moment the
lease is gone (``lost``, ``check()``, ``guard()``). Settling only *records* what the response said;
the permit is returned (with refund and re-sync) when the ``async with`` block ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from bulk.clock import Clock
from bulk.errors import PermitLostError
from bulk.scheduler import core

T = TypeVar("T")


class Grant:
    """One admitted request. Created by :meth:`Scheduler.acquire`, never by callers."""

    def __init__(
        self,
        *,
        permit_id: str,
        token_index: int,
        fence: int,
        cost: float,
        priority: int,
        clock: Clock,
        deadline: float,
    ) -> None:
        self.permit_id = permit_id
        self.token_index = token_index
        self.fence = fence
        self.cost = cost
        self.priority = priority
        self.lost = asyncio.Event()
        self._clock = clock
        self.deadline = deadline  # local clock; only a renewal that names this permit moves it
        self.report: core.CostReport | None = None  # None = nothing settled: refund everything
        self.was_throttled = False

    # -- the lease -------------------------------------------------------------------------------

    def remaining(self) -> float:
        """Seconds of lease left by the local clock (renewals extend it)."""
        return self.deadline - self._clock.now()

    def renew(self, until: float) -> None:
        """The store confirmed this permit at a moment after which ``until`` is still inside its
        lease (the caller counts from *before* the call)."""
        self.deadline = max(self.deadline, until)

    def check(self, need: float = 0.0) -> None:
        """Raise :class:`PermitLostError` unless the lease has ``need`` seconds left. Call it right
        before sending, with ``need`` = the longest the request may take: a request must finish
        inside the lease, or its permit may be handed on while it is still running."""
        if not self.lost.is_set() and self.remaining() <= 0:
            self.lost.set()
        if self.lost.is_set():
            raise PermitLostError(f"permit {self.fence} on token {self.token_index} lost its lease")
        if self.remaining() < need:
            raise PermitLostError(
                f"permit {self.fence} on token {self.token_index} has {self.remaining():.3f}s of "
                f"lease left, the request may need {need:.3f}s"
            )

    async def guard(self, work: Awaitable[T], need: float = 0.0) -> T:
        """Run ``work``; cancel it and raise :class:`PermitLostError` if the lease is lost first.

        The lease is checked before ``work`` starts (with ``need`` seconds to spare, see
        :meth:`check`), so a worker resumed after its lease ended sends nothing.
        """
        try:
            self.check(need)
        except PermitLostError:
            if asyncio.iscoroutine(work):
                work.close()
            raise
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            while not task.done():
                timer = asyncio.ensure_future(self._clock.sleep(max(0.0, self.remaining())))
                try:
                    await asyncio.wait((task, lost, timer), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    timer.cancel()
                if task.done():
                    break
                if lost.done() or self.remaining() <= 0:
                    self.lost.set()
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    raise PermitLostError(
                        f"permit {self.fence} on token {self.token_index} lost its lease mid-request"
                    )
            return task.result()
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # -- what the response said --------------------------------------------------------------------

    def settle(self, cost: Mapping[str, Any] | None) -> None:
        """Record the response's ``extensions.cost`` (``None``: the shop charged an unknown amount)."""
        self.report = core.parse_cost(cost) or core.CostReport(None, None, None)
        self.was_throttled = False

    def throttled(self, cost: Mapping[str, Any] | None) -> None:
        """Record a THROTTLED response: the model was wrong; it re-syncs to the status carried.
        The caller acquires again (the request goes back in the queue at its priority)."""
        self.report = core.parse_cost(cost) or core.CostReport(None, None, None)
        self.was_throttled = True

    def refused(self) -> None:
        """Record that the shop refused this grant's token (401/403): when the permit is returned the
        token's bucket is synced to :data:`core.REFUSED`, so no later request is granted on it while
        another token can pay (the token is out for the run, for every worker sharing the state)."""
        self.report = core.refused_report()
        self.was_throttled = False

    def __repr__(self) -> str:
        state = "lost" if self.lost.is_set() else f"{self.remaining():.2f}s left"
        return (
            f"Grant(token_index={self.token_index}, fence={self.fence}, cost={self.cost}, "
            f"priority={self.priority}, {state})"
        )
