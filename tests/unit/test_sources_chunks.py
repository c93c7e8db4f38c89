"""Chunk sizes of a source read ahead (``bulk.sources.readahead``): small first, doubling to the largest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from bulk.catalog import PriceColumns
from bulk.ingest.batch import PriceRows
from bulk.models import PriceUpdate, Source, VariantRef
from bulk.plan.diff import LookedUp
from bulk.sources.readahead import Item, ReadAhead, SourceError, chunks


def updates(n: int) -> Iterator[PriceUpdate]:
    for i in range(n):
        yield PriceUpdate(source=Source(file="gen", line=i + 1), variant=VariantRef(sku=f"S{i}"),
                          price=Decimal(1))


def test_the_first_chunk_is_small_and_each_next_twice_as_big_up_to_chunk_rows() -> None:
    config = ReadAhead(chunk_rows=50_000, first_chunk_rows=5_000)
    assert [config.rows_of(i) for i in range(6)] == [5_000, 10_000, 20_000, 40_000, 50_000, 50_000]
    assert ReadAhead(chunk_rows=100).rows_of(0) == 100  # never above chunk_rows
    with pytest.raises(ValueError):
        ReadAhead(first_chunk_rows=0)


async def test_a_file_source_is_read_in_growing_chunks() -> None:
    config = ReadAhead(chunk_rows=400, first_chunk_rows=100)
    sizes = [len(c) async for c in chunks(updates(1_000), config)]
    assert sizes == [100, 200, 400, 300]


async def test_an_async_source_is_flushed_in_growing_chunks_too() -> None:
    async def source() -> AsyncIterator[PriceUpdate]:
        for u in updates(700):
            yield u

    config = ReadAhead(chunk_rows=400, first_chunk_rows=100)
    sizes = [len(c) async for c in chunks(source(), config)]
    assert sizes == [100, 200, 400]


async def test_column_batches_and_catalog_rows_are_forwarded_and_counted_as_rows() -> None:
    """What ``read_chunks`` sends (PriceRows, a LookedUp per chunk) reaches the planner as it is; a
    failure says how many rows came before it, not how many batches."""
    rows = PriceRows(file="f.csv")
    for line in range(2, 5):
        rows.append(line, f"S{line}", None, "1.00", None)
    looked_up = LookedUp(PriceColumns(["sku:S2"]), b"\x00")

    async def source() -> AsyncIterator[list[Item]]:
        yield [rows, looked_up]
        raise RuntimeError("gone")

    got: list[list[Item]] = []
    with pytest.raises(SourceError, match="after 3 items") as error:
        async for chunk in chunks(source(), ReadAhead()):
            got.append(chunk)
    assert got == [[rows, looked_up]] and error.value.items_read == 3
