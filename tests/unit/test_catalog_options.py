"""Variants without SKU are found by product handle + option values (issue 17), as Shopify's own CSV
import names them: the catalog's index from each variant's ``selectedOptions``, and the planner's
outcome for a row that names one — found, unknown, or ambiguous."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bulk.catalog import CatalogStore
from bulk.catalog.sync import LAST_FULL_SYNC
from bulk.models import OutcomeStatus, PriceUpdate, Source, VariantRef
from bulk.plan import Coalescer, build_plan
from bulk.plan.diff import LookedUp

P = "gid://shopify/Product/"
V = "gid://shopify/ProductVariant/"


def variant(n: int, product: int, *values: str, sku: str | None = None) -> dict[str, Any]:
    return {"id": f"{V}{n}", "sku": sku, "price": "10.00", "compareAtPrice": None,
            "__parentId": f"{P}{product}",
            "selectedOptions": [{"name": f"Option{i + 1}", "value": v} for i, v in enumerate(values)]}


def export() -> list[dict[str, Any]]:
    return [
        {"id": f"{P}1", "handle": "shirt", "updatedAt": "2026-01-01T00:00:00Z"},
        variant(10, 1, "Red", "S"), variant(11, 1, "Red", "M"), variant(12, 1, "Blue", "S", sku="B-S"),
        {"id": f"{P}2", "handle": "短袖-上衣", "updatedAt": "2026-01-01T00:00:00Z"},
        variant(20, 2, "Default Title"),
        # a stale or odd shop: two variants of one product with the same values
        {"id": f"{P}3", "handle": "twice", "updatedAt": "2026-01-01T00:00:00Z"},
        variant(30, 3, "One"), variant(31, 3, "One"),
    ]


@pytest.fixture
def catalog() -> Iterator[CatalogStore]:
    with CatalogStore(":memory:") as store:
        store.load_export(export())
        yield store


def named(handle: str, *values: str) -> str:
    return VariantRef(handle=handle, options=values).key()


def test_the_index_finds_one_variant_says_unknown_and_ambiguous(catalog: CatalogStore) -> None:
    keys = [named("shirt", "Red", "M"), named("短袖-上衣", "Default Title"), named("shirt", "Red", "XL"),
            named("twice", "One"), named("shirt", "Blue", "S"), named("shirt", "Red")]
    got = catalog.price_columns(keys)
    assert got.variant_ids == [f"{V}11", f"{V}20", None, None, f"{V}12", None]
    assert got.product_ids[:2] == [f"{P}1", f"{P}2"] and got.prices[0] == "10.00"
    assert set(got.ambiguous) == {3} and got.ambiguous[3].matches == (f"{V}30", f"{V}31")


def test_values_are_put_in_the_order_of_the_products_options() -> None:
    # the schema does not promise selectedOptions in option order; the product's positions decide
    product = {"id": f"{P}5", "handle": "cap", "options": [{"name": "Size", "position": 2},
                                                             {"name": "Color", "position": 1}]}
    line = {"id": f"{V}50", "price": "1.00", "__parentId": f"{P}5",
            "selectedOptions": [{"name": "Size", "value": "L"}, {"name": "Color", "value": "Black"}]}
    with CatalogStore(":memory:") as store:
        store.load_export([product])
        store.load_export([line])  # a later batch: the product's options come from the cache
        assert store.price_columns([named("cap", "Black", "L"), named("cap", "L", "Black")]).variant_ids == [
            f"{V}50", None]


def test_option_values_and_skus_resolve_side_by_side_in_key_order(catalog: CatalogStore) -> None:
    keys = ["sku:B-S", named("shirt", "Red", "S"), f"{V}20"]
    assert catalog.price_columns(keys).variant_ids == [f"{V}12", f"{V}10", f"{V}20"]


def price(line: int, handle: str, *values: str, amount: str = "12.00") -> PriceUpdate:
    return PriceUpdate(source=Source(file="p.csv", line=line),
                       variant=VariantRef(handle=handle, options=values), price=Decimal(amount))


def test_the_planner_sends_found_ones_and_rejects_unknown_and_ambiguous_rows(catalog: CatalogStore) -> None:
    chunk = [price(2, "shirt", "Red", "S"), price(3, "shirt", "Green", "S"), price(4, "twice", "One"),
             price(5, "短袖-上衣", "Default Title", amount="10.00")]
    c = Coalescer()
    for u in chunk:
        c.add(u)
    # looked up here, and ahead by the reading process (bulk.sources._reader_process)
    ahead = LookedUp.of_chunk(catalog, chunk, set())
    assert ahead.shop.variant_ids[0] == f"{V}10"
    for plan in (build_plan(c, catalog), build_plan(c, catalog, known=ahead)):
        assert [line.variables for line in plan.lines] == [
            {"productId": f"{P}1", "variants": [{"id": f"{V}10", "price": "12.00"}]}]
        got = {o.row[1]: (o.status, o.reason) for o in plan.outcomes}
        assert got[3][0] is OutcomeStatus.REJECTED
        assert got[3][1].startswith('unknown variant options:["shirt","Green","S"]: not in the catalog')
        assert got[4][0] is OutcomeStatus.REJECTED
        assert 'ambiguous variant options:["twice","One"]: 2 variants' in got[4][1]
        assert got[5][0] is OutcomeStatus.UNCHANGED


def test_an_incremental_sync_reindexes_a_changed_product(catalog: CatalogStore) -> None:
    catalog.begin_sync(full=False)
    catalog.load_export([{"id": f"{P}1", "handle": "tee", "updatedAt": "2026-02-01T00:00:00Z"},
                         variant(10, 1, "Red", "S")])  # renamed; variant 11 deleted in the shop
    catalog.finish_sync()
    got = catalog.price_columns([named("tee", "Red", "S"), named("shirt", "Red", "S"),
                                 named("tee", "Red", "M")])
    assert got.variant_ids == [f"{V}10", None, None]
    catalog.begin_sync(full=True)
    catalog.finish_sync()
    assert catalog.price_columns([named("tee", "Red", "S")]).variant_ids == [None]


def test_a_cache_from_before_the_index_is_synced_in_full_next(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with CatalogStore(path) as store:
        store.load_export(export())
        store.set_meta(LAST_FULL_SYNC, "1000.0")
    with CatalogStore(path) as store:  # opened again: it keeps its last full sync
        assert store.get_meta(LAST_FULL_SYNC) == "1000.0"
    db = sqlite3.connect(path)
    db.execute("DROP TABLE variant_options")  # what an older version's cache looks like
    db.commit()
    db.close()
    with CatalogStore(path) as store:  # its variants have no option values: the next sync is full
        assert store.get_meta(LAST_FULL_SYNC) is None
