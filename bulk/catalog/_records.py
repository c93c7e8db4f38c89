"""What the catalog cache answers: a variant's and a product's record, an ambiguous key, and the
planner's column-wise view of many variants (:class:`PriceColumns`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """A variant as the shop had it at the last sync."""

    variant_id: str
    product_id: str
    sku: str | None
    price: Decimal | None
    compare_at_price: Decimal | None
    inventory_item_id: str | None


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A product as the shop had it at the last sync."""

    product_id: str
    handle: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """A key (SKU or handle) that names more than one object."""

    key: str
    matches: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PriceColumns:
    """What the catalog holds for some variant keys, column by column: row ``i`` is the variant of
    ``keys[i]`` — its GID (None: unknown, or ambiguous when ``ambiguous`` has ``i``), product GID,
    price and compare-at price as stored (text, not parsed).

    Why columns: the planner walks its variants in one order and needs four values of each; lined
    up with the walk there is no dict to probe and no object per variant, and they pickle cheaply
    (the reading process looks them up ahead: :mod:`bulk.sources._reader_process`)."""

    keys: list[str]
    variant_ids: list[str | None] = field(default_factory=list)
    product_ids: list[str | None] = field(default_factory=list)
    prices: list[str | None] = field(default_factory=list)
    compare_ats: list[str | None] = field(default_factory=list)
    ambiguous: dict[int, Ambiguous] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


def variant_of_row(row: tuple[Any, ...]) -> VariantRecord:
    """A ``variants`` table row (``SELECT *``) as a record."""
    return VariantRecord(row[0], row[1], row[2], _money(row[3]), _money(row[4]), row[5])


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogStatistics:
    """A snapshot of the cache's size."""

    products: int
    variants: int
