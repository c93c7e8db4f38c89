"""Shopify's calculated query cost, checked against the documented rules and examples."""

from __future__ import annotations

from typing import Any

import pytest

from bulk.errors import GraphQLRequestError
from bulk.sim._cost import CostCalculator
from bulk.sim._limits import MAX_QUERY_COST, oversized_input
from bulk.sim._schema import admin_schema, prepare


def _calc(doc: str, variables: dict[str, Any] | None = None) -> tuple[CostCalculator, Any]:
    prepared = prepare(doc)
    assert not prepared.errors, prepared.errors
    op = prepared.operation(None)
    assert not isinstance(op, dict)
    return CostCalculator(admin_schema(), prepared.fragments, variables or {}), op


def requested(doc: str, variables: dict[str, Any] | None = None) -> int:
    calc, op = _calc(doc, variables)
    return calc.requested(op)


def test_object_costs_one_scalars_free() -> None:
    assert requested("{ shop { name id email } }") == 1


def test_connection_is_two_plus_first_times_node() -> None:
    assert requested("{ products(first: 10) { edges { node { title } } } }") == 12


def test_pageinfo_and_cursor_are_free() -> None:
    doc = "{ products(first: 10) { pageInfo { hasNextPage endCursor } edges { cursor node { title } } } }"
    assert requested(doc) == 12


def test_nodes_shortcut_costs_like_edges() -> None:
    assert requested("{ products(last: 10) { nodes { title } } }") == 12


def test_nested_connection_is_multiplied() -> None:
    doc = "{ products(first: 10) { edges { node { title variants(first: 5) { edges { node { sku } } } } } } }"
    # 2 + 10 × (1 product + (2 + 5 × 1 variant))
    assert requested(doc) == 82


def test_page_size_from_variables() -> None:
    doc = "query($n: Int!) { products(first: $n) { nodes { id } } }"
    assert requested(doc, {"n": 50}) == 52


def test_connection_without_page_size_is_refused() -> None:
    with pytest.raises(GraphQLRequestError) as info:
        requested("{ products { nodes { id } } }")
    assert "first or last" in info.value.errors[0]["message"]


def test_interface_costs_the_most_expensive_member() -> None:
    doc = """{ node(id: "gid://shopify/Product/1") {
        id
        ... on Product { title variants(first: 3) { nodes { sku } } }
        ... on Collection { title }
    } }"""
    # node object 1 + Product's selection (2 + 3 × 1)
    assert requested(doc) == 6


def test_mutation_costs_ten_whatever_the_payload() -> None:
    doc = """mutation { tagsAdd(id: "gid://shopify/Product/1", tags: ["a"]) {
        node { id } userErrors { field message } } }"""
    assert requested(doc) == 10


def _pvbu(n: int, metafields: int = 0, media_src: int = 0, product_media: int = 0) -> int:
    doc = """mutation($pid: ID!, $v: [ProductVariantsBulkInput!]!, $m: [CreateMediaInput!]) {
        productVariantsBulkUpdate(productId: $pid, variants: $v, media: $m) {
            productVariants { id } userErrors { field message } } }"""
    variants = [
        {
            "id": f"gid://shopify/ProductVariant/{i}",
            "price": "1.00",
            "metafields": [
                {"namespace": "n", "key": f"k{j}", "value": "v", "type": "single_line_text_field"}
                for j in range(metafields)
            ],
            **({"mediaSrc": [f"https://x/{i}-{j}.png" for j in range(media_src)]} if media_src else {}),
        }
        for i in range(n)
    ]
    media = [
        {"originalSource": f"https://x/p{i}.png", "mediaContentType": "IMAGE"} for i in range(product_media)
    ]
    return requested(doc, {"pid": "gid://shopify/Product/1", "v": variants, "m": media or None})


def test_product_variants_bulk_update_100_variants_costs_30() -> None:
    assert _pvbu(100) == 30


def test_product_variants_bulk_update_surcharges_round_up() -> None:
    # 10 + 3 × 0.2 + 3 × 0.4 (metafields) + 3 × 0.6 (variant images) + 1 × 1.9 (product image) = 15.5
    assert _pvbu(3, metafields=1, media_src=1, product_media=1) == 16
    assert _pvbu(1) == 11  # 10.2 rounds up


