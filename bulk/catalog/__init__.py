"""The local catalog cache (SKU/handle → GID and current values)."""

from bulk.catalog._store import Ambiguous, CatalogStore, PriceColumns, ProductRecord, VariantRecord

__all__ = ["Ambiguous", "CatalogStore", "PriceColumns", "ProductRecord", "VariantRecord"]
