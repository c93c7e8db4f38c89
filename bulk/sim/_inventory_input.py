"""What ``inventorySetQuantities`` checks before it applies anything: the ``@idempotent(key:)``
(required in API 2026-04), the input's name and reason, and each quantity — a known item and
location, once per pair, within 0..1,000,000,000, and ``changeFromQuantity`` equal to the current
quantity (the compare-and-set guard). Pure: the catalog is only read."""

from __future__ import annotations

from typing import Any

from graphql import get_directive_values

from bulk.sim._catalog import LOCATIONS, Catalog
from bulk.sim._ops_common import bad_request, reject_unknown_keys, user_error
from bulk.sim._values import ITEM_GID, LOCATION_GID, gid_number

REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
MAX_QUANTITY = 1_000_000_000
SET_INPUT = frozenset({"name", "reason", "referenceDocumentUri", "quantities"})
QUANTITY_INPUT = frozenset({"inventoryItemId", "locationId", "quantity", "changeFromQuantity"})


def plan_quantities(
    data: dict[str, Any], catalog: Catalog
) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]]]:
    """Check an ``InventorySetQuantitiesInput`` against the catalog: ``(item, location, quantity)`` of
    each change to make, and the userErrors (any error: nothing in the call is applied)."""
    reject_unknown_keys(data, SET_INPUT, "InventorySetQuantitiesInput")
    errors: list[dict[str, Any]] = []
    if data["name"] != "available":
        errors.append(
            user_error(
                ["input", "name"],
                "The quantity name must be 'available' in the simulated shop",
                "INVALID_NAME",
            )
        )
    if data["reason"] not in REASONS:
        errors.append(
            user_error(["input", "reason"], "The specified reason is invalid", "INVALID_REASON")
        )
    planned: list[tuple[int, int, int]] = []
    pairs: set[tuple[int, int]] = set()
    for i, q in enumerate(data["quantities"]):
        reject_unknown_keys(q, QUANTITY_INPUT, "InventoryQuantityInput")
        path = ["input", "quantities", str(i)]
        vid = gid_number(q["inventoryItemId"], ITEM_GID)
        loc = gid_number(q["locationId"], LOCATION_GID)
        if not catalog.has_variant(vid):
            errors.append(
                user_error(
                    [*path, "inventoryItemId"],
                    "The specified inventory item could not be found.",
                    "INVALID_INVENTORY_ITEM",
                )
            )
            continue
        if loc not in LOCATIONS:
            errors.append(
                user_error(
                    [*path, "locationId"],
                    "The specified location could not be found.",
                    "INVALID_LOCATION",
                )
            )
            continue
        assert vid is not None and loc is not None
        if (vid, loc) in pairs:
            errors.append(
                user_error(
                    path,
                    "The combination of inventoryItemId and locationId must be unique.",
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                )
            )
            continue
        pairs.add((vid, loc))
        quantity = q["quantity"]
        if quantity < 0:
            errors.append(
                user_error(
                    [*path, "quantity"], "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE"
                )
            )
            continue
        if quantity > MAX_QUANTITY:
            errors.append(
                user_error(
                    [*path, "quantity"],
                    f"The quantity can't be higher than {MAX_QUANTITY:,}.",
                    "INVALID_QUANTITY_TOO_HIGH",
                )
            )
            continue
        current = catalog.available(vid, loc)
        expected = q.get("changeFromQuantity")
        if expected is not None and expected != current:
            errors.append(
                user_error(
                    [*path, "changeFromQuantity"],
                    "The specified compare quantity does not match the current quantity.",
                    "CHANGE_FROM_QUANTITY_STALE",
                )
            )
            continue
        planned.append((vid, loc, quantity))
    return planned, errors


def idempotency_key(info: Any) -> str:
    """The ``@idempotent(key:)`` on this field (variables resolved); a GraphQL error if missing."""
    directive = info.schema.get_directive("idempotent")
    values = get_directive_values(directive, info.field_nodes[0], info.variable_values) if directive else None
    key = (values or {}).get("key")
    if not isinstance(key, str) or not key:
        raise bad_request(
            "The @idempotent directive with a non-empty key is required for inventorySetQuantities "
            "(API 2026-04)",
            "IDEMPOTENCY_KEY_REQUIRED",
        )
    return key
