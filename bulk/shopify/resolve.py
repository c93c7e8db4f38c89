"""Turn inventory changes as people write them (SKU, location name) into what the API takes (GIDs).

Why cached per shop session: the urgent lane must not pay a lookup per change. Locations are read
once; SKUs are looked up in batches the first time they are seen and remembered. SKUs are not unique
in every shop: a SKU with two inventory items is REJECTED ("ambiguous"), never guessed.

Why shared between concurrent callers: changes arrive as bursts of separate calls (50 web hooks at
once). Each asking for its own lookups spent 50 location reads (252 points each) and 50 SKU lookups of
100 points — every token's bucket, so the burst after it waited seconds for refills. Now a lookup in
flight is joined, not repeated (single flight), and SKUs asked for in the same turn of the event loop
go out together, ≤ 25 per query (≤ 5 on the 20-point document).

Why the location read and the SKU lookups go at once: a first call (a cold session) needs both, and
they do not depend on each other. One after the other, the first burst of a session paid two round
trips before its change could leave (at 1/10 scale of ``bench blackfriday``, 84 ms + 130 ms: the
whole first-seen p99). Each lookup request is measured (:mod:`bulk.shopify.timing`): a caller learns
what the slowest lookup it waited for spent on grants and on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from bulk.models import InventoryUpdate, Lane
from bulk.shopify import inventory
from bulk.shopify.client import ShopifyClient
from bulk.shopify.inventory import QuantityChange
from bulk.shopify.timing import SendTimes, recording

ITEM_GID_PREFIX = "gid://shopify/InventoryItem/"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolverStatistics:
    """A snapshot of the resolver: cached SKUs and locations, and how many lookups were sent."""

    skus: int
    locations: int
    lookups: int


class Unresolved(Exception):
    """Internal: why one change cannot be sent (becomes a REJECTED result, never escapes)."""


class InventoryResolver:
    """SKU → inventory item GID and location name → GID, with a per-session cache."""

    def __init__(self, client: ShopifyClient, *, priority: Lane = Lane.URGENT) -> None:
        self._client = client
        self._priority = priority
        self._locations: dict[str, str] | None = None
        self._locations_lookup: asyncio.Task[tuple[dict[str, str], SendTimes]] | None = None  # in flight
        self._skus: dict[str, list[str]] = {}
        self._asked: dict[str, asyncio.Future[SendTimes]] = {}  # SKU → its lookup (queued or in flight)
        self._queued: list[str] = []  # asked this turn of the loop, not sent yet
        self._lookups: set[asyncio.Task[None]] = set()
        self.lookups = 0

    async def resolve(
        self, updates: Sequence[InventoryUpdate], *, spent: SendTimes | None = None
    ) -> list[QuantityChange | str]:
        """For each update, the resolved :class:`QuantityChange` or the reason it cannot be sent.

        The location read and the SKU lookups it needs go at once. ``spent`` (optional) is added
        what the slowest lookup this call waited for spent on grants and on the wire.
        A failed lookup raises (the caller reports it per change); the next call tries again."""
        waits: list[Awaitable[list[SendTimes]]] = []
        if any(u.location_id is None for u in updates) and self._locations is None:
            waits.append(self._read_locations())
        missing = self._missing(updates)
        if missing:
            waits.append(self._look_up(missing))
        if len(waits) == 1:  # the usual case: no task of gather's
            lookups = await waits[0]
        elif waits:
            lookups = [t for done in await asyncio.gather(*waits) for t in done]
        else:
            lookups = []
        if spent is not None and lookups:
            spent.add(max(lookups, key=lambda t: t.permit_s + t.http_s))
        return self._resolved(updates)

    def resolve_cached(self, updates: Sequence[InventoryUpdate]) -> list[QuantityChange | str] | None:
        """What :meth:`resolve` answers, at once, when it needs no lookup (every SKU and location
        known); None otherwise. Why: most urgent changes are for items seen before, and a call that
        never waits spares the event loop the tasks a wait costs (a burst of 50 made 100)."""
        if any(u.location_id is None for u in updates) and self._locations is None:
            return None
        return None if self._missing(updates) else self._resolved(updates)

    def _missing(self, updates: Sequence[InventoryUpdate]) -> set[str]:
        """SKUs of ``updates`` not known yet."""
        return {
            u.sku
            for u in updates
            if u.inventory_item_id is None
            and u.sku
            and u.sku not in self._skus
            and not u.sku.startswith(ITEM_GID_PREFIX)
        }

    def _resolved(self, updates: Sequence[InventoryUpdate]) -> list[QuantityChange | str]:
        out: list[QuantityChange | str] = []
        for update in updates:
            try:
                out.append(
                    QuantityChange(
                        inventory_item_id=self._item(update),
                        location_id=self._location(update),
                        quantity=update.quantity,
                        change_from=update.change_from,
                    )
                )
            except Unresolved as exc:
                out.append(str(exc))
        return out

    async def _read_locations(self) -> list[SendTimes]:
        if self._locations_lookup is None:
            self.lookups += 1
            self._locations_lookup = asyncio.ensure_future(self._locations_read())
        lookup = self._locations_lookup
        try:  # shielded: one caller giving up does not cancel the others' lookup
            self._locations, times = await asyncio.shield(lookup)
        finally:
            if lookup.done() and (lookup.cancelled() or lookup.exception() is not None):
                self._locations_lookup = None  # failed: the next call asks again
        return [times]

    async def _locations_read(self) -> tuple[dict[str, str], SendTimes]:
        with recording(SendTimes()) as times:
            return await inventory.locations(self._client, priority=self._priority), times

    async def _look_up(self, skus: set[str]) -> list[SendTimes]:
        """Wait for ``skus`` to be known, joining lookups already asked for and queueing the others
        for one batch sent at the next turn of the event loop; what each lookup spent."""
        loop = asyncio.get_running_loop()
        waits = []
        for sku in sorted(skus):
            asked = self._asked.get(sku)
            if asked is None:
                asked = self._asked[sku] = loop.create_future()
                asked.add_done_callback(_retrieved)
                if not self._queued:
                    loop.call_soon(self._send_queued)
                self._queued.append(sku)
            waits.append(asyncio.shield(asked))
        return list(await asyncio.gather(*waits))

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        for start in range(0, len(queued), inventory.SKUS_PER_QUERY):
            task = asyncio.create_task(self._send(queued[start:start + inventory.SKUS_PER_QUERY]),
                                       name="sku-lookup")
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _send(self, skus: list[str]) -> None:
        self.lookups += 1
        try:
            with recording(SendTimes()) as times:
                found = await inventory.inventory_items_by_sku(self._client, skus, priority=self._priority)
        except Exception as exc:
            for sku in skus:  # every waiter hears why; the SKUs are asked again next time
                asked = self._asked.pop(sku)
                if not asked.done():
                    asked.set_exception(exc)
            return
        except BaseException:  # cancelled: the session is closing
            for sku in skus:
                self._asked.pop(sku).cancel()
            raise
        for sku in skus:
            self._skus[sku] = found.get(sku, [])
            asked = self._asked.pop(sku)
            if not asked.done():
                asked.set_result(times)

    async def aclose(self) -> None:
        """Cancel the lookups still in flight (the session is closing)."""
        tasks = [*self._lookups, *([self._locations_lookup] if self._locations_lookup else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _item(self, update: InventoryUpdate) -> str:
        if update.inventory_item_id:
            return update.inventory_item_id
        sku = update.sku or ""
        if sku.startswith(ITEM_GID_PREFIX):  # a GID in a SKU column: people paste them there
            return sku
        found = self._skus.get(sku, [])
        if not found:
            raise Unresolved(f"unknown SKU {sku!r}")
        if len(found) > 1:
            raise Unresolved(f"ambiguous SKU {sku!r}: {len(found)} inventory items carry it")
        return found[0]

    def _location(self, update: InventoryUpdate) -> str:
        if update.location_id:
            return update.location_id
        name = update.location_name or ""
        known = self._locations or {}
        if name in known:
            return known[name]
        folded = [gid for n, gid in known.items() if n.casefold() == name.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise Unresolved(f"unknown location {name!r} (known: {', '.join(sorted(known)) or 'none'})")

    def statistics(self) -> ResolverStatistics:
        """Cached SKUs and locations, and how many lookups were sent."""
        return ResolverStatistics(skus=len(self._skus), locations=len(self._locations or {}),
                                  lookups=self.lookups)

    def __repr__(self) -> str:
        return f"InventoryResolver(skus={len(self._skus)}, locations={len(self._locations or {})})"


def _retrieved(future: asyncio.Future[SendTimes]) -> None:
    """Mark a lookup's failure as seen: its waiters may all have given up (no "never retrieved" log)."""
    if not future.cancelled():
        future.exception()
