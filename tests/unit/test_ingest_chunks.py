"""Chunked reading: the same items as row-by-row reading, plain price rows as column batches."""

from __future__ import annotations

import io
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.errors import ConfigError, InputError
from bulk.ingest import read_updates
from bulk.ingest.batch import PriceRows
from bulk.ingest.values import is_plain_money, money_text, plain_money_text
from bulk.models import PriceUpdate, RowError, Update
from tests.conftest import CSV_SAMPLES
from tests.unit.test_ingest_stream import VirtualCsv

Item = Update | RowError | PriceRows


def expanded(chunks: list[list[Item]]) -> list[Update | RowError]:
    """The chunks' items with every batch expanded into the updates it stands for."""
    return [u for chunk in chunks for item in chunk
            for u in (item.updates() if isinstance(item, PriceRows) else [item])]


def sizes(chunks: list[list[Item]]) -> list[int]:
    return [sum(len(i) if isinstance(i, PriceRows) else 1 for i in chunk) for chunk in chunks]


cells = st.one_of(
    st.from_regex(r"0?[0-9]{1,3}(\.[0-9]{1,2})?", fullmatch=True),  # plain, some with a leading zero
    st.sampled_from(["", "clear", " 12.50", "12,50", "-1", "x", "'A-1", "3.65E+11", "42",
                     "gid://shopify/ProductVariant/7", "gid://shopify/Product/7"]),
    st.from_regex(r"SKU-[0-9]{1,2}", fullmatch=True),
)
HEADERS = [("sku", "price", "compare_at_price"), ("variant_id", "price"),
           ("sku", "variant_id", "price", "compare_at_price"), ("handle", "sku", "price")]


@settings(max_examples=120, deadline=None)
@given(header=st.sampled_from(HEADERS), data=st.data(), rows=st.integers(1, 9))
def test_chunks_hold_the_same_items_as_iteration(header: tuple[str, ...], data: st.DataObject,
                                                 rows: int) -> None:
    body = data.draw(st.lists(st.tuples(*[cells for _ in header]), max_size=25), label="rows")
    text = "\n".join([",".join(header), *(",".join(r) for r in body)]) + "\n"

    def reader() -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(text.encode()))

    plain = read_updates(reader(), name="f.csv", max_errors=100)
    items = list(plain)
    chunked = read_updates(reader(), name="f.csv", max_errors=100)
    chunks = list(chunked.chunks(rows))
    assert expanded(chunks) == items
    assert sizes(chunks) == [min(rows, len(items) - i) for i in range(0, len(items), rows)]  # as islice
    assert chunked.statistics() == plain.statistics()
    if "handle" in header:  # not a price-only file: no batches
        assert not any(isinstance(i, PriceRows) for chunk in chunks for i in chunk)


def test_a_price_file_comes_as_one_batch_per_chunk(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("sku,price,compare_at_price\nA,1,\nB,012.50,20\n C,3,\nD,4.5,\n")
    first, second = read_updates(path).chunks(3)
    batch, update = first[0], first[1]
    assert isinstance(batch, PriceRows) and isinstance(update, PriceUpdate)  # " C" needs cleaning
    assert (batch.lines, batch.keys, batch.prices, batch.compare_ats) == (
        [2, 3], ["sku:A", "sku:B"], ["1", "12.50"], [None, "20"])
    assert second[0].keys == ["sku:D"]  # type: ignore[union-attr]


def test_a_row_naming_sku_and_variant_keeps_both(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("sku,variant_id,price\nA,7,1.00\n,8,2\n")
    (chunk,) = read_updates(path).chunks()
    (batch,) = chunk
    assert isinstance(batch, PriceRows)
    assert batch.keys == ["gid://shopify/ProductVariant/7", "gid://shopify/ProductVariant/8"]
    assert [(u.variant.sku, u.variant.variant_id) for u in batch.updates()] == [
        ("A", "gid://shopify/ProductVariant/7"), (None, "gid://shopify/ProductVariant/8")]


def test_too_many_errors_stop_after_what_was_read_before(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("sku,price\nA,1\nB,x\nC,2\nD,y\nE,3\n")
    with pytest.raises(InputError) as plain_error:
        list(read_updates(path, max_errors=1))
    chunks = read_updates(path, max_errors=1).chunks(100)
    got = next(chunks)
    assert [type(i).__name__ for i in got] == ["PriceRows", "RowError", "PriceRows"]
    with pytest.raises(InputError) as chunked_error:
        next(chunks)
    assert (chunked_error.value.line, chunked_error.value.column) == (5, "price")
    assert str(chunked_error.value) == str(plain_error.value)


def test_samples_and_jsonl_chunk_like_they_iterate(tmp_path: Path) -> None:
    jsonl = tmp_path / "u.jsonl"
    jsonl.write_text('{"kind": "price", "sku": "A", "price": "1"}\n{"kind": "price", "sku": "B"}\n')
    for path in [*sorted(CSV_SAMPLES.glob("*.csv")), jsonl]:
        items = list(read_updates(path, location="Main"))  # an inventory-only export needs one
        assert expanded(list(read_updates(path, location="Main").chunks(2))) == items, path


def test_chunks_may_grow(tmp_path: Path) -> None:
    csv_path, jsonl_path = tmp_path / "p.csv", tmp_path / "p.jsonl"
    csv_path.write_text("sku,price\n" + "".join(f"A{i},1\n" for i in range(20)))
    jsonl_path.write_text("".join(f'{{"kind": "price", "sku": "A{i}", "price": "1"}}\n' for i in range(20)))
    for path in (csv_path, jsonl_path):
        assert sizes(list(read_updates(path).chunks(lambda i: 2 << i))) == [2, 4, 8, 6], path


def test_a_reader_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("sku,price\nA,1\n")
    reader = read_updates(path)
    next(iter(reader))
    with pytest.raises(ConfigError, match="already read"):
        reader.chunks()


def _peak_while_chunking(rows: int) -> int:
    tracemalloc.start()
    try:
        reader = read_updates(io.BufferedReader(VirtualCsv(rows)), name="v.csv")
        assert sum(sum(sizes([chunk])) for chunk in reader.chunks(1000)) == rows
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_chunked_memory_does_not_grow_with_the_file() -> None:
    small, large = _peak_while_chunking(2_000), _peak_while_chunking(12_000)
    assert large < small * 1.25 + 32 * 1024, (small, large)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[0-9]{1,12}(\.[0-9]{1,2})?", fullmatch=True))
def test_plain_money_text_is_what_a_decimal_prints(text: str) -> None:
    assert is_plain_money(text)
    assert plain_money_text(text) == money_text(Decimal(text))
