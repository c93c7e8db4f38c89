"""The planner's fast paths decide exactly what the model-by-model path decides."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.catalog import Ambiguous, CatalogStore
from bulk.ingest.batch import PriceRows
from bulk.ingest.values import plain_money_text
from bulk.models import OutcomeStatus, PriceUpdate, Source, VariantRef
from bulk.plan import Coalescer, Plan, build_plan
from bulk.plan.diff import LookedUp, Overlay
from bulk.plan.stream import StreamPlanner


def catalog_lines() -> list[dict[str, object]]:
    """Product 1: variants 10 (S1, 10.00, compare-at 12.5), 11 (S2, 7); SKU DUP names 12 and 13."""
    variants = [(10, "S1", "10.00", "12.5"), (11, "S2", "7", None), (12, "DUP", "1", None),
                (13, "DUP", "1", None)]
    product: dict[str, object] = {"id": "gid://shopify/Product/1", "handle": "p1"}
    return [product] + [
        {"id": f"gid://shopify/ProductVariant/{n}", "sku": sku, "price": amount, "compareAtPrice": compare_at,
         "__parentId": "gid://shopify/Product/1"} for n, sku, amount, compare_at in variants]


@pytest.fixture
def catalog() -> Iterator[CatalogStore]:
    with CatalogStore(":memory:") as store:
        store.load_export(catalog_lines())
        yield store


def price(line: int, sku: str, value: str | None, compare_at: str | None = None, *, clear: bool = False,
          file: str = "p.csv") -> PriceUpdate:
    return PriceUpdate(source=Source(file=file, line=line), variant=VariantRef(sku=sku),
                       price=None if value is None else Decimal(value),
                       compare_at_price=None if compare_at is None else Decimal(compare_at),
                       clear_compare_at=clear)


def decided(plan: Plan) -> tuple[object, ...]:
    return ([(o.row, o.status, o.reason) for o in plan.outcomes], plan.undo,
            [(x.kind, x.variables, x.rows) for x in plan.lines])


def test_amounts_are_compared_by_value_not_by_text(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S1", "10", "12.50"))  # the shop has 10.00 and 12.5
    c.add(price(3, "S2", "7.00"))
    plan = build_plan(c, catalog)
    assert plan.lines == [] and {o.status for o in plan.outcomes} == {OutcomeStatus.UNCHANGED}


def test_a_row_whose_two_fields_lose_to_two_rows_is_superseded_by_the_last(catalog: CatalogStore) -> None:
    c = Coalescer()
    c.add(price(2, "S1", "20", "30"))
    c.add(price(3, "S1", None, "31"))
    c.add(price(4, "S1", "21"))
    assert c.superseded == {("p.csv", 2): ("p.csv", 4)}
    plan = build_plan(c, catalog)
    assert plan.lines[0].rows == (("p.csv", 3), ("p.csv", 4))
    assert plan.lines[0].variables["variants"] == [
        {"id": "gid://shopify/ProductVariant/10", "price": "21", "compareAtPrice": "31"}]


def test_the_undo_file_keeps_each_field_once_as_the_shop_had_it(catalog: CatalogStore) -> None:
    overlay = Overlay()
    first, second = Coalescer(), Coalescer()
    first.add(price(2, "S1", None, clear=True))
    second.add(price(9, "S1", "11", "14"))
    undo = build_plan(first, catalog, overlay).undo + build_plan(second, catalog, overlay).undo
    assert undo == [
        {"variantId": "gid://shopify/ProductVariant/10", "productId": "gid://shopify/Product/1",
         "compareAtPrice": "12.5"},
        {"variantId": "gid://shopify/ProductVariant/10", "productId": "gid://shopify/Product/1",
         "price": "10.00"},
    ]


def test_price_columns_line_up_with_the_keys(catalog: CatalogStore) -> None:
    found = catalog.price_columns(["sku:NOPE", "sku:S1", "gid://shopify/ProductVariant/11", "sku:DUP"])
    variant = "gid://shopify/ProductVariant/"
    assert found.variant_ids == [None, f"{variant}10", f"{variant}11", None]
    assert found.product_ids == [None, "gid://shopify/Product/1", "gid://shopify/Product/1", None]
    assert (found.prices, found.compare_ats) == ([None, "10.00", "7", None], [None, "12.5", None, None])
    assert found.ambiguous == {3: Ambiguous("DUP", (f"{variant}12", f"{variant}13"))}


def test_price_columns_whole_or_row_by_row_agree(catalog: CatalogStore) -> None:
    variant = "gid://shopify/ProductVariant/"
    together = catalog.price_columns(["sku:S1", "sku:S2", f"{variant}11"])  # found at once, in order
    apart = catalog.price_columns(["sku:S1", f"{variant}11", "sku:S2"])  # SKUs not side by side
    assert together.variant_ids == [f"{variant}10", f"{variant}11", f"{variant}11"]
    assert together.prices == ["10.00", "7", "7"] and together.compare_ats == ["12.5", None, None]
    assert [apart.variant_ids[i] for i in (0, 2, 1)] == together.variant_ids
    assert [apart.prices[i] for i in (0, 2, 1)] == together.prices
    assert together.product_ids[0] is together.product_ids[1]  # one str per distinct product


rows_of_prices = st.lists(
    st.tuples(st.sampled_from(["S1", "S2", "DUP", "NOPE", "gid://shopify/ProductVariant/10"]),
              st.sampled_from(["7", "7.00", "10.00", "10", "11.5", "012.5"]),
              st.sampled_from([None, "12.5", "12.50", "13"])),
    min_size=1, max_size=30)


def as_models(rows: list[tuple[str, str, str | None]]) -> list[PriceUpdate]:
    return [PriceUpdate(source=Source(file="p.csv", line=i + 2),
                        variant=VariantRef(variant_id=key) if key.startswith("gid:") else VariantRef(sku=key),
                        price=Decimal(value), compare_at_price=None if compare is None else Decimal(compare))
            for i, (key, value, compare) in enumerate(rows)]


def as_batch(rows: list[tuple[str, str, str | None]], first: int) -> PriceRows:
    batch = PriceRows("p.csv")
    for i, (key, value, compare) in enumerate(rows, first):
        sku, variant_id = (None, key) if key.startswith("gid:") else (key, None)
        batch.append(i + 2, sku, variant_id, plain_money_text(value), compare)
    return batch


@settings(max_examples=80, deadline=None)
@given(rows=rows_of_prices, cut=st.integers(1, 30))
def test_batches_and_looked_up_chunks_plan_like_models(
    rows: list[tuple[str, str, str | None]], cut: int
) -> None:
    with CatalogStore(":memory:") as store:
        store.load_export(catalog_lines())
        chunks = [rows[:cut], rows[cut:]]  # two chunks: the second diffs against the first (overlay)
        models = [as_models(rows)[:cut], as_models(rows)[cut:]]
        batches = [as_batch(chunks[0], 0), as_batch(chunks[1], cut)]
        assert [u for b in batches for u in b.updates()] == [u for m in models for u in m]
        by_model, by_batch, looked_up = StreamPlanner(store), StreamPlanner(store), StreamPlanner(store)
        named: set[int] = set()
        for updates, batch in zip(models, batches, strict=True):
            expected = decided(by_model.plan_chunk(updates).plan)
            assert decided(by_batch.plan_chunk([batch]).plan) == expected
            ahead = LookedUp.of_chunk(store, [batch], named)
            assert decided(looked_up.plan_chunk([batch, ahead]).plan) == expected
        other = LookedUp.of_chunk(store, batches[:1], set())  # rows of other variants: looked up again
        assert decided(build_plan(coalesced(batches[1]), store, Overlay(), other)) == decided(
            build_plan(coalesced(batches[1]), store, Overlay()))


def coalesced(batch: PriceRows) -> Coalescer:
    c = Coalescer()
    c.add_prices(batch)
    return c
