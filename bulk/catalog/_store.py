"""The local catalog cache: SKU / handle → GIDs and current values, in one SQLite file.

Filled from a bulk query export (flat JSONL where each variant line names its product in
``__parentId``), refreshed incrementally by ``updated_at`` before every run (:mod:`bulk.catalog.sync`,
docs/catalog.md), and told the values our own writes set as their answers arrive
(:meth:`CatalogStore.apply_variants`). The planner reads it in batches to resolve SKUs and to drop
no-op changes before anything is sent.

SKUs are not unique in every shop: a SKU that names several variants resolves to :class:`Ambiguous`,
which the planner turns into a per-row rejection rather than guessing. Variants without SKU are found
by product handle + option values (``variant_options``, from each variant's ``selectedOptions``), as
Shopify's own CSV import names them; two variants with the same handle and values are ambiguous too.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from bulk.catalog.media import ProductContent

_CHUNK = 500  # host parameters per IN (...) query; SQLite's default limit is far higher
_JSON_BATCH = 10_000  # keys per json_each(...) query
# the JSON text of bulk.models.VariantRef.key() (json.dumps with these arguments), one encoder for all
_key_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_FULL_SYNC_META = "last_full_sync_wall"  # bulk.catalog.sync.LAST_FULL_SYNC (sync imports this module)


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


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class CatalogStore:
    """A SQLite-backed catalog cache. Use as a context manager; ``path=":memory:"`` for tests."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # one user at a time, but not always the thread that opened it (planning runs in a worker thread)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        if self.path != ":memory:":
            # readers (the planner, the reading process) and the writer of our applied values work
            # side by side: with a write-ahead log neither blocks the other
            self._db.execute("PRAGMA journal_mode=WAL")
        had_options = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'variant_options'").fetchone()
        self._db.executescript(resources.files("bulk.catalog").joinpath("sql/schema.sql").read_text())
        if had_options is None:
            # a cache from before the option index: its variants have no option values, and an
            # incremental sync would bring only those of changed products. Forgetting its last full
            # sync makes the next run's sync a full one (bulk.catalog.freshness: "never filled whole
            # by this version").
            with self._db:
                self._db.execute("DELETE FROM meta WHERE key = ?", (_FULL_SYNC_META,))
        # product → (handle, option names in position order), while an export loads
        self._products: dict[str, tuple[str | None, list[str]]] = {}
        self._syncing_incrementally = False  # between begin_sync and finish_sync of an incremental load

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    # -- filling -------------------------------------------------------------------------------
    def begin_sync(self, *, full: bool) -> None:
        """Start loading an export. A full one starts from an empty cache (what the shop deleted must
        not survive it); an incremental one replaces the products it brings, variants included (a
        variant deleted from a product that changed goes: see :meth:`finish_sync`)."""
        with self._db:
            if full:
                self._db.execute("DELETE FROM products")
                self._db.execute("DELETE FROM variants")
                self._db.execute("DELETE FROM variant_options")
                self._db.execute("DELETE FROM product_options")
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS synced_products (id TEXT PRIMARY KEY)")
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS synced_variants (id TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM synced_products")
            self._db.execute("DELETE FROM synced_variants")
        self._syncing_incrementally = not full

    def finish_sync(self) -> int:
        """End the load begun by :meth:`begin_sync`; returns how many variants were dropped (variants
        of products the export brought, absent from it: deleted in the shop)."""
        with self._db:
            dropped = 0
            if self._syncing_incrementally:
                self._db.execute(  # first, through the variants' product index
                    "DELETE FROM variant_options WHERE variant_id IN (SELECT variant_id FROM variants "
                    "WHERE product_id IN (SELECT id FROM synced_products) "
                    "AND variant_id NOT IN (SELECT id FROM synced_variants))")
                dropped = self._db.execute(
                    "DELETE FROM variants WHERE product_id IN (SELECT id FROM synced_products) "
                    "AND variant_id NOT IN (SELECT id FROM synced_variants)").rowcount
            self._db.execute("DELETE FROM synced_products")
            self._db.execute("DELETE FROM synced_variants")
        self._syncing_incrementally = False
        return int(dropped)

    def record_applied(self, run_key: str, values: Iterable[tuple[str, str | None, str | None]]) -> int:
        """Keep what run ``run_key`` applied (as :meth:`apply_variants` takes it), durably, without
        changing the picture yet: the run (or its resumption after a crash) keeps planning against
        the picture it started from. :meth:`merge_applied` makes them the picture."""
        with self._db:
            cursor = self._db.executemany(
                "INSERT INTO applied VALUES (?, ?, ?, ?) ON CONFLICT (run_key, variant_id) DO UPDATE SET "
                "price = excluded.price, compare_at_price = excluded.compare_at_price",
                ((run_key, gid, price, compare_at) for gid, price, compare_at in values))
        return int(cursor.rowcount)

    def merge_applied(self, run_key: str) -> int:
        """Run ``run_key`` ended: what it applied becomes the picture; returns the variants updated."""
        with self._db:  # one statement: 750k variants in ~2 s (executemany from Python: ~4 s)
            count = self._db.execute(
                "UPDATE variants SET price = a.price, compare_at_price = a.compare_at_price FROM applied a "
                "WHERE a.run_key = ? AND variants.variant_id = a.variant_id", (run_key,)).rowcount
            self._db.execute("DELETE FROM applied WHERE run_key = ?", (run_key,))
        return int(count)

    def apply_variants(self, values: Iterable[tuple[str, str | None, str | None]]) -> int:
        """Our own writes, as the shop answered them: ``(variant GID, price, compareAtPrice)`` of each
        variant a mutation updated. Unknown variants are left alone (the next sync brings them).
        Returns how many variants were updated."""
        with self._db:
            return self._apply(values)

    def _apply(self, values: Iterable[tuple[str, str | None, str | None]]) -> int:
        cursor = self._db.executemany(
            "UPDATE variants SET price = ?, compare_at_price = ? WHERE variant_id = ?",
            ((price, compare_at, gid) for gid, price, compare_at in values))
        return int(cursor.rowcount)

    def load_export(self, lines: Iterable[Mapping[str, Any]]) -> int:
        """Upsert the objects of a bulk query export; returns how many lines were stored."""
        lines = self.content.tap(lines)  # descriptions and media: bulk/catalog/media.py
        count = 0
        track = self._syncing_incrementally
        products: list[tuple[str, str]] = []  # (product, option names): written in one go, at the end
        indexed: list[tuple[str, str, str]] = []  # (variant, product, key)
        unindexed: list[tuple[str]] = []  # variants without option values
        with self._db:
            for line in lines:
                gid = str(line.get("id", ""))
                if "/Product/" in gid:
                    if track:
                        self._db.execute("INSERT OR IGNORE INTO synced_products VALUES (?)", (gid,))
                    self._db.execute(
                        "INSERT INTO products VALUES (?, ?, ?) ON CONFLICT (product_id) DO UPDATE SET "
                        "handle = excluded.handle, updated_at = excluded.updated_at",
                        (gid, line.get("handle"), line.get("updatedAt")),
                    )
                    names = self._remember_options(gid, line)
                    if names is not None:
                        products.append((gid, names))
                elif "/ProductVariant/" in gid:
                    if track:
                        self._db.execute("INSERT OR IGNORE INTO synced_variants VALUES (?)", (gid,))
                    item = line.get("inventoryItem") or {}
                    self._db.execute(
                        "INSERT INTO variants VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (variant_id) DO UPDATE "
                        "SET product_id = excluded.product_id, sku = excluded.sku, price = excluded.price, "
                        "compare_at_price = excluded.compare_at_price, "
                        "inventory_item_id = excluded.inventory_item_id",
                        (
                            gid,
                            line.get("__parentId") or line.get("productId"),
                            line.get("sku") or None,
                            line.get("price"),
                            line.get("compareAtPrice"),
                            item.get("id"),
                        ),
                    )
                    entry = self._index_options(gid, line)
                    if entry is None:
                        unindexed.append((gid,))
                    else:
                        indexed.append(entry)
                else:
                    continue
                count += 1
            self._db.executemany("INSERT OR REPLACE INTO product_options VALUES (?, ?)", products)
            self._db.executemany("DELETE FROM variant_options WHERE variant_id = ?", unindexed)
            self._db.executemany(
                "INSERT INTO variant_options VALUES (?, ?, ?) ON CONFLICT (variant_id) DO UPDATE SET "
                "product_id = excluded.product_id, key = excluded.key", indexed)
        return count

    def _remember_options(self, gid: str, line: Mapping[str, Any]) -> str | None:
        """Keep a product line's handle and option names (by ``position``) for its variant lines;
        returns the names as the ``product_options`` table keeps them, None for fewer than two."""
        options = sorted(line.get("options") or [], key=lambda o: int(o.get("position") or 0))
        names = [str(o.get("name", "")) for o in options]
        if len(self._products) >= 10_000:  # variants follow their product: older ones are done
            self._products.clear()
        self._products[gid] = (line.get("handle"), names)
        return _key_text(names) if len(names) > 1 else None

    def _index_options(self, gid: str, line: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """Index a variant line by its product's handle and its ``selectedOptions`` values in the order
        of the product's options (``position``; the schema does not promise ``selectedOptions`` come in
        that order, so we do not rely on it) — the key :meth:`~bulk.models.VariantRef.key` gives such a
        reference, after ``options:``: ``(variant, product, key)``, or None (nothing to index by)."""
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
        return gid, product_id, _key_text([handle, *(str(option.get("value", "")) for option in selected)])

    def set_meta(self, key: str, value: str) -> None:
        """Remember a value (e.g. the time of the last sync)."""
        with self._db:
            self._db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def get_meta(self, key: str) -> str | None:
        """A remembered value, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- reading -------------------------------------------------------------------------------
    def variants_by_sku(self, skus: Iterable[str]) -> dict[str, VariantRecord | Ambiguous]:
        """Resolve SKUs; unknown SKUs are absent from the result, shared ones are Ambiguous."""
        found: dict[str, list[VariantRecord]] = {}
        for rows in self._chunked("SELECT * FROM variants WHERE sku IN ({})", skus):
            for row in rows:
                rec = _variant(row)
                found.setdefault(str(rec.sku), []).append(rec)
        return {
            sku: recs[0] if len(recs) == 1 else Ambiguous(sku, tuple(r.variant_id for r in recs))
            for sku, recs in found.items()
        }

    def variants_by_id(self, ids: Iterable[str]) -> dict[str, VariantRecord]:
        """Variants by GID; unknown GIDs are absent."""
        out: dict[str, VariantRecord] = {}
        for rows in self._chunked("SELECT * FROM variants WHERE variant_id IN ({})", ids):
            for row in rows:
                rec = _variant(row)
                out[rec.variant_id] = rec
        return out

    def price_columns(self, keys: Sequence[str]) -> PriceColumns:
        """What the planner needs of each variant, by :meth:`~bulk.models.VariantRef.key` (the GID,
        ``sku:`` and the SKU, or ``options:`` and the JSON array of handle and option values), in the
        order of ``keys``: see :class:`PriceColumns`.

        The planner's hot path: each batch is one query (a JSON array of keys joined to the index, so
        rows come back with their key's position) and nothing is converted, no row becomes an object:
        3× faster than :meth:`variants_by_sku`."""
        out = PriceColumns(list(keys))
        count = len(out.keys)
        for column in (out.variant_ids, out.product_ids, out.prices, out.compare_ats):
            column.extend([None] * count)
        skus = [i for i, key in enumerate(out.keys) if key.startswith("sku:")]
        named = [i for i, key in enumerate(out.keys) if key.startswith("options:")]
        ids = [i for i, key in enumerate(out.keys) if not key.startswith(("sku:", "options:"))]
        self._fill(out, "JOIN variants v ON v.sku = j.value", skus, [out.keys[i][4:] for i in skus])
        self._fill(out, "JOIN variant_options o ON o.key = j.value "
                   "JOIN variants v ON v.variant_id = o.variant_id", named, [out.keys[i][8:] for i in named])
        self._fill(out, "JOIN variants v ON v.variant_id = j.value", ids, [out.keys[i] for i in ids])
        return out

    def _fill(self, out: PriceColumns, join: str, positions: list[int], values: list[str]) -> None:
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
            rows = self._db.execute(sql, (json.dumps(batch),)).fetchall()
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

    def products_by_handle(self, handles: Iterable[str]) -> dict[str, ProductRecord | Ambiguous]:
        """Resolve URL handles (unique in Shopify, but a stale cache may disagree)."""
        found: dict[str, list[ProductRecord]] = {}
        for rows in self._chunked("SELECT * FROM products WHERE handle IN ({})", handles):
            for row in rows:
                rec = ProductRecord(*row)
                found.setdefault(str(rec.handle), []).append(rec)
        return {
            h: recs[0] if len(recs) == 1 else Ambiguous(h, tuple(r.product_id for r in recs))
            for h, recs in found.items()
        }

    def products_by_id(self, ids: Iterable[str]) -> dict[str, ProductRecord]:
        """Products by GID; unknown GIDs are absent."""
        out: dict[str, ProductRecord] = {}
        for rows in self._chunked("SELECT * FROM products WHERE product_id IN ({})", ids):
            for row in rows:
                out[row[0]] = ProductRecord(*row)
        return out

    def _chunked(self, sql: str, keys: Iterable[str]) -> Iterator[list[tuple[Any, ...]]]:
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == _CHUNK:
                yield self._db.execute(sql.format(",".join("?" * len(batch))), batch).fetchall()
                batch = []
        if batch:
            yield self._db.execute(sql.format(",".join("?" * len(batch))), batch).fetchall()

    @functools.cached_property
    def content(self) -> ProductContent:
        """Descriptions and image sets of products (:mod:`bulk.catalog.media`), in the same file."""
        return ProductContent(self._db)

    def statistics(self) -> dict[str, int]:
        """How many products and variants the cache holds."""
        products = self._db.execute("SELECT count(*) FROM products").fetchone()[0]
        variants = self._db.execute("SELECT count(*) FROM variants").fetchone()[0]
        return {"products": int(products), "variants": int(variants)}

    def __repr__(self) -> str:
        return f"CatalogStore(path={self.path!r})"


def _variant(row: tuple[Any, ...]) -> VariantRecord:
    return VariantRecord(row[0], row[1], row[2], _money(row[3]), _money(row[4]), row[5])
