"""The values our own writes set, read from the shop's answers (pure).

A ``productVariantsBulkUpdate`` answer — direct, or one line of a bulk operation's result JSONL —
returns the variants it updated with their ``price`` and ``compareAtPrice`` as the shop now has them
(queries/product_variants_bulk_update*.graphql select them). Written to the catalog cache as they
arrive (:meth:`bulk.catalog.CatalogStore.apply_variants`), so the cache knows our writes before the
next sync fetches the products they moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VariantValues = tuple[str, str | None, str | None]
"""``(variant GID, price, compareAtPrice)`` as the shop answered."""


def applied_variants(data: Mapping[str, Any] | None) -> list[VariantValues]:
    """The variants a ``productVariantsBulkUpdate`` answer's ``data`` says were written; nothing when it
    carries userErrors (all or nothing, or a partial update whose answer we do not guess at) or is
    another mutation's."""
    if not isinstance(data, Mapping):
        return []
    payload = data.get("productVariantsBulkUpdate")
    if not isinstance(payload, Mapping) or payload.get("userErrors"):
        return []
    out: list[VariantValues] = []
    for variant in payload.get("productVariants") or []:
        if isinstance(variant, Mapping) and variant.get("id"):
            price, compare_at = variant.get("price"), variant.get("compareAtPrice")
            out.append((str(variant["id"]), None if price is None else str(price),
                        None if compare_at is None else str(compare_at)))
    return out
