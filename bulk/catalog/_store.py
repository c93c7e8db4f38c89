"""The local catalog cache: SKU / handle → GIDs and current values, in one SQLite file.

Filled from a bulk query export (flat JSONL where each variant line names its product in
``__parentId``), refreshed incrementally by ``updated_at`` before every run (:mod:`bulk.catalog.sync`,
docs/catalog.md), and told the values our own writes set as their answers arrive
(:meth:`CatalogStore.apply_variants`). The planner reads it in batches to resolve SKUs and to drop
no-op changes before anything is sent.

SKUs are not unique in every shop: a SKU that names several variants resolves to :class:`Ambiguous`,
which the planner turns into a per-row rejection rather than guessing. Variants without SKU are found
by product handle + option values (``variant_options``, from each variant's ``selectedOptions``), as
Shopify's own CSV import names them (:mod:`bulk.catalog._options`); two variants with the same handle
and values are ambiguous too. The records it answers are in :mod:`bulk.catalog._records`, the planner's
column-wise lookup in :mod:`bulk.catalog._price_columns`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from bulk.catalog._options import OptionIndex
from bulk.catalog._price_columns import price_columns
from bulk.catalog._records import (
    Ambiguous,
    CatalogStatistics,
    PriceColumns,
    ProductRecord,
    VariantRecord,
    variant_of_row,
)
from bulk.catalog.media import ProductContent

_CHUNK = 500  # host parameters per IN (...) query; SQLite's default limit is far higher
_FULL_SYNC_META = "last_full_sync_wall"  # bulk.catalog.sync.LAST_FULL_SYNC (sync imports this module)


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
        self._options = OptionIndex(self._db)  # variants without SKU: bulk/catalog/_options.py
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
            others = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM applied WHERE run_key < ?1) "
                "OR EXISTS (SELECT 1 FROM applied WHERE run_key > ?1)", (run_key,)).fetchone()[0]
            # the only run's values (the usual case): a DELETE without WHERE drops the table's pages
            # whole (SQLite's truncate optimisation) instead of deleting 750k rows one by one (~0.7 s)
            self._db.execute("DELETE FROM applied WHERE run_key = ?" if others else "DELETE FROM applied",
                             (run_key,) if others else ())
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
                    names = self._options.remember(gid, line)
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
                    entry = self._options.entry(gid, line)
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
                rec = variant_of_row(row)
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
                rec = variant_of_row(row)
                out[rec.variant_id] = rec
        return out

    def price_columns(self, keys: Sequence[str]) -> PriceColumns:
        """What the planner needs of each variant, by :meth:`~bulk.models.VariantRef.key` (the GID,
        ``sku:`` and the SKU, or ``options:`` and the JSON array of handle and option values), in the
        order of ``keys``: see :class:`PriceColumns` (one query a batch, nothing converted: 3× faster
        than :meth:`variants_by_sku`; :mod:`bulk.catalog._price_columns`)."""
        return price_columns(self._db, keys)

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

    def is_empty(self) -> bool:
        """True while the cache holds no variant: one index probe (:meth:`statistics` counts every
        row, seconds for a 1.5M-product shop)."""
        return bool(self._db.execute("SELECT NOT EXISTS (SELECT 1 FROM variants)").fetchone()[0])

    def statistics(self) -> CatalogStatistics:
        """How many products and variants the cache holds."""
        products = self._db.execute("SELECT count(*) FROM products").fetchone()[0]
        variants = self._db.execute("SELECT count(*) FROM variants").fetchone()[0]
        return CatalogStatistics(products=int(products), variants=int(variants))

    def __repr__(self) -> str:
        return f"CatalogStore(path={self.path!r})"
