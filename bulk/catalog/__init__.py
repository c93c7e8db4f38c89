"""The local catalog cache (SKU/handle → GID and current values)."""

from bulk.catalog.store import Ambiguous, CatalogStore, ProductRecord, VariantRecord

__all__ = ["Ambiguous", "CatalogStore", "ProductRecord", "VariantRecord"]
