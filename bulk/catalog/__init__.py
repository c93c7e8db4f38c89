"""The local catalog cache (SKU/handle → GID and current values)."""

from bulk.catalog._records import Ambiguous, CatalogStatistics, PriceColumns, ProductRecord, VariantRecord
from bulk.catalog._store import CatalogStore

__all__ = ["Ambiguous", "CatalogStatistics", "CatalogStore", "PriceColumns", "ProductRecord", "VariantRecord"]
