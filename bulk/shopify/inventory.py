"""The inventory operations the urgent lane needs: set quantities, SKU → item, location name → id.

Why thin functions over :class:`~bulk.shopify.client.ShopifyClient`: each is one document, one cost
estimate and one way to read the answer; batching, ordering and per-item outcomes are the lane's job
(:mod:`bulk.lanes.urgent`). Every call goes through the scheduler at the priority given (URGENT for
inventory).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bulk.errors import GraphQLRequestError
from bulk.models import Lane
from bulk.shopify import documents
from bulk.shopify.client import ShopifyClient

MAX_QUANTITIES = 250  # Shopify's input-list limit for one inventorySetQuantities
MUTATION_COST = 10  # every mutation root field costs 10 points
SKUS_PER_QUERY = 25  # aliases in inventory_items_by_skus.graphql
FEW_SKUS = 5  # aliases in inventory_items_by_few_skus.graphql (a lookup of ≤ 5 SKUs costs 20, not 100)
ALIAS_COST = 2 + 2  # each alias: a connection (2) + first: 2 nodes
LOOKUP_FIRST = 250


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantityChange:
    """One resolved change: set ``quantity`` of an item at a location (compare-and-set if ``change_from``)."""

    inventory_item_id: str
    location_id: str
    quantity: int
    change_from: int | None = None

    @property
    def pair(self) -> tuple[str, str]:
        """(item, location): at most one change per pair may travel in one call."""
        return (self.inventory_item_id, self.location_id)

    def as_input(self) -> dict[str, Any]:
        """The ``InventoryQuantityInput`` (``changeFromQuantity`` is mandatory, ``null`` = no check)."""
        return {
            "inventoryItemId": self.inventory_item_id,
            "locationId": self.location_id,
            "quantity": self.quantity,
            "changeFromQuantity": self.change_from,
        }


def set_quantities_variables(
    changes: Sequence[QuantityChange], *, idempotency_key: str, reason: str = "correction"
) -> dict[str, Any]:
    """Variables of ``inventory_set_quantities.graphql`` for one batch (≤ 250 changes)."""
    if not 0 < len(changes) <= MAX_QUANTITIES:
        raise ValueError(f"a batch holds 1..{MAX_QUANTITIES} changes, not {len(changes)}")
    return {
        "input": {"name": "available", "reason": reason, "quantities": [c.as_input() for c in changes]},
        "idempotencyKey": idempotency_key,
    }


async def set_quantities(
    client: ShopifyClient,
    changes: Sequence[QuantityChange],
    *,
    idempotency_key: str,
    reason: str = "correction",
    priority: Lane = Lane.URGENT,
) -> dict[str, Any]:
    """Send one batch; return the ``inventorySetQuantities`` payload (``userErrors`` are per item)."""
    response = await client.request(
        documents.document(documents.INVENTORY_SET_QUANTITIES),
        set_quantities_variables(changes, idempotency_key=idempotency_key, reason=reason),
        cost=MUTATION_COST,
        priority=priority,
    )
    payload = response.data.get("inventorySetQuantities")
    if not isinstance(payload, Mapping):
        raise GraphQLRequestError(
            "inventorySetQuantities returned no payload",
            errors=[{"message": "null payload"}],
            token_index=response.token_index,
        )
    return dict(payload)


def _search_term(sku: str) -> str:
    escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
    return f'sku:"{escaped}"'


async def inventory_items_by_sku(
    client: ShopifyClient, skus: Iterable[str], *, priority: Lane = Lane.URGENT
) -> dict[str, list[str]]:
    """``{sku: [inventory item GIDs]}`` for each SKU asked (an empty list: unknown; two or more: ambiguous).

    Shopify's search is not an exact match, so each returned item's ``sku`` is compared exactly.
    """
    wanted = list(dict.fromkeys(skus))
    found: dict[str, list[str]] = {sku: [] for sku in wanted}
    for start in range(0, len(wanted), SKUS_PER_QUERY):
        chunk = wanted[start : start + SKUS_PER_QUERY]
        aliases, name = ((FEW_SKUS, documents.INVENTORY_ITEMS_BY_FEW_SKUS) if len(chunk) <= FEW_SKUS
                         else (SKUS_PER_QUERY, documents.INVENTORY_ITEMS_BY_SKUS))
        slots = chunk + [chunk[-1]] * (aliases - len(chunk))  # unused aliases repeat the last SKU
        response = await client.request(
            documents.document(name),
            {f"q{i}": _search_term(sku) for i, sku in enumerate(slots)},
            cost=aliases * ALIAS_COST,
            priority=priority,
        )
        for i in range(len(chunk)):
            for node in (response.data.get(f"s{i}") or {}).get("nodes") or []:
                sku = node.get("sku")
                if sku in found and node.get("id") not in found[sku]:
                    found[sku].append(node["id"])
    return found


async def locations(client: ShopifyClient, *, priority: Lane = Lane.URGENT) -> dict[str, str]:
    """``{location name: location GID}`` for every location of the shop (paged)."""
    out: dict[str, str] = {}
    after: str | None = None
    while True:
        response = await client.request(
            documents.document(documents.LOCATIONS),
            {"first": LOOKUP_FIRST, "after": after},
            cost=2 + LOOKUP_FIRST,
            priority=priority,
        )
        connection = response.data.get("locations") or {}
        for node in connection.get("nodes") or []:
            out[node["name"]] = node["id"]
        page = connection.get("pageInfo") or {}
        if not page.get("hasNextPage") or not page.get("endCursor"):
            return out
        after = page["endCursor"]
