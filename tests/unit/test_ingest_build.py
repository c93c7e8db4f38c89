"""The fast path (no pydantic validation for proven price rows) agrees with full validation."""

from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.ingest import _build
from bulk.ingest._cells import Counters
from bulk.ingest._rows import RowBuilder
from bulk.ingest.dialects import SIMPLE, bind
from bulk.ingest.values import Rejected, parse_code, parse_money
from bulk.models import PriceUpdate, RowError

codes = st.text(min_size=1, max_size=12).map(lambda t: parse_code(t, "SKU")).filter(
    lambda v: isinstance(v, str) and v != ""
)
monies = st.from_regex(r"[0-9]{1,12}(\.[0-9]{1,2})?", fullmatch=True).map(parse_money)
cells = st.one_of(
    st.from_regex(r" ?-?[0-9]{1,4}([.,][0-9]{1,3})? ?", fullmatch=True),
    st.sampled_from(["", "clear", "'A-1", " A-1", "3.65E+11", "x"]),
    st.text(max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(
    sku=st.one_of(st.none(), codes),
    variant=st.one_of(st.none(), st.integers(1, 10**12).map(lambda n: f"gid://shopify/ProductVariant/{n}")),
    price=st.one_of(st.none(), monies),
    compare=st.one_of(st.none(), monies),
    clear=st.booleans(),
    line=st.integers(1, 10**7),
)
def test_fast_price_equals_validated(
    sku: str | None,
    variant: str | None,
    price: Decimal | None,
    compare: Decimal | None,
    clear: bool,
    line: int,
) -> None:
    if not (sku or variant) or (price is None and compare is None and not clear):
        return  # the reader never builds these: it reports a RowError instead (tested elsewhere)
    assert not isinstance(price, Rejected) and not isinstance(compare, Rejected)
    fast = _build.price("f.csv", line, sku, variant, price, compare, clear)
    full = _build.price_validated("f.csv", line, sku, variant, price, compare, clear)
    assert fast == full
    assert fast.model_fields_set == full.model_fields_set
    assert fast.variant.model_fields_set == full.variant.model_fields_set
    assert fast.model_dump() == full.model_dump()
    assert fast.model_dump(exclude_unset=True) == full.model_dump(exclude_unset=True)
    assert hash(fast) == hash(full) and repr(fast) == repr(full)
    assert copy.deepcopy(fast) == full
    assert PriceUpdate.model_validate(fast.model_dump()) == fast  # round-trips as a valid model


def _builder(header: tuple[str, ...]) -> RowBuilder:
    columns = bind(SIMPLE, header, file="f.csv")
    return RowBuilder(columns, file="f.csv", kinds=("price",), location=None, image_mode="append",
                      counters=Counters())


HEADERS = [
    ("sku", "price", "compare_at_price"),
    ("variant_id", "price"),
    ("sku", "variant_id", "price", "compare_at_price"),
]
ids = st.one_of(cells, st.sampled_from(["42", "gid://shopify/ProductVariant/42", "gid://shopify/Product/4"]))


@settings(max_examples=200, deadline=None)
@given(header=st.sampled_from(HEADERS), data=st.data())
def test_fast_rows_equal_general_rows(header: tuple[str, ...], data: st.DataObject) -> None:
    row = [data.draw(ids if name.endswith("id") else cells, label=name) for name in header]
    fast_builder, general_builder = _builder(header), _builder(header)
    assert fast_builder.feed_record != fast_builder.feed  # price-only files do take the short path
    fast = fast_builder.feed_record(7, list(row))
    general = general_builder.feed(7, list(row))
    assert fast == general
    assert all(isinstance(i, (PriceUpdate, RowError)) for i in fast)
    assert fast_builder.counters == general_builder.counters


def test_other_files_take_the_general_path() -> None:
    builder = _builder(("sku", "price", "handle"))
    assert builder.feed_record == builder.feed
