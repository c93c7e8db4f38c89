"""Holding a direct batch's journal lease while the worker sends its lines.

Why a context of its own: the holder must stop writing the moment its lease is gone (self-fencing:
the unit's next holder finishes it, and the journal refuses the stale fence anyway), and stop sending
when the worker shuts down. Both end in one event the sending code already watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from bulk.clock import Clock
from bulk.errors import JournalError
from bulk.journal import Claim, Journal

log = logging.getLogger("bulk.fleet.worker")


@contextlib.asynccontextmanager
async def held(journal: Journal, claim: Claim, *, lease_s: float, clock: Clock,
               stopping: asyncio.Event) -> AsyncIterator[asyncio.Event]:
    """Renew ``claim``'s lease every ``lease_s / 3`` while the block runs; the yielded event is set
    on ``stopping`` or when a renewal is refused (then the holder must stop at once)."""
    fenced = asyncio.Event()

    async def keep() -> None:
        current = claim
        with contextlib.suppress(asyncio.CancelledError):
            while not fenced.is_set():
                await clock.sleep(lease_s / 3)
                try:
                    current = await journal.heartbeat(current, lease_s=lease_s)
                except JournalError:
                    log.warning("lease lost; the unit's next holder finishes it",
                                extra={"action": "worker.lease_lost", "unit": claim.unit_id})
                    fenced.set()

    async def relay() -> None:
        await stopping.wait()
        fenced.set()

    async with asyncio.TaskGroup() as tg:
        keeper = tg.create_task(keep(), name=f"lease-{claim.unit_id}")
        relayer = tg.create_task(relay(), name=f"stop-{claim.unit_id}")
        try:
            yield fenced
        finally:
            keeper.cancel()
            relayer.cancel()
