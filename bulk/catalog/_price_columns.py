"""The planner's hot path into the catalog cache: many variant keys at once, as columns.

Each batch is one query — a JSON array of keys joined to the index, so rows come back with their
key's position — and no row becomes an object (:class:`~bulk.catalog.PriceColumns`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from bulk.catalog._records import Ambiguous, PriceColumns

_JSON_BATCH = 10_000  # keys per json_each(...) query


def price_columns(db: sqlite3.Connection, keys: Sequence[str]) -> PriceColumns:
    """What the planner needs of each variant, by :meth:`~bulk.models.VariantRef.key` (the GID,
    ``sku:`` and the SKU, or ``options:`` and the JSON array of handle and option values), in the
    order of ``keys``: see :class:`PriceColumns`.

    The planner's hot path: each batch is one query (a JSON array of keys joined to the index, so
    rows come back with their key's position) and nothing is converted, no row becomes an object:
    3× faster than :meth:`~bulk.catalog.CatalogStore.variants_by_sku`."""
    out = PriceColumns(list(keys))
    count = len(out.keys)
    for column in (out.variant_ids, out.product_ids, out.prices, out.compare_ats):
        column.extend([None] * count)
    skus = [i for i, key in enumerate(out.keys) if key.startswith("sku:")]
    named = [i for i, key in enumerate(out.keys) if key.startswith("options:")]
    ids = [i for i, key in enumerate(out.keys) if not key.startswith(("sku:", "options:"))]
    _fill(db, out, "JOIN variants v ON v.sku = j.value", skus, [out.keys[i][4:] for i in skus])
    _fill(db, out, "JOIN variant_options o ON o.key = j.value "
          "JOIN variants v ON v.variant_id = o.variant_id", named, [out.keys[i][8:] for i in named])
    _fill(db, out, "JOIN variants v ON v.variant_id = j.value", ids, [out.keys[i] for i in ids])
    return out


def _fill(
    db: sqlite3.Connection, out: PriceColumns, join: str, positions: list[int], values: list[str]
) -> None:
    variant_ids, product_ids = out.variant_ids, out.product_ids
    prices, compare_ats = out.prices, out.compare_ats
    shared: dict[str | None, str | None] = {}  # one str per distinct product and amount: pickled once
    same = shared.setdefault
    sql = ("SELECT j.key, v.variant_id, v.product_id, v.price, v.compare_at_price "
           f"FROM json_each(?) j {join}")
    if not values:
        return
    for start in range(0, len(values), _JSON_BATCH):
        batch = values[start : start + _JSON_BATCH]
        rows = db.execute(sql, (json.dumps(batch),)).fetchall()
        at = positions[start : start + len(batch)]
        if rows and len(rows) == len(batch) and at[-1] - at[0] == len(batch) - 1:
            indexes, *found = zip(*rows, strict=True)
            if indexes == tuple(range(len(batch))):  # the common case: each key once, in order
                span = slice(at[0], at[-1] + 1)  # ...at consecutive positions: whole columns at once
                variant_ids[span] = found[0]
                for into, taken in zip((product_ids, prices, compare_ats), found[1:], strict=True):
                    into[span] = map(same, taken, taken)
                continue
        for index, variant_id, product_id, price, compare_at in rows:
            here = at[index]
            if here in out.ambiguous:  # a third (or later) variant with this SKU
                seen = out.ambiguous[here]
                out.ambiguous[here] = Ambiguous(seen.key, (*seen.matches, variant_id))
                continue
            if variant_ids[here] is not None:  # a second one
                out.ambiguous[here] = Ambiguous(batch[index], (str(variant_ids[here]), variant_id))
                variant_ids[here] = product_ids[here] = prices[here] = compare_ats[here] = None
                continue
            variant_ids[here] = variant_id
            product_ids[here] = same(product_id, product_id)
            prices[here] = same(price, price)
            compare_ats[here] = same(compare_at, compare_at)
