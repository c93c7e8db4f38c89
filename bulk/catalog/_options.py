"""The option index: variants without SKU found by product handle + option values.

Shopify's own CSV import names such a variant by its product's handle and its option values; the
export brings ``Product.options { name position }`` and ``ProductVariant.selectedOptions { name value }``
and each variant is indexed (``variant_options``) by the JSON text of ``[handle, *values]`` with the
values in the order of its product's options — the key :meth:`bulk.models.VariantRef.key` gives such a
reference after ``options:``. Two variants with the same handle and values are ambiguous.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

# the JSON text of bulk.models.VariantRef.key() (json.dumps with these arguments), one encoder for all
key_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_REMEMBERED = 10_000  # products kept while an export loads (variants follow their product)


class OptionIndex:
    """Turns the lines of one export into ``product_options`` and ``variant_options`` rows."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        # product → (handle, option names in position order), while an export loads
        self._products: dict[str, tuple[str | None, list[str]]] = {}

    def remember(self, gid: str, line: Mapping[str, Any]) -> str | None:
        """Keep a product line's handle and option names (by ``position``) for its variant lines;
        returns the names as the ``product_options`` table keeps them, None for fewer than two."""
        options = sorted(line.get("options") or [], key=lambda o: int(o.get("position") or 0))
        names = [str(o.get("name", "")) for o in options]
        if len(self._products) >= _REMEMBERED:  # variants follow their product: older ones are done
            self._products.clear()
        self._products[gid] = (line.get("handle"), names)
        return key_text(names) if len(names) > 1 else None

    def entry(self, gid: str, line: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """Index a variant line by its product's handle and its ``selectedOptions`` values in the order
        of the product's options (``position``; the schema does not promise ``selectedOptions`` come in
        that order, so we do not rely on it): ``(variant, product, key)``, or None (nothing to index
        by)."""
        selected = line.get("selectedOptions")
        product_id = line.get("__parentId") or line.get("productId")
        if not selected or not product_id:
            return None
        product_id = str(product_id)
        known = self._products.get(product_id)
        if known is None:  # its product line came in an earlier load
            row = self._db.execute("SELECT p.handle, o.names FROM products p LEFT JOIN product_options o "
                                   "ON o.product_id = p.product_id WHERE p.product_id = ?",
                                   (product_id,)).fetchone()
            known = (None, []) if row is None else (row[0], json.loads(row[1] or "[]"))
        handle, names = known
        if not handle:
            return None
        if len(selected) > 1:
            rank = {name: i for i, name in enumerate(names)}
            selected = sorted(selected, key=lambda o: rank.get(str(o.get("name", "")), len(rank)))  # stable
        return gid, product_id, key_text([handle, *(str(option.get("value", "")) for option in selected)])
