"""Reading (and looking up the catalog) in a child process gives the planner the very same chunks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path
from typing import Any, cast

import pytest

from bench.plan import fill_catalog
from bench.plan_data import write_price_csv
from bulk.catalog import CatalogStore
from bulk.errors import ConfigError, InputError
from bulk.ingest import read_updates
from bulk.plan.diff import LookedUp
from bulk.plan.stream import StreamPlanner
from bulk.sources._reader_process import CHILD_NICENESS, ReaderOptions, read_chunks
from bulk.sources.readahead import ReadAhead, Source, chunks


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    csv_path, catalog_path = tmp_path / "p.csv", tmp_path / "c.sqlite3"
    write_price_csv(csv_path, 3000, products=1000)
    with csv_path.open("a") as f:
        f.write("SKU-0000003-0,abc,\nSKU-9999999-0,1.00,\n SKU-0000004-0 ,2.00,\n")  # bad, unknown, spaces
    with CatalogStore(catalog_path) as store:
        fill_catalog(store, 900)  # products 901..1000 are unknown
    return csv_path, catalog_path


def test_the_child_sends_what_the_reader_yields_plus_catalog_rows(files: tuple[Path, Path]) -> None:
    csv_path, catalog_path = files
    with read_chunks(csv_path, catalog=catalog_path, rows=700, in_process=False) as reader:
        assert not reader.in_process
        chunks = list(reader)
        stats = reader.statistics()
    expected = list(read_updates(csv_path).chunks(700))
    assert [chunks[0], *(chunk[:-1] for chunk in chunks[1:])] == expected  # the first was read here
    assert stats is not None and stats.records == 3003 and stats.errors == 1
    with CatalogStore(catalog_path) as store:
        named: set[int] = set()
        looked_up = [LookedUp.of_chunk(store, c, named) for c in expected]
        assert [chunk[-1] for chunk in chunks[1:]] == looked_up[1:]
        by_child, by_self = StreamPlanner(store), StreamPlanner(store)
        for ours, theirs in zip(chunks, expected, strict=True):
            a, b = by_child.plan_chunk(ours), by_self.plan_chunk(theirs)
            assert (a.plan, a.rejected) == (b.plan, b.rejected)


def test_a_submission_takes_the_chunks_as_its_source(files: tuple[Path, Path]) -> None:
    csv_path, catalog_path = files
    config = ReadAhead(chunk_rows=1000, first_chunk_rows=250)  # growing chunks, as bulk submit reads

    async def read() -> list[list[Any]]:
        source = read_chunks(csv_path, catalog=catalog_path, rows=config.rows_of, in_process=False)
        # bulk.sources.readahead.Item does not name PriceRows and LookedUp yet: a type-only gap
        return [chunk async for chunk in chunks(cast("Source", source), config)]

    got = asyncio.run(read())
    expected = list(read_updates(csv_path).chunks(config.rows_of))
    assert [got[0], *(chunk[:-1] for chunk in got[1:])] == expected
    assert all(isinstance(chunk[-1], LookedUp) for chunk in got[1:])


def test_an_input_error_arrives_after_the_chunks_before_it(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("sku,price\n" + "A,1\n" * 50 + "B,x\nC,y\n")
    with read_chunks(path, rows=20, options=ReaderOptions(max_errors=1), in_process=False) as reader:
        got = [reader.next_chunk() for _ in range(3)]
        with pytest.raises(InputError) as error:
            reader.next_chunk()
    assert [len(c) for c in got if c is not None] == [1, 1, 2]  # batches of 20, 20, then 10 + an error
    assert (error.value.file, error.value.line, error.value.column) == (str(path), 53, "price")
    assert "more than 1 bad rows" in error.value.reason


def test_stopping_early_ends_the_child(files: tuple[Path, Path]) -> None:
    csv_path, _ = files
    reader = read_chunks(csv_path, rows=100, in_process=False)
    child = reader.child
    assert child is not None and reader.next_chunk() is not None
    reader.close()
    assert child.poll() is not None


def test_the_child_reads_niced_so_the_event_loop_comes_first(files: tuple[Path, Path]) -> None:
    csv_path, _ = files
    with read_chunks(csv_path, rows=10, in_process=False) as reader:  # 300 chunks: it waits on the pipe
        child = reader.child
        assert child is not None
        assert reader.next_chunk() is not None and reader.next_chunk() is not None  # the 2nd, the child's
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, ours + CHILD_NICENESS)


def test_async_iteration_and_small_files_in_process(files: tuple[Path, Path]) -> None:
    csv_path, _ = files

    async def count() -> int:
        return sum([len(chunk) async for chunk in read_chunks(csv_path, rows=1000)])

    assert read_chunks(csv_path).in_process  # a small file: no child
    assert asyncio.run(count()) == 1 + 1 + 1 + 3  # batches of 1000, then the error, a batch, an update


def test_a_missing_file_is_named_as_usual(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open"), read_chunks(tmp_path / "nope.csv") as reader:
        reader.next_chunk()


def test_an_error_in_the_first_chunk_ends_the_child(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("")
    reader = read_chunks(path, in_process=False)
    child = reader.child
    with pytest.raises(InputError, match="empty"):
        reader.next_chunk()
    assert child is not None and child.poll() is not None


def test_closing_while_a_thread_waits_for_a_chunk_ends_the_child_at_once(files: tuple[Path, Path]) -> None:
    """A cancelled run closes its reader from the event loop while a worker thread may be blocked
    reading the pipe: the child is ended at once, the thread gets no chunk and no error, and the
    file is released by whichever of them finishes last."""
    csv_path, _ = files
    reader = read_chunks(csv_path, rows=100, in_process=False)
    child = reader.child
    assert child is not None and reader.next_chunk() is not None  # the first, read here
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(lambda: [c for c in iter(reader.next_chunk, None)])
        reader.close()
        assert child.poll() is not None
        got = waiting.result(timeout=30)
    assert len(got) < 31  # the file holds 31 chunks of 100: the thread stopped early, quietly
    assert reader.next_chunk() is None and reader.closed
