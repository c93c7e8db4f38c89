"""CSV reading: every bad input is a RowError at its exact file, physical line and column."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bulk.errors import ConfigError, InputError
from bulk.ingest import UpdateReader, read_updates
from bulk.models import PriceUpdate, RowError, Update


def read(
    tmp_path: Path, data: str | bytes, **options: Any
) -> tuple[list[Update], list[RowError], UpdateReader]:
    path = tmp_path / "in.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    reader = read_updates(path, **options)
    items = list(reader)
    updates = [i for i in items if not isinstance(i, RowError)]
    errors = [i for i in items if isinstance(i, RowError)]
    for error in errors:
        assert error.file == str(path)
    return updates, errors, reader


def where(errors: list[RowError]) -> list[tuple[int, str | int | None]]:
    return [(e.line, e.column) for e in errors]


def prices(updates: list[Update]) -> list[tuple[int, str | None, Decimal | None]]:
    return [(u.source.line, u.variant.sku, u.price) for u in updates if isinstance(u, PriceUpdate)]


def test_simple_prices_with_line_numbers(tmp_path: Path) -> None:
    updates, errors, reader = read(tmp_path, "sku,price,compare_at_price\nA-1,12.50,15\nA-2,3,\n")
    assert errors == []
    assert prices(updates) == [(2, "A-1", Decimal("12.50")), (3, "A-2", Decimal("3"))]
    first = updates[0]
    assert isinstance(first, PriceUpdate)
    assert first.compare_at_price == Decimal("15") and not first.clear_compare_at
    stats = reader.statistics()
    assert (stats.dialect, stats.records, stats.updates["price"], stats.finished) == ("simple", 2, 2, True)


def test_bad_prices_each_reported_at_line_and_column(tmp_path: Path) -> None:
    data = ("sku,price,compare_at_price\n"
            "A,-5.00,\n"          # 2 negative
            "B,abc,\n"            # 3 not a number
            "C,12.345,\n"         # 4 too many decimals
            'D,"12,50",\n'        # 5 locale comma
            "E,10,9.999\n"        # 6 compare-at: too many decimals
            "F,10,\n")            # 7 good
    updates, errors, _ = read(tmp_path, data)
    assert where(errors) == [(2, "price"), (3, "price"), (4, "price"), (5, "price"), (6, "compare_at_price")]
    assert "negative" in errors[0].reason
    assert "write 12.50" in errors[3].reason
    assert errors[4].reason.startswith("compare-at price '9.999'")
    assert prices(updates) == [(7, "F", Decimal("10"))]


def test_multiline_cells_count_physical_lines(tmp_path: Path) -> None:
    data = ('handle,description_html,sku,price\n'
            'h1,"<p>one\ntwo\nthree</p>",A,1\n'  # lines 2-4
            'h2,,B,oops\n')                       # line 5
    updates, errors, _ = read(tmp_path, data)
    assert where(errors) == [(5, "price")]
    assert [u.source.line for u in updates] == [2, 2]  # price + description of the record at line 2


def test_spreadsheet_damage_flagged_and_apostrophe_stripped(tmp_path: Path) -> None:
    data = "sku,price\n3.65275E+11,1\n'00123,2\n"
    updates, errors, reader = read(tmp_path, data)
    assert where(errors) == [(2, "sku")]
    assert "scientific notation" in errors[0].reason
    assert prices(updates) == [(3, "00123", Decimal("2"))]
    assert reader.statistics().apostrophes_stripped == 1


def test_row_without_identifier(tmp_path: Path) -> None:
    updates, errors, _ = read(tmp_path, "sku,variant_id,price\n,,5\n,42,6\n")
    assert where(errors) == [(2, "sku")]
    assert "no SKU or variant ID" in errors[0].reason
    assert [u.variant.variant_id for u in updates if isinstance(u, PriceUpdate)] == [
        "gid://shopify/ProductVariant/42"
    ]


def test_ragged_rows_and_unclosed_quote(tmp_path: Path) -> None:
    # D's quote is left open: it swallows the rest of the file into one cell
    updates, errors, _ = read(tmp_path, 'sku,price\nA,1,extra\nB\nC,2,,\nD,"3\nE,4\n')
    assert where(errors) == [(2, None), (3, None), (5, "price")]
    assert "has 3 cells but the header has 2" in errors[0].reason
    assert "quote left open" in errors[2].reason
    assert prices(updates) == [(4, "C", Decimal("2"))]  # trailing empty cells are a spreadsheet habit
    _, errors, _ = read(tmp_path, 'sku,price,compare_at_price\nA,"1,\nB,2,3\n')
    assert where(errors) == [(2, None)]
    assert "an unclosed quote?" in errors[0].reason


def test_a_bad_line_in_a_utf8_file_names_the_line_and_continues(tmp_path: Path) -> None:
    # Mostly UTF-8 (two good characters, one bad byte): a pasted Windows-1252 line, not a 1252 file.
    data = "sku,price\nCrème,1\nCaf".encode() + b"\xe9,2\n" + "Été,3\n".encode()
    updates, errors, _ = read(tmp_path, data)
    assert where(errors) == [(3, None)]
    assert "not valid UTF-8 (byte 0xE9)" in errors[0].reason and "cp1252" in errors[0].reason
    assert prices(updates) == [(2, "Crème", Decimal("1")), (4, "Été", Decimal("3"))]


def test_bad_header_encoding_and_misread_utf16_are_fatal(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read(tmp_path, b"sk\xffu," + "é,à,price\nA,1\n".encode())
    assert info.value.line == 1
    with pytest.raises(InputError, match="UTF-16") as info:
        read(tmp_path, "sku,price\nA,1\n".encode("utf-16"), encoding="utf-8")
    assert info.value.line == 1 and "encoding='utf-16'" in info.value.reason


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_ends_and_bom(tmp_path: Path, newline: str) -> None:
    data = "\ufeffsku,price" + newline + "A,1" + newline + newline + "B,2" + newline
    updates, errors, reader = read(tmp_path, data)
    assert errors == []
    assert prices(updates) == [(2, "A", Decimal("1")), (4, "B", Decimal("2"))]
    assert reader.statistics().dialect == "simple"  # the BOM did not hide 'sku'


def test_semicolon_files(tmp_path: Path) -> None:
    updates, errors, reader = read(tmp_path, "sku;price\nA;12,50\nB;3.10\n")
    assert reader.statistics().delimiter == ";" and reader.statistics().decimal_comma
    assert errors == []  # the decimal comma is unambiguous there: see test_ingest_decimal_comma.py
    assert prices(updates) == [(2, "A", Decimal("12.50")), (3, "B", Decimal("3.10"))]


@pytest.mark.parametrize(
    ("header", "column", "message"),
    [
        ("sku,prcie", "prcie", "did you mean 'price'"),
        ("sku,price,SKU", "SKU", "duplicate column"),
        ("sku,quantity", "quantity", "needs a 'location' column"),
    ],
)
def test_bad_headers_are_fatal_at_line_1(tmp_path: Path, header: str, column: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        read(tmp_path, header + "\nA,1\n")
    assert (info.value.line, info.value.column) == (1, column)


def test_empty_file_and_undetectable_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        read(tmp_path, "")
    with pytest.raises(InputError, match="cannot tell the column dialect"):
        read(tmp_path, "foo,bar\n1,2\n")


def test_max_errors_stops_but_keeps_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("sku,price\nA,1\nB,x\nC,2\nD,y\nE,3\n")
    seen: list[Update | RowError] = []
    reader = read_updates(path, max_errors=1)
    with pytest.raises(InputError) as info:
        for item in reader:
            seen.append(item)
    assert (info.value.line, info.value.column) == (5, "price")
    assert "more than 1 bad rows" in info.value.reason
    assert [(i.line if isinstance(i, RowError) else i.source.line) for i in seen] == [2, 3, 4]
    assert reader.statistics().finished is False


def test_max_errors_zero_is_strict(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="more than 0 bad rows"):
        read(tmp_path, "sku,price\nA,-1\n", max_errors=0)


def test_clear_compare_at(tmp_path: Path) -> None:
    updates, errors, _ = read(tmp_path, "sku,price,compare_at_price\nA,,clear\n")
    assert errors == []
    update = updates[0]
    assert isinstance(update, PriceUpdate)
    assert (update.price, update.compare_at_price, update.clear_compare_at) == (None, None, True)


def test_reader_is_a_one_pass_iterator_and_reports_itself(tmp_path: Path) -> None:
    _, _, reader = read(tmp_path, "sku,price\nA,1\n")
    assert "dialect=simple" in repr(reader) and "updates=1" in repr(reader)
    assert list(reader) == []
    path = tmp_path / "in.csv"
    with read_updates(path) as early:
        first = next(early)
    assert isinstance(first, PriceUpdate)
    assert list(early) == [] and early.statistics().finished is False


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dialect"):
        read_updates(tmp_path / "x.csv", dialect="excel")
    with pytest.raises(ConfigError, match="unknown kind"):
        read_updates(tmp_path / "x.csv", kind="title")
    with pytest.raises(ConfigError, match="max_errors"):
        read_updates(tmp_path / "x.csv", max_errors=-1)
    with pytest.raises(ConfigError, match="cannot open"):
        list(read_updates(tmp_path / "missing.csv"))
