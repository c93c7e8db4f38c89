"""Small pieces of the worker: the shop port that refuses new work once the worker stops, finding
the error that stops a whole run inside whatever a unit raised, and waiting for the first of several
things.

Why apart: both are plain helpers of :mod:`bulk.fleet.worker` with no state of the worker's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from bulk.errors import RunStoppedError
from bulk.lanes.bulk import BulkOpsPort, OpStatus


async def race(*waits: Any) -> None:
    """Run ``waits`` until the first one ends; cancel the others."""
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(w) for w in waits]
        for t in tasks:
            t.add_done_callback(lambda _t: [o.cancel() for o in tasks if o is not _t])


def run_stopper(exc: BaseException, kind: type[Exception] = RunStoppedError) -> Any:
    """The first error of type ``kind`` in ``exc`` (itself, or inside an exception group), or None."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = run_stopper(inner, kind)
            if found is not None:
                return found
    return None


class StoppablePort:
    """The shop port, refusing to *begin* any new upload, start or poll once the worker is stopping.

    A refused call ends the shard's task as cancelled, at a safe point: the bulk operation was not
    started (the shard goes back to ``pending``) or was started and recorded (it stays ``submitted``
    and is adopted). Calls already under way finish; result downloads and reconciling are never cut.
    """

    def __init__(self, port: BulkOpsPort, stopping: asyncio.Event) -> None:
        self._port = port
        self._stopping = stopping

    def _check(self) -> None:
        if self._stopping.is_set():
            raise asyncio.CancelledError("worker stopping")

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        """See :meth:`BulkOpsPort.upload`."""
        self._check()
        return await self._port.upload(path, token_index=token_index, admitted=admitted)

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        """See :meth:`BulkOpsPort.start`."""
        self._check()
        return await self._port.start(kind, staged_path, client_identifier=client_identifier,
                                      token_index=token_index)

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        """See :meth:`BulkOpsPort.find`."""
        self._check()
        return await self._port.find(client_identifier, token_index=token_index)

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        """See :meth:`BulkOpsPort.status`."""
        self._check()
        return await self._port.status(op_id, token_index=token_index)

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        """See :meth:`BulkOpsPort.statuses`."""
        self._check()
        return await self._port.statuses(op_ids, token_index=token_index)

    def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """See :meth:`BulkOpsPort.results`."""
        return self._port.results(url)
