"""Turn inventory changes as people write them (SKU, location name) into what the API takes (GIDs).

Why cached per shop session: the urgent lane must not pay a lookup per change. Locations are read
once; SKUs are looked up in batches the first time they are seen and remembered. SKUs are not unique
in every shop: a SKU with two inventory items is REJECTED ("ambiguous"), never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

from bulk.models import InventoryUpdate, Lane
from bulk.shopify import inventory
from bulk.shopify.client import ShopifyClient
from bulk.shopify.inventory import QuantityChange

ITEM_GID_PREFIX = "gid://shopify/InventoryItem/"


class Unresolved(Exception):
    """Internal: why one change cannot be sent (becomes a REJECTED result, never escapes)."""


class InventoryResolver:
    """SKU → inventory item GID and location name → GID, with a per-session cache."""

    def __init__(self, client: ShopifyClient, *, priority: Lane = Lane.URGENT) -> None:
        self._client = client
        self._priority = priority
        self._locations: dict[str, str] | None = None
        self._skus: dict[str, list[str]] = {}
        self.lookups = 0

    async def resolve(self, updates: Sequence[InventoryUpdate]) -> list[QuantityChange | str]:
        """For each update, the resolved :class:`QuantityChange` or the reason it cannot be sent."""
        if any(u.location_id is None for u in updates) and self._locations is None:
            self.lookups += 1
            self._locations = await inventory.locations(self._client, priority=self._priority)
        missing = {
            u.sku
            for u in updates
            if u.inventory_item_id is None
            and u.sku
            and u.sku not in self._skus
            and not u.sku.startswith(ITEM_GID_PREFIX)
        }
        if missing:
            self.lookups += 1
            self._skus.update(
                await inventory.inventory_items_by_sku(self._client, sorted(missing), priority=self._priority)
            )
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

    def statistics(self) -> dict[str, int]:
        """Cached SKUs and locations, and how many lookups were sent."""
        return {"skus": len(self._skus), "locations": len(self._locations or {}), "lookups": self.lookups}

    def __repr__(self) -> str:
        return f"InventoryResolver(skus={len(self._skus)}, locations={len(self._locations or {})})"
