"""Which writes move ``updatedAt`` in the simulated shop, and the ``updated_at`` search filter.

The rules (docs/simulator.md, "updatedAt"): a variant write moves the variant's and its product's; a
description or media write moves the product's; an inventory quantity write moves the product's and
the inventory item's, never the variant's. Every rule holds whichever app (token) wrote, directly or
inside a bulk operation, on the shop's clock. Searches compare whole seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.sim._operations import ShopState
from bulk.sim._values import iso
from tests.simshop_helpers import BULK_OPERATION, PRICE_UPDATE, RUN_QUERY, SimExecutor, run_bulk_mutation

Shop = tuple[ShopState, SimExecutor, ManualClock]
BASE = "2025-01-01T00:00:00Z"
P4 = "gid://shopify/Product/4"

READ = """query($p: ID!) { product(id: $p) { updatedAt descriptionHtml
  variants(first: 5) { nodes { id updatedAt inventoryItem { updatedAt } } } } }"""
DESCRIPTION = """mutation($product: ProductUpdateInput!) {
  productUpdate(product: $product) { product { id } userErrors { field message } } }"""
PRODUCT_SET = """mutation($id: ID!, $input: ProductSetInput!) {
  productSet(identifier: {id: $id}, input: $input) { product { id } userErrors { field message code } } }"""
SET_QTY = """mutation($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { field message code } } }"""
PRODUCTS = "query($q: String!) { products(first: 50, query: $q) { nodes { id } } }"
VARIANTS = "query($q: String!) { productVariants(first: 50, query: $q) { nodes { id } } }"


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = ManualClock()
    state = ShopState(products=30, clock=clock)
    try:
        yield state, SimExecutor(state), clock
    finally:
        await state.aclose()


async def read(ex: SimExecutor, p: str) -> dict[str, Any]:
    product: dict[str, Any] = (await ex.run(READ, {"p": p}))["product"]
    return product


async def ids(ex: SimExecutor, doc: str, query: str) -> list[str]:
    data = await ex.run(doc, {"q": query})
    root = "products" if "products(" in doc else "productVariants"
    return [n["id"] for n in data[root]["nodes"]]


async def test_price_write_moves_the_variant_and_its_product_only(shop: Shop) -> None:
    state, ex, clock = shop
    clock.advance(10)
    now = iso(state.core.wall())
    variants = [{"id": "gid://shopify/ProductVariant/41", "price": "5.00"}]
    await ex.run(PRICE_UPDATE, {"productId": P4, "variants": variants}, token_index=1)  # another app
    got = await read(ex, P4)
    assert got["updatedAt"] == now
    assert [v["updatedAt"] for v in got["variants"]["nodes"]] == [BASE, now]  # the sibling did not move
    assert got["variants"]["nodes"][1]["inventoryItem"]["updatedAt"] == BASE  # price is not inventory


async def test_description_and_media_writes_move_the_product_not_its_variants(shop: Shop) -> None:
    state, ex, clock = shop
    clock.advance(5)
    t1 = iso(state.core.wall())
    await ex.run(DESCRIPTION, {"product": {"id": P4, "descriptionHtml": "<p>new</p>"}}, token_index=2)
    got = await read(ex, P4)
    assert got["updatedAt"] == t1 and got["descriptionHtml"] == "<p>new</p>"
    assert {v["updatedAt"] for v in got["variants"]["nodes"]} == {BASE}
    clock.advance(5)
    t2 = iso(state.core.wall())
    files = [{"originalSource": "https://img.example/x.jpg", "contentType": "IMAGE"}]
    await ex.run(PRODUCT_SET, {"id": P4, "input": {"files": files}})
    assert (await read(ex, P4))["updatedAt"] == t2


async def test_inventory_write_moves_product_and_item_but_not_the_variant(shop: Shop) -> None:
    state, ex, clock = shop
    clock.advance(7)
    now = iso(state.core.wall())
    change = {
        "inventoryItemId": "gid://shopify/InventoryItem/40",
        "locationId": "gid://shopify/Location/1",
        "quantity": 3,
        "changeFromQuantity": None,
    }
    body = {"name": "available", "reason": "correction", "quantities": [change]}
    data = await ex.run(SET_QTY, {"input": body, "key": "k1"}, token_index=1)
    assert data["inventorySetQuantities"]["userErrors"] == []
    got = await read(ex, P4)
    assert got["updatedAt"] == now  # the schema: an inventory adjustment "is counted as an update"
    variant = got["variants"]["nodes"][0]
    assert variant["updatedAt"] == BASE and variant["inventoryItem"]["updatedAt"] == now
    # so a variant search by updated_at does not see it: inventory must be synced on its own
    assert await ids(ex, VARIANTS, f"updated_at:>'{BASE}'") == []
    assert await ids(ex, PRODUCTS, f"updated_at:>'{BASE}'") == [P4]


async def test_bulk_writes_move_updated_at_when_each_line_runs(shop: Shop) -> None:
    state, ex, clock = shop
    lines = [
        {
            "productId": f"gid://shopify/Product/{p}",
            "variants": [{"id": f"gid://shopify/ProductVariant/{p * 10}", "price": "9.99"}],
        }
        for p in (3, 5)
    ]
    clock.advance(50)
    before = iso(state.core.wall())
    payload = await run_bulk_mutation(ex, PRICE_UPDATE, lines, token_index=2)
    gid = payload["bulkOperation"]["id"]
    clock.advance(1.0)  # the operation's start latency
    await state.engine.find(gid).running.wait()
    clock.advance(0.01)  # two lines at 2000 lines/s
    await state.engine.wait(gid)
    assert state.engine.find(gid).status == "COMPLETED"
    after = iso(state.core.wall())
    for p in (3, 5):
        got = await read(ex, f"gid://shopify/Product/{p}")
        assert before < got["updatedAt"] <= after  # the shop's clock when the line ran (not "now")
        assert got["variants"]["nodes"][0]["updatedAt"] == got["updatedAt"]
    assert await ids(ex, VARIANTS, f"updated_at:>'{BASE}'") == [
        "gid://shopify/ProductVariant/30",
        "gid://shopify/ProductVariant/50",
    ]


async def test_search_operators_compare_whole_seconds(shop: Shop) -> None:
    state, ex, clock = shop
    clock.advance(100.7)  # written at x.7 s: updatedAt shows x
    shown = iso(state.core.wall())
    await ex.run(DESCRIPTION, {"product": {"id": P4, "descriptionHtml": "<p>a</p>"}})
    assert await ids(ex, PRODUCTS, f"updated_at:>'{shown}'") == []  # strict, in whole seconds
    assert await ids(ex, PRODUCTS, f"updated_at:>='{shown}'") == [P4]
    assert await ids(ex, PRODUCTS, f"updated_at:<='{shown}' AND updated_at:>'{BASE}'") == [P4]
    older = await ids(ex, PRODUCTS, f"updated_at:<'{shown}'")
    assert len(older) == 29 and P4 not in older  # every never-written product
    assert await ids(ex, PRODUCTS, f"updated_at:<='{BASE}'") == older
    assert await ids(ex, PRODUCTS, "updated_at:<now") == older  # written this very second
    assert await ids(ex, PRODUCTS, "updated_at:>2025-01-02") == [P4]  # a date is midnight UTC
    assert await ids(ex, VARIANTS, f"sku:SKU-0000004-0 updated_at:>='{BASE}'") == [
        "gid://shopify/ProductVariant/40"
    ]
    assert await ids(ex, VARIANTS, f"sku:SKU-0000004-0 updated_at:>'{BASE}'") == []


@pytest.mark.parametrize(
    "query", ["updated_at:'2025-01-01T00:00:00Z'", "updated_at:>2024", "updated_at:>soon"]
)
async def test_search_values_the_simulator_cannot_read_are_errors(shop: Shop, query: str) -> None:
    _state, ex, _clock = shop
    body = await ex.execute_unmetered(PRODUCTS, {"q": query}, token_index=0)
    assert body["data"] is None or body["data"].get("products") is None
    assert body["errors"][0]["extensions"]["code"] in ("BAD_REQUEST", "NOT_IMPLEMENTED_IN_SIMULATOR")


async def test_bulk_export_takes_every_operator(shop: Shop) -> None:
    state, ex, clock = shop
    clock.advance(3)
    await ex.run(DESCRIPTION, {"product": {"id": P4, "descriptionHtml": "<p>b</p>"}})
    since = iso(state.core.wall())
    query = (
        f"{{ products(query: \"updated_at:>='{since}'\") {{ edges {{ node {{ id descriptionHtml }} }} }} }}"
    )
    data = await ex.run(RUN_QUERY, {"query": query})
    gid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
    clock.advance(100)
    await state.engine.wait(gid)
    op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
    rows = ex.jsonl_at(op["url"])
    assert [(r["id"], r["descriptionHtml"]) for r in rows] == [(P4, "<p>b</p>")]
