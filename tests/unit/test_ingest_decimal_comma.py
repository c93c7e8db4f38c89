"""The decimal comma: read where the delimiter makes it unambiguous (``;`` or tab), never guessed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bulk.ingest import read_updates
from bulk.ingest.values import Rejected, parse_money
from bulk.models import Money, PriceUpdate, RowError

MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12,50", Decimal("12.50")),
        ("12,5", Decimal("12.5")),
        ("0,99", Decimal("0.99")),
        ("1.234,50", Decimal("1234.50")),  # dots group thousands, the comma is the decimal
        ("1.234.567,89", Decimal("1234567.89")),
        ("12.50", Decimal("12.50")),  # a dot with 1-2 decimals cannot be a thousands separator
        ("12", Decimal("12")),
    ],
)
def test_comma_decimal_convention_is_read(text: str, value: Decimal) -> None:
    assert parse_money(text, decimal_comma=True) == value


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("1,234", "ambiguous"),  # 1234 or 1.234?
        ("1.234", "ambiguous"),
        ("12,505", "ambiguous"),
        ("1,234.50", "mixes separators"),
        ("1.23,45", "mixes separators"),
        ("-1,50", "negative"),
        ("12,501", "ambiguous"),
        ("1 234,50", "not a number"),
        ("€12,50", "currency"),
    ],
)
def test_ambiguous_or_mixed_numbers_stay_rejected(text: str, hint: str) -> None:
    result = parse_money(text, decimal_comma=True)
    assert isinstance(result, Rejected) and hint in result.reason, result


def test_without_the_delimiter_the_decimal_comma_is_refused_with_a_hint() -> None:
    result = parse_money("12,50")
    assert isinstance(result, Rejected) and "write 12.50" in result.reason


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_files(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "in.csv"
    rows = [["sku", "price", "compare_at_price"], ["A", "12,50", "15"], ["B", "1.234,50", "1.300,00"],
            ["C", "1,234", ""], ["D", "3.10", ""]]
    path.write_text("".join(delimiter.join(r) + "\n" for r in rows))
    reader = read_updates(path)
    items = list(reader)
    got = [(u.source.line, u.variant.sku, u.price, u.compare_at_price)
           for u in items if isinstance(u, PriceUpdate)]
    assert got == [(2, "A", Decimal("12.50"), Decimal("15")),
                   (3, "B", Decimal("1234.50"), Decimal("1300.00")),
                   (5, "D", Decimal("3.10"), None)]
    errors = [(e.line, e.column, "ambiguous" in e.reason) for e in items if isinstance(e, RowError)]
    assert errors == [(4, "price", True)]
    assert reader.statistics().decimal_comma
    assert "decimal comma accepted in prices" in reader.statistics().summary()[0]


def test_comma_files_keep_refusing_it(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('sku,price\nA,"12,50"\nB,3\n')
    reader = read_updates(path)
    items = list(reader)
    assert [(e.line, e.column) for e in items if isinstance(e, RowError)] == [(2, "price")]
    assert not reader.statistics().decimal_comma


def test_the_chunked_path_reads_it_the_same(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("sku;price\n" + "".join(f"A{i};{i},5{i % 10}\n" for i in range(50)))
    items = list(read_updates(path))
    chunked = [u for chunk in read_updates(path).chunks(7) for item in chunk
               for u in (item.updates() if hasattr(item, "updates") else [item])]
    assert chunked == items and len(items) == 50
    assert isinstance(items[12], PriceUpdate) and items[12].price == Decimal("12.52")


@settings(deadline=None)
@given(st.one_of(st.text(max_size=20),
                 st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{3}){0,4}(,[0-9]{0,4})?", fullmatch=True),
                 st.from_regex(r"-?[0-9]{1,14}([.,][0-9]{0,4})?", fullmatch=True)))
def test_a_decimal_comma_value_is_one_the_model_accepts_and_what_the_dot_would_say(text: str) -> None:
    """Read with a decimal comma, a value is the Money model's reading of the same number written
    with a dot and no grouping — and a value already read without it is read the same."""
    ours = parse_money(text, decimal_comma=True)
    if isinstance(ours, Rejected):
        return
    dotted = text.strip().replace(".", "").replace(",", ".") if "," in text else text.strip()
    theirs = MONEY.validate_python(dotted)
    assert ours == theirs and str(ours) == str(theirs)  # the same number, the same representation
    plain = parse_money(text)
    assert isinstance(plain, Rejected) or plain == ours
