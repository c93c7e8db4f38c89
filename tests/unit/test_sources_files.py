"""Files as a submission's source (``bulk.sources.files``): read one after the other, each through
``read_chunks``, started only when asked for and ended when closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.plan import fill_catalog
from bench.plan_data import write_price_csv
from bulk.catalog import CatalogStore
from bulk.errors import ConfigError
from bulk.ingest import read_updates
from bulk.plan.diff import LookedUp
from bulk.sources._reader_process import ReaderOptions
from bulk.sources.files import AHEAD_AFTER_CHUNKS, FileInput
from bulk.sources.readahead import ReadAhead, chunks

CONFIG = ReadAhead(chunk_rows=1000, first_chunk_rows=250)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    first, second, catalog = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.sqlite3"
    write_price_csv(first, 1500, products=300)
    write_price_csv(second, 1200, products=300, seed=1)  # the same variants again
    with CatalogStore(catalog) as store:
        fill_catalog(store, 300)
    return first, second, catalog


async def test_files_are_read_one_after_the_other(files: tuple[Path, Path, Path],
                                                  children: list[Any]) -> None:
    first, second, catalog = files
    files_ = FileInput(paths=(first, second), in_process=False)
    with files_.open(catalog=catalog, rows=CONFIG.rows_of) as source:
        got = [chunk async for chunk in chunks(source, CONFIG)]
    assert len(children) == 2 and all(c.poll() is not None for c in children)
    expected = [list(read_updates(path).chunks(CONFIG.rows_of)) for path in (first, second)]
    # the first file's first chunk is read here while its child starts; the second file's child started
    # ahead and sends every chunk of its file; a child adds catalog rows to what it sends
    assert [isinstance(chunk[-1], LookedUp) for chunk in got] == \
        [index > 0 or part > 0 for part in range(2) for index in range(len(expected[part]))]
    assert [chunk[:-1] if isinstance(chunk[-1], LookedUp) else chunk for chunk in got] == \
        [*expected[0], *expected[1]]
    later = [chunk[-1] for chunk in got[len(expected[0]):] if isinstance(chunk[-1], LookedUp)]
    # a later file's child cannot know what the earlier ones named: any variant may be in the overlay
    assert later and all(set(looked.named_before) == {1} for looked in later)
    earlier = [chunk[-1] for chunk in got[:len(expected[0])] if isinstance(chunk[-1], LookedUp)]
    assert any(0 in looked.named_before for looked in earlier)


async def test_nothing_is_started_before_the_first_chunk_is_asked_for(
        files: tuple[Path, Path, Path], children: list[Any]) -> None:
    first, second, catalog = files
    with FileInput(paths=(first, second), in_process=False).open(catalog=catalog, rows=100):
        pass  # a resumed run: planning had finished, nothing is read
    assert children == []


async def test_closing_ends_the_child_in_use_and_starts_no_other(
        files: tuple[Path, Path, Path], children: list[Any]) -> None:
    first, second, catalog = files
    source = FileInput(paths=(first, second), in_process=False).open(catalog=catalog, rows=100)
    stream = aiter(source)
    assert await anext(stream)
    (child,) = children
    assert child.poll() is None  # ahead of us, waiting on a full pipe
    source.close()  # what a cancelled run does: its generator may never be finalized
    assert child.poll() is not None
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert len(children) == 1


async def test_the_next_files_child_starts_before_the_file_in_use_ends(
        files: tuple[Path, Path, Path], children: list[Any]) -> None:
    first, second, catalog = files
    source = FileInput(paths=(first, second), in_process=False).open(catalog=catalog, rows=CONFIG.rows_of)
    stream = aiter(source)
    for _ in range(AHEAD_AFTER_CHUNKS - 1):
        assert await anext(stream)
    assert len(children) == 1  # not at the run's start, where the first urgent burst is
    assert await anext(stream)
    assert len(children) == 2 and all(c.poll() is None for c in children)  # the first file is not done
    assert len(list(read_updates(first).chunks(CONFIG.rows_of))) > AHEAD_AFTER_CHUNKS
    source.close()  # a run stopped during the first file ends both
    assert all(c.poll() is not None for c in children)


async def test_a_later_file_that_cannot_be_read_fails_after_the_files_before_it(
        files: tuple[Path, Path, Path], children: list[Any]) -> None:
    first, _, catalog = files
    missing = first.with_name("gone.csv")
    got: list[Any] = []
    source = FileInput(paths=(first, missing), in_process=False).open(catalog=catalog, rows=CONFIG.rows_of)
    with source, pytest.raises(ConfigError, match=r"gone\.csv"):
        async for chunk in source:
            got.append(chunk)
    assert len(got) == len(list(read_updates(first).chunks(CONFIG.rows_of)))  # every chunk before it


def test_the_run_key_names_what_changes_what_is_read() -> None:
    plain = FileInput(paths=(Path("a.csv"),), options=ReaderOptions(dialect="simple", max_errors=5))
    assert plain.paths == (Path("a.csv"),)
    assert plain.run_key_options() == {"dialect": "simple", "location": None}  # as `bulk submit` had it
    images = FileInput(paths=(Path("a.jsonl"),), options=ReaderOptions(kind="image", image_mode="replace"))
    assert images.run_key_options() == {"dialect": None, "location": None,
                                        "reader": {"kind": "image", "image_mode": "replace"}}
    with pytest.raises(ValueError, match="at least one"):
        FileInput(paths=())
