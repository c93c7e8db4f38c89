"""The simulated shop's direct operations, run through the real Admin schema (tests/simshop_helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.sim._catalog import MEDIA_PROCESSING_S
from bulk.sim._operations import ShopState
from tests.simshop_helpers import PRICE_UPDATE, SimExecutor

P2 = "gid://shopify/Product/2"
V21 = "gid://shopify/ProductVariant/21"
ITEM21 = "gid://shopify/InventoryItem/21"
LOC2 = "gid://shopify/Location/2"

SET_QTY = """
mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange item { id } location { id } } }
    userErrors { field message code }
  }
}"""

PRODUCT_UPDATE = """
mutation Upd($product: ProductUpdateInput!, $media: [CreateMediaInput!]) {
  productUpdate(product: $product, media: $media) {
    product { id descriptionHtml
              media(first: 10) { nodes { alt status ... on MediaImage { image { url } } } } }
    userErrors { field message }
  }
}"""


@pytest.fixture
async def shop() -> AsyncIterator[tuple[ShopState, SimExecutor, ManualClock]]:
    clock = ManualClock()
    state = ShopState(products=50, clock=clock)
    try:
        yield state, SimExecutor(state), clock
    finally:
        await state.aclose()


Shop = tuple[ShopState, SimExecutor, ManualClock]


def qty(item: str, loc: str, quantity: int, change_from: int | None = None) -> dict[str, Any]:
    return {
        "inventoryItemId": item,
        "locationId": loc,
        "quantity": quantity,
        "changeFromQuantity": change_from,
    }


def set_input(*quantities: dict[str, Any], reason: str = "correction") -> dict[str, Any]:
    return {"name": "available", "reason": reason, "quantities": list(quantities)}


async def test_reads_by_id_and_node(shop: Shop) -> None:
    _, ex, _ = shop
    data = await ex.run(
        """query($p: ID!, $v: ID!) {
          product(id: $p) { id handle title variants(first: 10) { nodes { id sku } } }
          productVariant(id: $v) { id sku price compareAtPrice product { id } inventoryItem { id } }
          a: node(id: $p) { __typename id }
          b: node(id: "gid://shopify/InventoryItem/21") { __typename ... on InventoryItem { sku } }
          c: node(id: "gid://shopify/Product/51") { id }
          shop { name }
          locations(first: 5) { nodes { id name } }
        }""",
        {"p": P2, "v": V21},
    )
    assert data["product"]["handle"] == "product-2"
    assert [v["sku"] for v in data["product"]["variants"]["nodes"]] == [
        "SKU-0000002-0",
        "SKU-0000002-1",
        "SKU-0000002-2",
    ]
    assert data["productVariant"] == {
        "id": V21,
        "sku": "SKU-0000002-1",
        "price": "10.85",
        "compareAtPrice": "15.85",
        "product": {"id": P2},
        "inventoryItem": {"id": ITEM21},
    }
    assert data["a"] == {"__typename": "Product", "id": P2}
    assert data["b"] == {"__typename": "InventoryItem", "sku": "SKU-0000002-1"}
    assert data["c"] is None
    assert data["shop"]["name"]
    assert [n["name"] for n in data["locations"]["nodes"]] == ["Main Warehouse", "Store Front", "Overflow"]


async def test_sku_resolution_and_pagination(shop: Shop) -> None:
    _, ex, _ = shop
    data = await ex.run(
        """{ pv: productVariants(first: 5, query: "sku:SKU-0000002-1") { nodes { id } }
             ii: inventoryItems(first: 5, query: "sku:'SKU-0000002-1'") { nodes { id } }
             none: productVariants(first: 5, query: "sku:SKU-9999999-0") { nodes { id } }
             page: productVariants(first: 2) { nodes { id } pageInfo { hasNextPage endCursor } } }"""
    )
    assert data["pv"]["nodes"] == [{"id": V21}]
    assert data["ii"]["nodes"] == [{"id": ITEM21}]
    assert data["none"]["nodes"] == []
    assert data["page"]["nodes"] == [
        {"id": "gid://shopify/ProductVariant/10"},
        {"id": "gid://shopify/ProductVariant/11"},
    ]
    nxt = await ex.run(
        "query($a: String) { productVariants(first: 2, after: $a) { nodes { id } } }",
        {"a": data["page"]["pageInfo"]["endCursor"]},
    )
    assert nxt["productVariants"]["nodes"] == [{"id": "gid://shopify/ProductVariant/20"}, {"id": V21}]


@pytest.mark.parametrize(
    "document",
    [
        "{ productVariants(first: 251) { nodes { id } } }",
        "{ productVariants { nodes { id } } }",
        '{ productVariants(first: 5, query: "title:foo") { nodes { id } } }',
        '{ node(id: "42") { id } }',
    ],
)
async def test_refused_reads_are_graphql_errors(shop: Shop, document: str) -> None:
    _, ex, _ = shop
    body = await ex.execute_unmetered(document, {}, token_index=0)
    assert body["errors"]


async def test_price_update_applies_and_counts(shop: Shop) -> None:
    state, ex, _ = shop
    data = await ex.run(
        PRICE_UPDATE, {"productId": P2, "variants": [{"id": V21, "price": "19.99", "compareAtPrice": None}]}
    )
    payload = data["productVariantsBulkUpdate"]
    assert payload["userErrors"] == []
    assert payload["productVariants"] == [
        {"id": V21, "price": "19.99", "compareAtPrice": None, "sku": "SKU-0000002-1"}
    ]
    again = await ex.run("query($v: ID!) { productVariant(id: $v) { price compareAtPrice } }", {"v": V21})
    assert again["productVariant"] == {"price": "19.99", "compareAtPrice": None}
    assert state.write_count(V21) == 1
    await ex.run(PRICE_UPDATE, {"productId": P2, "variants": [{"id": V21, "price": "19.99"}]})
    assert state.write_count(V21) == 2
    assert state.statistics()["objects_written_more_than_once"] == 1


@pytest.mark.parametrize(
    ("product", "variant", "field", "code"),
    [
        ("gid://shopify/Product/999", {"id": V21, "price": "1.00"}, ["productId"], "PRODUCT_DOES_NOT_EXIST"),
        (
            P2,
            {"id": "gid://shopify/ProductVariant/23", "price": "1.00"},
            ["variants", "0", "id"],
            "PRODUCT_VARIANT_DOES_NOT_EXIST",
        ),
        (
            P2,
            {"id": "gid://shopify/ProductVariant/10", "price": "1.00"},
            ["variants", "0", "id"],
            "MUST_BE_FOR_THIS_PRODUCT",
        ),
        (P2, {"price": "1.00"}, ["variants", "0", "id"], "PRODUCT_VARIANT_ID_MISSING"),
        (P2, {"id": V21, "price": "abc"}, ["variants", "0", "price"], "INVALID_INPUT"),
        (P2, {"id": V21, "price": "-1.00"}, ["variants", "0", "price"], "GREATER_THAN_OR_EQUAL_TO"),
        (P2, {"id": V21, "compareAtPrice": "1.001"}, ["variants", "0", "compareAtPrice"], "INVALID_INPUT"),
    ],
)
async def test_price_update_user_errors(
    shop: Shop, product: str, variant: dict[str, Any], field: list[str], code: str
) -> None:
    state, ex, _ = shop
    data = await ex.run(PRICE_UPDATE, {"productId": product, "variants": [variant]})
    errors = data["productVariantsBulkUpdate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert state.statistics()["writes_total"] == 0


async def test_price_update_is_atomic_unless_partial_updates_allowed(shop: Shop) -> None:
    state, ex, _ = shop
    variants = [{"id": "gid://shopify/ProductVariant/20", "price": "5.00"}, {"id": V21, "price": "bad"}]
    data = await ex.run(PRICE_UPDATE, {"productId": P2, "variants": variants})
    assert data["productVariantsBulkUpdate"]["productVariants"] is None
    assert state.statistics()["writes_total"] == 0
    partial = await ex.run(
        PRICE_UPDATE.replace("variants: $variants)", "variants: $variants, allowPartialUpdates: true)"),
        {"productId": P2, "variants": variants},
    )
    assert [v["id"] for v in partial["productVariantsBulkUpdate"]["productVariants"]] == [variants[0]["id"]]
    assert state.write_count(variants[0]["id"]) == 1 and state.write_count(V21) == 0


async def test_price_update_over_250_variants_is_refused(shop: Shop) -> None:
    state, ex, _ = shop
    body = await ex.execute_unmetered(
        PRICE_UPDATE, {"productId": P2, "variants": [{"id": V21, "price": "1.00"}] * 251}, token_index=0
    )
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert state.statistics()["writes_total"] == 0


async def test_unsupported_input_field_is_refused_not_ignored(shop: Shop) -> None:
    _, ex, _ = shop
    body = await ex.execute_unmetered(
        PRICE_UPDATE, {"productId": P2, "variants": [{"id": V21, "barcode": "123"}]}, token_index=0
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED_IN_SIMULATOR"


async def test_product_update_description_and_media(shop: Shop) -> None:
    state, ex, clock = shop
    data = await ex.run(
        PRODUCT_UPDATE,
        {
            "product": {"id": P2, "descriptionHtml": "<p>Sale!</p>"},
            "media": [
                {"originalSource": "https://img.example/a.jpg", "alt": "A", "mediaContentType": "IMAGE"}
            ],
        },
    )
    payload = data["productUpdate"]
    assert payload["userErrors"] == []
    assert payload["product"]["descriptionHtml"] == "<p>Sale!</p>"
    nodes = payload["product"]["media"]["nodes"]
    assert len(nodes) == 2  # product 2 had one image
    assert nodes[-1] == {"alt": "A", "status": "UPLOADED", "image": None}  # processed asynchronously
    assert state.write_count(P2) == 1
    clock.advance(MEDIA_PROCESSING_S)
    later = await ex.run(
        "query($p: ID!) { product(id: $p) { media(first: 5) { nodes { status "
        "... on MediaImage { image { url } } } } } }",
        {"p": P2},
    )
    assert later["product"]["media"]["nodes"][-1] == {
        "status": "READY",
        "image": {"url": "https://cdn.shopify.sim/s/files/1/0000/0001/files/a.jpg?v=510"},  # the shop's copy
    }
    bad = await ex.run(
        PRODUCT_UPDATE,
        {
            "product": {"id": P2},
            "media": [{"originalSource": "not a url", "mediaContentType": "IMAGE"}],
        },
    )
    assert bad["productUpdate"]["userErrors"][0]["field"] == ["media", "0", "originalSource"]
    missing = await ex.run(PRODUCT_UPDATE, {"product": {"id": "gid://shopify/Product/999"}})
    assert missing["productUpdate"]["product"] is None
    assert state.write_count(P2) == 1


async def test_products_updated_since_filter(shop: Shop) -> None:
    _, ex, clock = shop
    clock.advance(5)
    await ex.run(PRICE_UPDATE, {"productId": P2, "variants": [{"id": V21, "price": "3.00"}]})
    data = await ex.run(
        "{ products(first: 10, query: \"updated_at:>'2025-06-01T00:00:00Z'\") { nodes { id } } }"
    )
    assert data["products"]["nodes"] == [{"id": P2}]
    everything = await ex.run('{ products(first: 3, query: "updated_at:>2024-01-01") { nodes { id } } }')
    assert len(everything["products"]["nodes"]) == 3


async def test_inventory_set_applies_and_reports_changes(shop: Shop) -> None:
    state, ex, _ = shop
    before = state.catalog.available(21, 2)
    data = await ex.run(SET_QTY, {"key": "k1", "input": set_input(qty(ITEM21, LOC2, before + 5, before))})
    group = data["inventorySetQuantities"]["inventoryAdjustmentGroup"]
    assert data["inventorySetQuantities"]["userErrors"] == []
    assert group["reason"] == "correction"
    assert {c["name"] for c in group["changes"]} == {"available", "on_hand"}
    change = next(c for c in group["changes"] if c["name"] == "available")
    assert change == {
        "name": "available",
        "delta": 5,
        "quantityAfterChange": before + 5,
        "item": {"id": ITEM21},
        "location": {"id": LOC2},
    }
    assert state.catalog.available(21, 2) == before + 5


async def test_inventory_same_key_applies_once(shop: Shop) -> None:
    state, ex, _ = shop
    variables = {"key": "same", "input": set_input(qty(ITEM21, LOC2, 40))}
    first = await ex.run(SET_QTY, variables)
    second = await ex.run(SET_QTY, variables)
    assert second == first
    assert state.write_count(ITEM21, LOC2) == 1
    assert state.statistics()["idempotent_replays"] == 1
    other_app = await ex.run(SET_QTY, variables, token_index=1)  # keys are scoped per app
    assert other_app["inventorySetQuantities"]["inventoryAdjustmentGroup"] is None  # already 40: no change
    assert state.write_count(ITEM21, LOC2) == 2
    mismatch = await ex.run(SET_QTY, {"key": "same", "input": set_input(qty(ITEM21, LOC2, 41))})
    assert mismatch["inventorySetQuantities"]["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert state.catalog.available(21, 2) == 40


async def test_inventory_without_idempotency_key_is_a_graphql_error(shop: Shop) -> None:
    state, ex, _ = shop
    document = SET_QTY.replace(" @idempotent(key: $key)", "").replace(", $key: String!", "")
    body = await ex.execute_unmetered(document, {"input": set_input(qty(ITEM21, LOC2, 1))}, token_index=0)
    assert body["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    assert state.statistics()["writes_total"] == 0


async def test_stale_change_from_quantity_applies_nothing(shop: Shop) -> None:
    state, ex, _ = shop
    item20, loc1 = "gid://shopify/InventoryItem/20", "gid://shopify/Location/1"
    current = state.catalog.available(21, 2)
    data = await ex.run(
        SET_QTY,
        {
            "key": "k",
            "input": set_input(
                qty(item20, loc1, 9, state.catalog.available(20, 1)), qty(ITEM21, LOC2, 9, current + 1)
            ),
        },
    )
    payload = data["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "quantities", "1", "changeFromQuantity"], "CHANGE_FROM_QUANTITY_STALE")
    ]
    assert state.statistics()["writes_total"] == 0
    assert state.catalog.available(21, 2) == current


@pytest.mark.parametrize(
    ("inp", "code"),
    [
        (set_input(qty("gid://shopify/InventoryItem/12", LOC2, 1)), "INVALID_INVENTORY_ITEM"),
        (set_input(qty(ITEM21, "gid://shopify/Location/4", 1)), "INVALID_LOCATION"),
        (set_input(qty(ITEM21, LOC2, -1)), "INVALID_QUANTITY_NEGATIVE"),
        (set_input(qty(ITEM21, LOC2, 1), reason="because"), "INVALID_REASON"),
        (
            set_input(qty(ITEM21, LOC2, 1), qty(ITEM21, LOC2, 2)),
            "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
        ),
        ({**set_input(qty(ITEM21, LOC2, 1)), "name": "committed"}, "INVALID_NAME"),
    ],
)
async def test_inventory_user_errors(shop: Shop, inp: dict[str, Any], code: str) -> None:
    state, ex, _ = shop
    data = await ex.run(SET_QTY, {"key": f"k-{code}", "input": inp})
    assert [e["code"] for e in data["inventorySetQuantities"]["userErrors"]] == [code]
    assert state.statistics()["writes_total"] == 0


async def test_statistics_and_repr(shop: Shop) -> None:
    state, ex, _ = shop
    await ex.run(PRICE_UPDATE, {"productId": P2, "variants": [{"id": V21, "price": "3.00"}]})
    stats = state.statistics()
    assert stats["products"] == 50 and stats["variants"] == state.catalog.total_variants()
    assert stats["objects_written"] == 1 and stats["writes_total"] == 1
    assert stats["bulk_by_status"] == {}
    assert "ShopState(" in repr(state)
    assert "Product" in state.SUPPORTED_FIELDS and "id" in state.SUPPORTED_FIELDS["Node"]


def test_every_supported_field_and_resolver_exists_in_the_schema() -> None:
    from graphql import GraphQLInterfaceType, GraphQLObjectType

    from tests.simshop_helpers import admin_schema

    schema = admin_schema()
    state = ShopState(products=1, clock=ManualClock())
    for type_name, fields in state.SUPPORTED_FIELDS.items():
        gql_type = schema.get_type(type_name)
        assert isinstance(gql_type, GraphQLObjectType | GraphQLInterfaceType), type_name
        assert fields <= set(gql_type.fields), (type_name, fields - set(gql_type.fields))
    for type_name, resolvers in state.resolvers().items():
        assert set(resolvers) <= state.SUPPORTED_FIELDS[type_name], type_name
