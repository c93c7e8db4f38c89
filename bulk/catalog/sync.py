"""``bulk catalog sync`` and the sync before every run: bring the local catalog cache up to date.

One ``bulkOperationRunQuery`` exports products with their variants (SKU, prices, inventory item) as flat
JSONL; each variant line names its product in ``__parentId``. A full sync exports every product into an
emptied cache; an incremental one adds ``updated_at:>'T'`` to the products query, so only products
written since the last sync come back (a variant's price write moves its product's ``updatedAt``: see
docs/catalog.md for which writes do, with sources).

``T`` is the previous export's start **on the shop's clock** (the operation's ``createdAt``), less an
overlap (:data:`SYNC_OVERLAP_S`): ``updatedAt`` has whole seconds and the search compares strictly (a
write at 10:00:00.7 is not ``> '10:00:00Z'``), and Shopify's search index may see a write a little after
it was made. Fetching a product twice is harmless, missing one is not. Our own clock is used only when
the shop gave no ``createdAt``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bulk.catalog._store import CatalogStore
from bulk.clock import Clock, MonotonicClock
from bulk.errors import ShopifyError
from bulk.shopify.bulk_operations import poll_until_finished
from bulk.shopify.documents import document

LAST_SYNC = "last_sync_started_at"  # the updated_at bound of the next incremental sync (shop time, ISO)
LAST_FULL_SYNC = "last_full_sync_wall"  # when the last full sync started (our wall clock, epoch seconds)
SYNC_OVERLAP_S = 120.0
LOAD_BATCH = 10_000  # export lines per SQLite write (in a worker thread)


class ExportStatus(Protocol):
    """The fields of a polled operation the sync reads."""

    @property
    def status(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def error_code(self) -> str | None: ...

    @property
    def created_at(self) -> str | None: ...

    @property
    def object_count(self) -> int: ...


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


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did: full or incremental (``since``: its ``updated_at`` bound), the export's lines,
    the variants dropped (gone from products that changed), and how long it took (our clock)."""

    full: bool
    lines: int
    since: str | None
    dropped: int
    seconds: float


def export_query(since: str | None) -> str:
    """The catalog export document, limited to products updated after ``since`` when given."""
    text = document("catalog_export")
    if since is None:
        return text
    return re.sub(r"\bproducts\s*\{", f'products(query: "updated_at:>\'{since}\'") {{', text, count=1)


def next_since(created_at: str | None, fallback_epoch: float, overlap_s: float) -> str:
    """The bound of the next incremental sync: this export's start on the shop's clock (``createdAt``),
    else ``fallback_epoch`` (our clock when it started), less ``overlap_s``; whole seconds, UTC."""
    start = fallback_epoch
    if created_at:
        start = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    return datetime.fromtimestamp(start - overlap_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_full_sync(store: CatalogStore) -> float | None:
    """When the cache was last filled whole (our wall clock), or None (never, or an older cache)."""
    value = store.get_meta(LAST_FULL_SYNC)
    return None if value is None else float(value)


async def sync_catalog(
    port: ExportPort,
    store: CatalogStore,
    *,
    full: bool = False,
    token_index: int = 0,
    clock: Clock | None = None,
    poll_s: float = 0.5,
    overlap_s: float = SYNC_OVERLAP_S,
    wall: Callable[[], float] = time.time,
    on_progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """Export the shop's catalog (or what changed since the last sync) into ``store``.

    An incremental sync without a previous one is a full one. A failed export raises
    :class:`~bulk.errors.ShopifyError`; after a failed full sync the cache is empty (the next run
    syncs in full again), after a failed incremental one it is as before (its bound is unchanged).
    ``on_progress(exported, stored)``: after every poll and every batch stored (a big shop's export
    takes minutes, and ``bulk status`` shows it moving)."""
    progress = on_progress or (lambda _exported, _stored: None)
    clock = clock or MonotonicClock()
    since = None if full else (store.get_meta(LAST_SYNC) or None)
    full = since is None
    started, began = wall(), clock.now()
    await asyncio.to_thread(store.begin_sync, full=full)
    if full:
        store.set_meta(LAST_SYNC, "")  # no bound until this export completes
    op = await port.start_query(export_query(since), token_index=token_index)

    async def polled() -> ExportStatus:
        polled_now = await port.status(op, token_index=token_index)
        progress(polled_now.object_count, 0)
        return polled_now

    status = await poll_until_finished(polled, clock, initial_s=poll_s, max_s=10.0)
    if status.status != "COMPLETED":
        raise ShopifyError(f"catalog export {op} ended {status.status} ({status.error_code})",
                           token_index=token_index)
    count = 0
    if status.url:
        batch: list[dict[str, Any]] = []
        async for line in port.results(status.url):
            batch.append(line)
            if len(batch) >= LOAD_BATCH:
                # SQLite writes are blocking: keep the event loop (and lease renewals) responsive
                count += await asyncio.to_thread(store.load_export, batch)
                batch = []
                progress(status.object_count, count)
        count += await asyncio.to_thread(store.load_export, batch)
    dropped = await asyncio.to_thread(store.finish_sync)
    store.set_meta(LAST_SYNC, next_since(status.created_at, started, overlap_s))
    if full:
        store.set_meta(LAST_FULL_SYNC, repr(started))
    return SyncResult(full=full, lines=count, since=since, dropped=dropped, seconds=clock.now() - began)
