"""Big cells: a description up to Shopify's limit reads fine; beyond it, that row is rejected with its
file, line and column, and the other rows go on (it used to make the whole file fatal at 128 KiB)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulk.errors import InputError
from bulk.ingest import MAX_CELL_BYTES, read_updates
from bulk.ingest.csv_reader import HARD_CELL_CHARS
from bulk.models import DescriptionUpdate, RowError


def write(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("Handle", "Body (HTML)", "Title"), *((h, b, "t") for h, b in rows)])
    return path


def test_the_limit_is_shopifys_512_kb_description() -> None:
    assert MAX_CELL_BYTES == 512 * 1024 - 1


def test_a_200_kib_description_with_an_embedded_image_reads(tmp_path: Path) -> None:
    image = '<img src="data:image/png;base64,' + "iVBORw0KGgo" * (200 * 1024 // 11) + '">'
    body = "<p>Crème\nbrûlée</p>\n" + image  # spans lines too
    path = write(tmp_path, [("a", body), ("b", "<p>b</p>")])
    items = list(read_updates(path))
    assert [(type(i).__name__, i.source.line) for i in items if isinstance(i, DescriptionUpdate)] == [
        ("DescriptionUpdate", 2), ("DescriptionUpdate", 5)]  # the body spans lines 2-4
    assert isinstance(items[0], DescriptionUpdate) and items[0].description_html == body


def test_over_the_limit_that_row_is_rejected_and_the_others_go_on(tmp_path: Path) -> None:
    at_limit = "é" * (MAX_CELL_BYTES // 2) + "x"  # 524,287 bytes of UTF-8 (é is 2 bytes)
    over = at_limit + "x"
    path = write(tmp_path, [("a", "<p>a</p>"), ("b", over), ("c", at_limit), ("d", "<p>d</p>")])
    reader = read_updates(path)
    items = list(reader)
    errors = [i for i in items if isinstance(i, RowError)]
    assert [(e.file, e.line, e.column) for e in errors] == [(str(path), 3, "Body (HTML)")]
    assert "524,288 bytes" in errors[0].reason and "at most 524,287" in errors[0].reason
    assert [i.product.handle for i in items if isinstance(i, DescriptionUpdate)] == ["a", "c", "d"]
    assert reader.statistics().errors == 1
    # The chunked reader (what the planner uses) says the same.
    chunked = [i for chunk in read_updates(path).chunks(2) for i in chunk]
    assert chunked == items


def test_a_big_cell_in_an_ignored_column_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("Handle", "Title", "Variant SKU", "Variant Price"),
                                 ("a", "x" * (MAX_CELL_BYTES + 10), "A1", "3")])
    items = list(read_updates(path))
    assert [type(i).__name__ for i in items] == ["PriceUpdate"]


@pytest.fixture
def small_hard_limit() -> Iterator[int]:
    """The csv module's limit is process-wide: lower it for one test, then put it back."""
    before = csv.field_size_limit(1000)
    try:
        yield 1000
    finally:
        csv.field_size_limit(before)
    assert csv.field_size_limit() == before == HARD_CELL_CHARS


def test_a_runaway_cell_past_the_hard_limit_is_a_clear_error(tmp_path: Path, small_hard_limit: int) -> None:
    path = tmp_path / "in.csv"
    path.write_text('handle,description_html\na,"unclosed\n' + "x\n" * small_hard_limit)
    with pytest.raises(InputError, match="unclosed quote") as info:
        list(read_updates(path))
    assert (info.value.file, info.value.line) == (str(path), 2)


def test_jsonl_descriptions_have_the_same_limit(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    ok, over = "a" * MAX_CELL_BYTES, "a" * (MAX_CELL_BYTES + 1)
    path.write_text("".join(f'{{"kind": "description", "handle": "h{i}", "description_html": "{html}"}}\n'
                            for i, html in enumerate((ok, over, "<p>x</p>"))))
    items = list(read_updates(path))
    assert [type(i).__name__ for i in items] == ["DescriptionUpdate", "RowError", "DescriptionUpdate"]
    error = items[1]
    assert isinstance(error, RowError) and (error.line, error.column) == (2, "description_html")
    assert "524,288 bytes" in error.reason


def test_a_ragged_record_with_a_big_cell_says_ragged(tmp_path: Path) -> None:
    # An unclosed quote swallowing the next rows: the hint is the quote, not the size.
    path = tmp_path / "in.csv"
    body = "x\n" * (MAX_CELL_BYTES // 2 + 10)
    path.write_text('handle,description_html,image_src\na,"<p>' + body + "b,c\n")
    (error,) = list(read_updates(path))
    assert isinstance(error, RowError) and error.line == 2 and "unclosed quote" in error.reason
