"""The simulated catalog: the deterministic scheme others rely on, laziness, overlay, write accounting."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk.clock import ManualClock
from bulk.sim._catalog import BASE_TIME, LOCATIONS, Catalog
from bulk.sim._files import MAX_UPLOAD_BYTES, FileStore
from bulk.sim._operations import ShopState
from bulk.sim._values import cents_of, gid_number, iso, money, parse_iso


def test_scheme_of_a_product_and_its_variants() -> None:
    c = Catalog(100)
    assert c.variant_count(1) == 2 and c.variant_count(2) == 3 and c.variant_count(3) == 1
    assert list(c.variant_ids(2)) == [20, 21, 22]
    assert c.sku(21) == "SKU-0000002-1"
    assert c.price_cents(21) == 1000 + (2 * 37 + 11) % 9000
    assert c.compare_at_cents(21) == c.price_cents(21) + 500  # even product
    assert c.compare_at_cents(10) is None  # odd product
    assert c.available(21, 3) == (2 * 7 + 1 * 3 + 3) % 50
    assert c.description_html(7) == "<p>Description of product 7.</p>"
    assert len(c.media(7)) == 2 and len(c.media(8)) == 1
    assert c.product_updated(7) == BASE_TIME
    assert LOCATIONS == {1: "Main Warehouse", 2: "Store Front", 3: "Overflow"}


def test_existence_and_sku_lookup_by_parsing() -> None:
    c = Catalog(100)
    assert c.has_product(1) and c.has_product(100)
    assert not c.has_product(0) and not c.has_product(101) and not c.has_product(None)
    assert c.has_variant(12) is False  # product 1 has variants 10, 11 only
    assert c.has_variant(11) and not c.has_variant(1010) and not c.has_variant(1002)
    assert c.variant_by_sku("SKU-0000002-2") == 22
    assert c.variant_by_sku("SKU-0000001-2") is None  # no such variant
    assert c.variant_by_sku("SKU-0000101-0") is None  # no such product
    assert c.variant_by_sku("sku-0000002-2") is None
    assert c.variant_by_sku("SKU-0000002-2 ") is None


def test_million_and_a_half_products_are_made_lazily() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        c = Catalog(1_500_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000  # nothing per product is allocated up front
    stats = c.statistics()
    assert stats["overlay_products"] == stats["overlay_variants"] == stats["overlay_levels"] == 0
    assert stats["products"] == 1_500_000
    assert stats["variants"] == 3_000_000  # 2 + 3 + 1 per three products
    assert c.variant_by_sku("SKU-1500000-0") == 15_000_000
    assert c.price_cents(15_000_000) == 1000 + (1_500_000 * 37) % 9000


def test_shop_state_of_a_million_and_a_half_products_is_lazy_too() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state = ShopState(products=1_500_000, clock=ManualClock())
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000
    assert state.statistics()["objects_written"] == 0
    assert state.nodes.variant(14_999_990) is not None  # the last product's first variant exists


@given(st.integers(min_value=0, max_value=200))
def test_variant_total_matches_the_per_product_rule(n: int) -> None:
    c = Catalog(n)
    assert c.total_variants() == sum(c.variant_count(p) for p in range(1, n + 1))


def test_writes_shadow_the_base_and_are_counted_per_object() -> None:
    c = Catalog(10)
    c.set_variant(21, now=BASE_TIME + 10, price=1234)
    c.set_variant(21, now=BASE_TIME + 20, compare_at=None, set_compare_at=True)
    c.update_product(
        3, now=BASE_TIME + 5, description_html="<p>new</p>", add_media=[("alt", "https://x/y.jpg")]
    )
    c.set_available(30, 2, 7, now=BASE_TIME + 1)
    assert c.price_cents(21) == 1234 and c.compare_at_cents(21) is None
    assert c.price_cents(20) == 1000 + (2 * 37) % 9000  # untouched sibling
    assert c.product_updated(2) == BASE_TIME + 20  # a variant write touches its product
    assert c.description_html(3) == "<p>new</p>"
    assert [m.url for m in c.media(3)][-1] == "https://x/y.jpg" and len(c.media(3)) == 3
    assert c.available(30, 2) == 7 and c.available(30, 1) == (3 * 7 + 1) % 50
    assert c.write_count("gid://shopify/ProductVariant/21") == 2
    assert c.write_count("gid://shopify/ProductVariant/20") == 0
    assert c.write_count("gid://shopify/Product/3") == 1
    assert c.write_count("gid://shopify/InventoryItem/30", "gid://shopify/Location/2") == 1
    assert c.write_count("gid://shopify/InventoryItem/30", "gid://shopify/Location/1") == 0
    stats = c.statistics()
    assert stats["objects_written"] == 3
    assert stats["writes_total"] == 4
    assert stats["objects_written_more_than_once"] == 1
    assert c.written_products_since(BASE_TIME + 6) == [2]
    assert "writes=4" in repr(c)


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("12.34", 1234),
        ("0", 0),
        (5, 500),
        (1.5, 150),
        ("-1", None),
        ("1.234", None),
        ("abc", None),
        (True, None),
        (None, None),
        ("1e12", None),
        ("NaN", None),
    ],
)
def test_money_input(value: object, cents: int | None) -> None:
    assert cents_of(value) == cents


def test_small_formatters() -> None:
    assert money(1005) == "10.05"
    assert iso(BASE_TIME) == "2025-01-01T00:00:00Z"
    assert parse_iso("2025-01-01T00:00:00Z") == BASE_TIME
    assert parse_iso("2025-01-01T00:00:00") == BASE_TIME
    assert gid_number("gid://shopify/Product/12", "gid://shopify/Product/") == 12
    assert gid_number("gid://shopify/Product/x", "gid://shopify/Product/") is None
    assert gid_number(12, "gid://shopify/Product/") is None


def test_file_store_caps_uploads_but_not_results() -> None:
    files = FileStore()
    files.put("a", b"xyz")
    assert files.get("a") == b"xyz" and files.get("b") is None
    with pytest.raises(ValueError, match="100 MB"):
        files.put("big", bytes(MAX_UPLOAD_BYTES + 1))
    files.publish("result", bytes(MAX_UPLOAD_BYTES + 1))
    assert files.statistics()["uploads_rejected"] == 1
    assert files.statistics()["files"] == 2
    with pytest.raises(ValueError):
        files.put("", b"")


write_ops = st.lists(
    st.one_of(
        st.tuples(st.just("price"), st.integers(1, 20), st.integers(0, 2), st.integers(0, 10**6)),
        st.tuples(
            st.just("qty"), st.integers(1, 20), st.integers(0, 2), st.integers(1, 3), st.integers(0, 99)
        ),
    ),
    max_size=40,
)


@given(write_ops)
def test_overlay_reads_back_the_last_write_and_counts_every_one(ops: list[tuple[int | str, ...]]) -> None:
    c = Catalog(20)
    prices: dict[int, int] = {}
    levels: dict[tuple[int, int], int] = {}
    counts: dict[str, int] = {}
    for op in ops:
        p, v = int(op[1]), int(op[2])
        vid = p * 10 + v
        if not c.has_variant(vid):
            continue
        if op[0] == "price":
            c.set_variant(vid, now=BASE_TIME + 1, price=int(op[3]))
            prices[vid] = int(op[3])
            key = f"gid://shopify/ProductVariant/{vid}"
        else:
            loc, qty = int(op[3]), int(op[4])
            c.set_available(vid, loc, qty, now=BASE_TIME + 1)
            levels[(vid, loc)] = qty
            key = f"{vid}@{loc}"
        counts[key] = counts.get(key, 0) + 1
    for vid, cents in prices.items():
        assert c.price_cents(vid) == cents
        assert (
            c.write_count(f"gid://shopify/ProductVariant/{vid}")
            == counts[f"gid://shopify/ProductVariant/{vid}"]
        )
    for (vid, loc), qty in levels.items():
        assert c.available(vid, loc) == qty
        assert (
            c.write_count(f"gid://shopify/InventoryItem/{vid}", f"gid://shopify/Location/{loc}")
            == counts[f"{vid}@{loc}"]
        )
    stats = c.statistics()
    assert stats["writes_total"] == sum(counts.values())
    assert stats["objects_written_more_than_once"] == sum(1 for n in counts.values() if n > 1)