def test_max_cost_exceeded_is_refused_with_shopify_message() -> None:
    doc = "{ products(first: 250) { edges { node { variants(first: 250) { edges { node { id } } } } } } }"
    with pytest.raises(GraphQLRequestError) as info:
        requested(doc)
    error = info.value.errors[0]
    cost = 2 + 250 * (1 + 2 + 250)
    assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST}
    assert error["message"].startswith(
        f"Query cost is {cost}, which exceeds the single query max cost limit (1000)."
    )


def test_exactly_max_cost_is_allowed_one_more_is_not() -> None:
    # (2 + 249 × (1 product + 1 media)) + (2 + 249 × (1 collection + 1 image)) = 1000
    doc = (
        "{ products(first: 249) { nodes { featuredMedia { id } } } "
        "collections(first: 249) { nodes { image { url } } } %s }"
    )
    assert requested(doc % "") == MAX_QUERY_COST
    with pytest.raises(GraphQLRequestError):
        requested(doc % "shop { name }")


def test_actual_cost_counts_returned_nodes() -> None:
    calc, op = _calc("{ products(first: 10) { edges { node { title } } } }")
    data = {
        "products": {"edges": [{"node": {"title": "a"}}, {"node": {"title": "b"}}, {"node": {"title": "c"}}]}
    }
    assert calc.actual(op, data) == 5


def test_actual_cost_of_nested_connections() -> None:
    calc, op = _calc("{ products(first: 10) { nodes { title variants(first: 5) { nodes { sku } } } } }")
    data = {
        "products": {
            "nodes": [
                {"title": "a", "variants": {"nodes": [{"sku": "1"}, {"sku": "2"}]}},
                {"title": "b", "variants": {"nodes": []}},
            ]
        }
    }
    # 2 + (1 + 2 + 2) + (1 + 2 + 0)
    assert calc.actual(op, data) == 10


def test_actual_cost_of_mutation_equals_requested() -> None:
    calc, op = _calc(
        'mutation { tagsAdd(id: "gid://shopify/Product/1", tags: ["a"]) { userErrors { message } } }'
    )
    assert calc.actual(op, {"tagsAdd": {"userErrors": []}}) == 10


def test_input_list_over_250_items_is_refused() -> None:
    doc = (
        'mutation($tags: [String!]!) { tagsAdd(id: "gid://shopify/Product/1", tags: $tags) { node { id } } }'
    )
    prepared = prepare(doc)
    op = prepared.operation(None)
    assert not isinstance(op, dict)
    assert oversized_input(op, {"tags": ["t"] * 250}) is None
    problem = oversized_input(op, {"tags": ["t"] * 251})
    assert problem is not None
    assert problem.error()["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert "251" in problem.message


def test_literal_input_list_over_250_items_is_refused() -> None:
    tags = ", ".join(f'"t{i}"' for i in range(300))
    prepared = prepare(
        f'mutation {{ tagsAdd(id: "gid://shopify/Product/1", tags: [{tags}]) {{ node {{ id }} }} }}'
    )
    op = prepared.operation(None)
    assert not isinstance(op, dict)
    problem = oversized_input(op, {})
    assert problem is not None and problem.code == "MAX_INPUT_SIZE_EXCEEDED"


def test_actual_cost_of_an_interface_uses_the_returned_members_fields() -> None:
    doc = """{ node(id: "gid://shopify/Location/1") {
        id
        ... on Product { title variants(first: 3) { nodes { sku } } }
    } }"""
    calc, op = _calc(doc)
    assert calc.requested(op) == 6
    assert calc.actual(op, {"node": {"id": "gid://shopify/Location/1"}}) == 1  # not a Product: no variants
    product = {"id": "gid://shopify/Product/1", "title": "P", "variants": {"nodes": [{"sku": "a"}]}}
    assert calc.actual(op, {"node": product}) == 1 + 2 + 1


def test_named_fragments_on_members_are_priced_like_inline_ones() -> None:
    doc = """
    query { node(id: "gid://shopify/Product/1") { id ...P ...V } }
    fragment P on Product { variants(first: 10) { nodes { sku } } }
    fragment V on ProductVariant { product { title } }
    """
    # the node (1) + the most expensive member: Product's 2 + 10 × 1 = 12 (ProductVariant's is 1)
    assert requested(doc) == 13
