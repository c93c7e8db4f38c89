"""The catalog store: a run's applied values become the picture when it merges them; emptiness."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bulk.catalog import CatalogStore

V1, V2 = "gid://shopify/ProductVariant/1", "gid://shopify/ProductVariant/2"


def _variant(store: CatalogStore, n: int) -> None:
    store.load_export([{"id": f"gid://shopify/Product/{n}", "handle": f"p{n}"},
                       {"id": f"gid://shopify/ProductVariant/{n}", "__parentId": f"gid://shopify/Product/{n}",
                        "sku": f"S{n}", "price": "1.00", "compareAtPrice": None}])


def test_merging_a_run_makes_its_values_the_picture_and_leaves_other_runs_waiting(tmp_path: Path) -> None:
    with CatalogStore(tmp_path / "c.sqlite3") as store:
        for n in (1, 2):
            _variant(store, n)
        store.record_applied("run-a", [(V1, "2.00", "3.00")])
        store.record_applied("run-b", [(V2, "4.00", None)])

        def prices() -> list[tuple[Decimal | None, Decimal | None]]:
            found = store.variants_by_id([V1, V2])
            return [(found[v].price, found[v].compare_at_price) for v in (V1, V2)]

        one, four = Decimal("1.00"), Decimal("4.00")
        assert prices() == [(one, None), (one, None)]  # kept as the runs', not the picture yet
        assert store.merge_applied("run-a") == 1
        assert prices() == [(Decimal("2.00"), Decimal("3.00")), (one, None)]
        assert store.merge_applied("run-b") == 1  # still there after run-a's merge, then merged
        assert prices() == [(Decimal("2.00"), Decimal("3.00")), (four, None)]
        assert store.merge_applied("run-b") == 0  # merged once: nothing is kept twice


def test_a_cache_is_empty_until_it_holds_a_variant(tmp_path: Path) -> None:
    """What decides a first sync; one probe, not a count of millions of rows on the event loop."""
    with CatalogStore(tmp_path / "c.sqlite3") as store:
        assert store.is_empty()
        _variant(store, 1)
        assert not store.is_empty()
