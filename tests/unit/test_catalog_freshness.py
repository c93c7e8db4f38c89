"""The pure parts of a fresh catalog: when a run syncs and how, what our answers applied, the next
sync's bound, one identity per shop, and an incremental load that drops deleted variants."""

from __future__ import annotations

import pytest

from bulk.catalog import CatalogStatistics, CatalogStore
from bulk.catalog.applied import applied_variants
from bulk.catalog.freshness import decide_sync
from bulk.catalog.sync import export_query, next_since
from bulk.shopify.endpoint import parse_shop

DAY = 86400.0


@pytest.mark.parametrize(("choice", "empty", "last_full", "new_shop", "mode"), [
    ("auto", False, 1000.0, False, "incremental"),
    ("auto", True, 1000.0, False, "full"),
    ("auto", False, None, False, "full"),
    ("auto", False, 1000.0 - 8 * DAY, False, "full"),  # older than the default week
    ("auto", False, 1000.0, True, "full"),  # an embedded simulator started for this session
    ("always", False, 1000.0, False, "full"),
    ("never", True, None, False, "none"),
])
def test_every_run_syncs_unless_told_never(choice: str, empty: bool, last_full: float | None, new_shop: bool,
                                           mode: str) -> None:
    decision = decide_sync(choice, empty=empty, last_full_at=last_full, now=1000.0 + 60,  # type: ignore[arg-type]
                           new_shop=new_shop)
    assert decision.mode == mode and decision.reason


def test_the_maximum_age_is_configurable() -> None:
    assert decide_sync("auto", empty=False, last_full_at=0.0, now=3601.0, max_age_s=3600.0).mode == "full"
    fresh = decide_sync("auto", empty=False, last_full_at=0.0, now=3599.0, max_age_s=3600.0)
    assert fresh.mode == "incremental"


def test_the_next_bound_is_the_shops_start_less_the_overlap() -> None:
    assert next_since("2026-12-06T10:00:00Z", 0.0, 120.0) == "2026-12-06T09:58:00Z"
    assert next_since(None, 1_780_000_000.9, 0.0) == "2026-05-28T20:26:40Z"  # ours: the shop gave none
    assert "products(query: \"updated_at:>'2026-12-06T09:58:00Z'\")" in export_query("2026-12-06T09:58:00Z")
    assert "products(query:" not in export_query(None)  # a full export: no filter


def test_applied_values_come_from_answers_without_user_errors() -> None:
    ok = {"productVariantsBulkUpdate": {"userErrors": [], "productVariants": [
        {"id": "gid://shopify/ProductVariant/1", "price": "12.96", "compareAtPrice": None}]}}
    assert applied_variants(ok) == [("gid://shopify/ProductVariant/1", "12.96", None)]
    refused = {"productVariantsBulkUpdate": {"userErrors": [{"message": "no"}], "productVariants": [
        {"id": "gid://shopify/ProductVariant/1", "price": "12.96", "compareAtPrice": None}]}}
    assert applied_variants(refused) == []
    assert applied_variants({"productUpdate": {"product": {"id": "x"}, "userErrors": []}}) == []
    assert applied_variants(None) == []


@pytest.mark.parametrize("spelling", ["Name.myshopify.com", "https://name.myshopify.com/",
                                      "https://NAME.myshopify.com/admin/api/2025-10/graphql.json"])
def test_one_identity_per_shop_however_written(spelling: str) -> None:
    assert parse_shop(spelling).identity == "https://name.myshopify.com"


def test_other_shops_have_other_identities() -> None:
    assert parse_shop("http://127.0.0.1:8001").identity != parse_shop("http://127.0.0.1:8002").identity
    assert parse_shop("other.myshopify.com").identity != parse_shop("name.myshopify.com").identity
    assert parse_shop("sim://?products=10").identity == "sim://?products=10"


def test_an_incremental_load_replaces_the_products_it_brings() -> None:
    p, v = "gid://shopify/Product/", "gid://shopify/ProductVariant/"
    with CatalogStore(":memory:") as store:
        store.begin_sync(full=True)
        store.load_export([{"id": f"{p}1", "handle": "a"},
                           {"id": f"{v}11", "__parentId": f"{p}1", "sku": "A"},
                           {"id": f"{v}12", "__parentId": f"{p}1", "sku": "B"},
                           {"id": f"{p}2", "handle": "b"},
                           {"id": f"{v}21", "__parentId": f"{p}2", "sku": "C"}])
        assert store.finish_sync() == 0
        store.begin_sync(full=False)  # product 1 changed: variant 12 was deleted; product 2 did not
        store.load_export([{"id": f"{v}11", "__parentId": f"{p}1", "sku": "A", "price": "1.00"},
                           {"id": f"{p}1", "handle": "a"}])
        assert store.finish_sync() == 1
        assert set(store.variants_by_sku(["A", "B", "C"])) == {"A", "C"}
        store.begin_sync(full=True)  # a full load forgets what the shop no longer has
        store.load_export([{"id": f"{p}2", "handle": "b"}])
        store.finish_sync()
        assert store.statistics() == CatalogStatistics(products=1, variants=0)
        assert store.apply_variants([(f"{v}11", "2.00", None)]) == 0  # unknown now: left to the next sync


def test_a_finished_input_is_answered_with_when_and_how_to_send_it_again() -> None:
    from bulk.cli._submit_progress import describe

    line = describe("already_done", {"run": 3, "at": "2026-12-06T08:00:00+00:00"})
    assert "at 2026-12-06T08:00:00+00:00" in line and "--again" in line
