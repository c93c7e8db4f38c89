"""Inventory: ``inventorySetQuantities`` with its required ``@idempotent(key:)``, ``inventoryItems``,
``locations``.

Why so strict: this is the urgent lane's only write. In API 2026-04 the idempotency key is required,
``changeFromQuantity`` is the compare-and-set guard, and a call is atomic here (one stale or invalid
quantity and nothing in the call is applied), so the client must get retries and conflicts right
against the simulator before it meets a real shop. What a call's input must be, change by change,
and its idempotency key: :mod:`bulk.sim._inventory_input`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

from bulk.sim._catalog import LOCATIONS
from bulk.sim._inventory_input import idempotency_key, plan_quantities
from bulk.sim._ops_common import (
    ShopCore,
    connection,
    list_source,
    not_implemented,
    parse_search,
    range_source,
    user_error,
)
from bulk.sim._ops_nodes import Nodes
from bulk.sim._values import ITEM_GID, LOCATION_GID, gid_number, iso


class InventoryOps:
    """Resolvers for inventory items, levels, locations and ``inventorySetQuantities``."""

    def __init__(self, core: ShopCore, nodes: Nodes) -> None:
        self.core = core
        self.nodes = nodes
        self.catalog = core.catalog
        # (token_index, key) -> (input digest, payload as JSON): keys are scoped per app (token) and
        # never expire. Stored compactly because a long benchmark sends hundreds of thousands.
        self._idempotent: dict[tuple[int, str], tuple[bytes, bytes]] = {}
        self._groups = itertools.count(1)
        self.replays = 0

    # -- reads ----------------------------------------------------------------------------------
    def inventory_item(self, _: Any, info: Any, *, id: str) -> dict[str, Any] | None:
        """``inventoryItem(id:)``."""
        vid = gid_number(id, ITEM_GID)
        return None if vid is None else self.nodes.item(vid)

    def inventory_items(self, _: Any, info: Any, *, query: str | None = None, **args: Any) -> Any:
        """``inventoryItems(first:, query: "sku:X")``."""
        terms = parse_search(query, frozenset({"sku"}))
        if not terms:
            source = range_source(10, self.catalog.products * 10 + 9, self.nodes.item)
        else:
            keys: set[int] | None = None
            for t in terms:
                if t.op != "=":
                    raise not_implemented(f"Search term 'sku:{t.op}'")
                vid = self.catalog.variant_by_sku(t.value)
                found = {vid} if vid is not None else set()
                keys = found if keys is None else keys & found
            source = list_source(sorted(keys or ()), self.nodes.item)
        return connection(source, **args)

    def locations(self, _: Any, info: Any, **args: Any) -> dict[str, Any]:
        """``locations(first:)``: the three locations (all active)."""
        if args.pop("query", None):
            raise not_implemented("Argument 'query' of locations")
        args.pop("includeLegacy", None)
        args.pop("includeInactive", None)
        return connection(list_source(sorted(LOCATIONS), self.nodes.location), **args)

    def location(self, _: Any, info: Any, *, id: str | None = None) -> dict[str, Any] | None:
        """``location(id:)``; without ``id``, the primary location (1)."""
        loc = 1 if id is None else gid_number(id, LOCATION_GID)
        return None if loc is None else self.nodes.location(loc)

    @staticmethod
    def group_changes(
        parent: dict[str, Any],
        info: Any,
        *,
        inventoryItemIds: list[str] | None = None,
        locationIds: list[str] | None = None,
        quantityNames: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``InventoryAdjustmentGroup.changes`` with its filters."""
        out = []
        for ch in parent["_changes"]:
            if inventoryItemIds is not None and ch["item"]["id"] not in inventoryItemIds:
                continue
            if locationIds is not None and ch["location"]["id"] not in locationIds:
                continue
            if quantityNames is not None and ch["name"] not in quantityNames:
                continue
            out.append(ch)
        return out

    # -- inventorySetQuantities -----------------------------------------------------------------
    def set_quantities(self, _: Any, info: Any, *, input: dict[str, Any]) -> dict[str, Any]:
        """``inventorySetQuantities(input:) @idempotent(key:)``."""
        key = idempotency_key(info)
        token = info.context.token_index
        fingerprint = hashlib.blake2b(
            json.dumps(input, sort_keys=True, default=str).encode(), digest_size=16
        ).digest()
        seen = self._idempotent.get((token, key))
        if seen is not None:
            if seen[0] != fingerprint:
                return {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [
                        user_error(
                            None,
                            "The same idempotency key was used with different input",
                            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                        )
                    ],
                }
            self.replays += 1
            replay: dict[str, Any] = json.loads(seen[1])  # the first answer, exactly
            return replay
        payload = self._apply(input)
        self._idempotent[(token, key)] = (fingerprint, json.dumps(payload, separators=(",", ":")).encode())
        return payload

    def _apply(self, data: dict[str, Any]) -> dict[str, Any]:
        planned, errors = plan_quantities(data, self.catalog)
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        return {"inventoryAdjustmentGroup": self._commit(data, planned), "userErrors": []}

    def _commit(self, data: dict[str, Any], planned: list[tuple[int, int, int]]) -> dict[str, Any] | None:
        now = self.core.wall()
        changes: list[dict[str, Any]] = []
        for vid, loc, quantity in planned:
            delta = quantity - self.catalog.available(vid, loc)
            self.catalog.set_available(vid, loc, quantity, now=now)
            if delta == 0:
                continue  # Shopify reports only quantities that moved
            for name in ("available", "on_hand"):
                changes.append(
                    {
                        "name": name,
                        "delta": delta,
                        "quantityAfterChange": quantity,
                        "item": self.nodes.item(vid),
                        "location": self.nodes.location(loc),
                        "ledgerDocumentUri": None,
                    }
                )
        if not changes:
            return None  # Shopify answers a group of nothing with null
        return {
            "id": f"gid://shopify/InventoryAdjustmentGroup/{next(self._groups)}",
            "createdAt": iso(now),
            "reason": data["reason"],
            "referenceDocumentUri": data.get("referenceDocumentUri"),
            "_changes": changes,
        }

    def statistics(self) -> dict[str, Any]:
        """Idempotency keys held and replays answered."""
        return {"idempotency_keys": len(self._idempotent), "idempotent_replays": self.replays}

    def __repr__(self) -> str:
        return f"InventoryOps(keys={len(self._idempotent)}, replays={self.replays})"

    def roots(self) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
        """(query root resolvers, mutation resolvers)."""
        return (
            {
                "inventoryItem": self.inventory_item,
                "inventoryItems": self.inventory_items,
                "locations": self.locations,
                "location": self.location,
            },
            {"inventorySetQuantities": self.set_quantities},
        )


SUPPORTED: dict[str, frozenset[str]] = {
    "InventorySetQuantitiesPayload": frozenset({"inventoryAdjustmentGroup", "userErrors"}),
    "InventorySetQuantitiesUserError": frozenset({"field", "message", "code"}),
    "InventoryAdjustmentGroup": frozenset({"id", "createdAt", "reason", "referenceDocumentUri", "changes"}),
    "InventoryChange": frozenset(
        {"name", "delta", "quantityAfterChange", "item", "location", "ledgerDocumentUri"}
    ),
}
