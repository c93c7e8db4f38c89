"""``bulk catalog sync``: fill the local catalog cache from a bulk query export.

One ``bulkOperationRunQuery`` exports every product with its variants (SKU, prices, inventory item) as
flat JSONL; each variant line names its product in ``__parentId``. An incremental sync adds
``updated_at:>'…'`` to the products query so only what changed since the last sync comes back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bulk.catalog.store import CatalogStore
from bulk.clock import Clock, MonotonicClock
from bulk.errors import ShopifyError
from bulk.shopify.bulk_operations import poll_until_finished
from bulk.shopify.documents import document

LAST_SYNC = "last_sync_started_at"
SYNC_MARGIN_S = 5.0


class ExportStatus(Protocol):
    """The fields of a polled operation the sync reads."""

    @property
    def status(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def error_code(self) -> str | None: ...


class ExportPort(Protocol):
    """Bulk query lifecycle, implemented over the transport + scheduler."""

    async def start_query(self, query: str, *, token_index: int) -> str:
        """Start a bulk query; return its GID."""
        ...

    async def status(self, op_id: str, *, token_index: int) -> ExportStatus:
        """Poll one operation."""
        ...

    def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """The result JSONL lines."""
        ...


def export_query(since: str | None) -> str:
    """The catalog export document, limited to products updated after ``since`` when given."""
    text = document("catalog_export")
    if since is None:
        return text
    return re.sub(r"\bproducts\s*\{", f'products(query: "updated_at:>\'{since}\'") {{', text, count=1)


async def sync_catalog(
    port: ExportPort,
    store: CatalogStore,
    *,
    full: bool = False,
    token_index: int = 0,
    clock: Clock | None = None,
    poll_s: float = 0.5,
) -> int:
    """Export the shop's catalog (or what changed since the last sync) into ``store``; returns lines."""
    clock = clock or MonotonicClock()
    since = None if full else store.get_meta(LAST_SYNC)
    # a margin before "now": ``updated_at`` has whole seconds and clocks differ a little; fetching a
    # product twice is harmless, missing one is not
    started = (datetime.now(UTC) - timedelta(seconds=SYNC_MARGIN_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
    op = await port.start_query(export_query(since), token_index=token_index)
    status = await poll_until_finished(lambda: port.status(op, token_index=token_index), clock,
                                       initial_s=poll_s, max_s=10.0)
    if status.status != "COMPLETED":
        raise ShopifyError(f"catalog export {op} ended {status.status} ({status.error_code})",
                           token_index=token_index)
    count = 0
    if status.url:
        batch: list[dict[str, Any]] = []
        async for line in port.results(status.url):
            batch.append(line)
            if len(batch) >= 10_000:
                # SQLite writes are blocking: keep the event loop (and lease renewals) responsive
                count += await asyncio.to_thread(store.load_export, batch)
                batch = []
        count += await asyncio.to_thread(store.load_export, batch)
    store.set_meta(LAST_SYNC, started)
    return count
