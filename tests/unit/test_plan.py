"""Planning: coalesce, diff, route, shard — what a user relies on before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.catalog import CatalogStore
from bulk.models import (
    DescriptionUpdate,
    Image,
    ImageUpdate,
    OutcomeStatus,
    PriceUpdate,
    ProductRef,
    Source,
    VariantRef,
)
from bulk.plan import Coalescer, ShopProfile, build_plan, choose_route, read_rows, write_shards
from bulk.plan.diff import Overlay


def price(line: int, sku: str, value: str, compare_at: str | None = None) -> PriceUpdate:
    return PriceUpdate(
        source=Source(file="p.csv", line=line),
        variant=VariantRef(sku=sku),
        price=Decimal(value),
        compare_at_price=None if compare_at is None else Decimal(compare_at),
    )


@pytest.fixture
def catalog() -> Iterator[CatalogStore]:
    """Products 1..3; product p has variants p*10+v with SKU S{p}-{v}; price 10.00; SKU DUP twice."""
    lines: list[dict[str, object]] = []
    for p in (1, 2, 3):
        lines.append(
            {"id": f"gid://shopify/Product/{p}", "handle": f"product-{p}", "updatedAt": "2026-01-01"}
        )
        for v in range(3):
            lines.append(
                {
                    "id": f"gid://shopify/ProductVariant/{p * 10 + v}",
                    "sku": f"S{p}-{v}",
                    "price": "10.00",
                    "compareAtPrice": None,
                    "__parentId": f"gid://shopify/Product/{p}",
                }
            )
    lines.append(
        {
            "id": "gid://shopify/ProductVariant/99",
            "sku": "DUP",
            "price": "1.00",
            "__parentId": "gid://shopify/Product/3",
        }
    )
    lines.append(
        {
            "id": "gid://shopify/ProductVariant/98",
            "sku": "DUP",
            "price": "1.00",
            "__parentId": "gid://shopify/Product/3",
        }
    )
    with CatalogStore(":memory:") as store:
        store.load_export(lines)
        yield store


def test_last_write_wins_and_loser_is_reported_superseded(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S1-0", "11.00"))
    c.add(price(3, "S1-0", "12.00"))
    plan = build_plan(c, catalog)
    assert [line.variables["variants"] for line in plan.lines] == [
        [{"id": "gid://shopify/ProductVariant/10", "price": "12.00"}]
    ]
    assert plan.lines[0].rows == (("p.csv", 3),)
    (outcome,) = plan.outcomes
    assert outcome.row == ("p.csv", 2) and outcome.status is OutcomeStatus.UNCHANGED
    assert "superseded by p.csv:3" in outcome.reason


def test_variants_of_one_product_share_one_line(catalog: CatalogStore) -> None:
    c = Coalescer()
    for i, sku in enumerate(["S1-0", "S2-0", "S1-1", "S1-2"]):
        c.add(price(i + 2, sku, "20.00"))
    plan = build_plan(c, catalog)
    by_product = {line.variables["productId"]: len(line.variables["variants"]) for line in plan.lines}
    assert by_product == {"gid://shopify/Product/1": 3, "gid://shopify/Product/2": 1}


def test_unchanged_unknown_and_ambiguous_rows_get_their_outcome(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S1-0", "10.00"))  # same as the shop
    c.add(price(3, "NOPE", "5.00"))
    c.add(price(4, "DUP", "5.00"))
    plan = build_plan(c, catalog)
    assert plan.lines == []
    got = {o.row[1]: (o.status, o.reason) for o in plan.outcomes}
    assert got[2][0] is OutcomeStatus.UNCHANGED
    assert got[3][0] is OutcomeStatus.REJECTED and "unknown SKU 'NOPE'" in got[3][1]
    assert got[4][0] is OutcomeStatus.REJECTED and "ambiguous SKU 'DUP': 2 variants" in got[4][1]


def test_undo_records_old_values_of_what_changes(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S2-1", "15.00", compare_at="20.00"))
    plan = build_plan(c, catalog)
    assert plan.undo == [
        {
            "variantId": "gid://shopify/ProductVariant/21",
            "productId": "gid://shopify/Product/2",
            "price": "10.00",
            "compareAtPrice": None,
        }
    ]


def test_descriptions_and_appended_images_become_product_lines(catalog: CatalogStore) -> None:
    c = Coalescer()
    src = Source(file="d.csv", line=2)
    c.add(DescriptionUpdate(source=src, product=ProductRef(handle="product-2"), description_html="<p>x</p>"))
    img = Image(url="https://cdn.example/a.jpg", alt="A")
    c.add(
        ImageUpdate(
            source=Source(file="d.csv", line=3), product=ProductRef(handle="product-2"), images=(img,)
        )
    )
    c.add(
        ImageUpdate(
            source=Source(file="d.csv", line=4), product=ProductRef(handle="product-2"), images=(img,)
        )
    )
    plan = build_plan(c, catalog)
    (line,) = plan.lines
    assert line.variables["product"] == {"id": "gid://shopify/Product/2", "descriptionHtml": "<p>x</p>"}
    # the same source appended twice is added once (an append adds what the product does not have)
    assert len(line.variables["media"]) == 1
    assert line.rows == (("d.csv", 2), ("d.csv", 3), ("d.csv", 4))


def test_a_product_with_more_than_250_changed_variants_is_split() -> None:
    lines = [{"id": "gid://shopify/Product/1", "handle": "big"}]
    lines += [
        {
            "id": f"gid://shopify/ProductVariant/{v}",
            "sku": f"V{v}",
            "price": "1.00",
            "__parentId": "gid://shopify/Product/1",
        }
        for v in range(600)
    ]
    with CatalogStore(":memory:") as store:
        store.load_export(lines)
        c = Coalescer()
        for v in range(600):
            c.add(price(v + 2, f"V{v}", "2.00"))
        plan = build_plan(c, store)
    assert [len(x.variables["variants"]) for x in plan.lines] == [250, 250, 100]


def test_route_prefers_direct_for_a_few_lines_and_bulk_for_many(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S1-0", "11.00"))
    few = build_plan(c, catalog).lines
    profile = ShopProfile()
    assert choose_route(few, profile).kind == "direct"
    many = few * 100_000
    route = choose_route(many, profile)
    assert route.kind == "bulk" and route.eta_bulk_s < route.eta_direct_s
    assert route.shards == 15  # every op slot of three tokens
    assert choose_route(few, profile, force="bulk").kind == "bulk"


def test_shards_are_even_bounded_and_map_lines_to_rows(tmp_path: Path, catalog: CatalogStore) -> None:
    c = Coalescer()
    for i, sku in enumerate(f"S{p}-{v}" for p in (1, 2, 3) for v in range(3)):
        c.add(price(i + 2, sku, "30.00"))
    plan = build_plan(c, catalog)
    shards = write_shards(plan.lines, tmp_path, shards=2)
    assert [s.lines for s in shards] == [2, 1]
    rows = [r for s in shards for line_rows in read_rows(s.rows_path) for r in line_rows]
    assert sorted(rows) == [("p.csv", n) for n in range(2, 11)]
    first = json.loads(shards[0].path.read_text().splitlines()[0])
    assert first["productId"] == "gid://shopify/Product/1"
    with pytest.raises(ValueError, match="shard limit"):
        write_shards(plan.lines, tmp_path / "x", shards=1, max_bytes=10)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["S1-0", "S1-1", "S2-0", "NOPE", "DUP"]),
            st.sampled_from(["10.00", "11.00", "12.50"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_row_ends_in_exactly_one_place(rows: list[tuple[str, str]]) -> None:
    lines: list[dict[str, object]] = [{"id": "gid://shopify/Product/1"}, {"id": "gid://shopify/Product/2"}]
    for p, v in ((1, 0), (1, 1), (2, 0)):
        lines.append(
            {
                "id": f"gid://shopify/ProductVariant/{p * 10 + v}",
                "sku": f"S{p}-{v}",
                "price": "10.00",
                "__parentId": f"gid://shopify/Product/{p}",
            }
        )
    lines += [
        {"id": f"gid://shopify/ProductVariant/{n}", "sku": "DUP", "__parentId": "gid://shopify/Product/2"}
        for n in (98, 99)
    ]
    with CatalogStore(":memory:") as store:
        store.load_export(lines)
        c = Coalescer()
        for i, (sku, value) in enumerate(rows):
            c.add(price(i + 2, sku, value))
        plan = build_plan(c, store)
    placed = [o.row for o in plan.outcomes] + [r for line in plan.lines for r in line.rows]
    assert sorted(placed) == [("p.csv", i + 2) for i in range(len(rows))]


def test_a_later_chunk_diffs_against_what_earlier_chunks_planned(catalog: CatalogStore) -> None:
    overlay = Overlay()
    first = Coalescer()
    first.add(price(2, "S1-0", "12.00"))
    plan1 = build_plan(first, catalog, overlay)
    second = Coalescer()
    second.add(price(9, "S1-0", "10.00"))  # back to what the catalog says: still a change to send
    second.add(price(10, "S1-1", "10.00"))  # the catalog's value, never changed: a no-op
    plan2 = build_plan(second, catalog, overlay)
    assert [line.variables["variants"] for line in plan2.lines] == [
        [{"id": "gid://shopify/ProductVariant/10", "price": "10.00"}]
    ]
    assert [o.row for o in plan2.outcomes] == [("p.csv", 10)]
    # undo restores the shop's value from before the run, written once
    assert plan1.undo == [
        {
            "variantId": "gid://shopify/ProductVariant/10",
            "productId": "gid://shopify/Product/1",
            "price": "10.00",
        }
    ]
    assert plan2.undo == []


def test_a_row_changing_price_and_compare_at_counts_once(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S3-0", "15.00", compare_at="20.00"))
    plan = build_plan(c, catalog)
    assert plan.lines[0].rows == (("p.csv", 2),)
    assert plan.statistics().rows_in_lines == 1
