"""The smallest hook between the shop's answers and the catalog cache: our applied values go in.

Why here and not in the lanes: both senders already take their port from the composition root
(:mod:`bulk.submit.root`) — the direct route a :class:`~bulk.shopify.requester.Requester`, the bulk lane a
:class:`~bulk.lanes.bulk.BulkOpsPort` whose ``results`` it reads to reconcile. Wrapping the two ports
sees every answer as it arrives, with nothing in the lanes changed: a direct answer, and each result
line of a bulk operation, whose ``productVariants`` (:func:`bulk.catalog.applied.applied_variants`)
are written to the cache as they arrive, and become its picture when the run ends. The fleet's
workers send without this root: their writes reach the cache through the next run's sync (they move
``updatedAt``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from bulk.catalog import CatalogStore
from bulk.catalog.applied import VariantValues, applied_variants
from bulk.lanes.bulk import BulkOpsPort
from bulk.lanes.bulk.ports import OpStatus
from bulk.models import Lane
from bulk.shopify.requester import Requester

BATCH = 2000  # result lines per cache write of a bulk result (in a worker thread)


class CatalogTap:
    """Counts and writes one run's applied values into one catalog cache (its own connection: the
    planner's thread reads through another). They are kept as the run's until it ends
    (:meth:`CatalogStore.merge_applied`): a resumed run plans again against the picture it was
    first planned from."""

    def __init__(self, store: CatalogStore, run_key: str) -> None:
        self.store = store
        self.run_key = run_key
        self.variants = 0  # variant values written to the cache
        self._one_writer = asyncio.Lock()  # concurrent direct answers share the one connection

    async def write(self, values: list[VariantValues]) -> None:
        """Write ``values`` to the cache (off the event loop)."""
        if values:
            self.variants += len(values)
            async with self._one_writer:
                await asyncio.to_thread(self.store.record_applied, self.run_key, values)

    async def write_answers(self, answers: list[Any]) -> None:
        """Write what the ``data`` of each answer applied (read in a worker thread: a bulk operation's
        result is thousands of lines, not to be walked on the event loop)."""
        if answers:
            async with self._one_writer:
                self.variants += await asyncio.to_thread(self._record_answers, answers)

    def _record_answers(self, answers: list[Any]) -> int:
        values = [v for data in answers for v in applied_variants(data)]
        if values:
            self.store.record_applied(self.run_key, values)
        return len(values)

    def requester(self, inner: Requester) -> Requester:
        """``inner``, telling the cache what each answer applied."""
        return _TappedRequester(inner, self)

    def bulk_port(self, inner: BulkOpsPort) -> BulkOpsPort:
        """``inner``, telling the cache what each result line applied."""
        return _TappedBulkOps(inner, self)


class _TappedRequester:
    def __init__(self, inner: Requester, tap: CatalogTap) -> None:
        self._inner, self._tap = inner, tap

    async def request(self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float,
                      priority: Lane, token_index: int | None = None) -> Any:
        response = await self._inner.request(document, variables, cost=cost, priority=priority,
                                             token_index=token_index)
        await self._tap.write(applied_variants(getattr(response, "data", None)))
        return response


class _TappedBulkOps:
    def __init__(self, inner: BulkOpsPort, tap: CatalogTap) -> None:
        self._inner, self._tap = inner, tap

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        return await self._inner.upload(path, token_index=token_index, admitted=admitted)

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        return await self._inner.start(kind, staged_path, client_identifier=client_identifier,
                                       token_index=token_index)

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        return await self._inner.find(client_identifier, token_index=token_index)

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        return await self._inner.status(op_id, token_index=token_index)

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        return await self._inner.statuses(op_ids, token_index=token_index)

    async def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        pending: list[Any] = []
        async for line in self._inner.results(url):
            pending.append(line.get("data"))
            if len(pending) >= BATCH:
                await self._tap.write_answers(pending)
                pending = []
            yield line
        await self._tap.write_answers(pending)
