"""Cell value rules: what a price, quantity, SKU, URL or ID may look like, and the hints users get."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bulk.ingest.values import (
    Rejected,
    is_plain_code,
    is_plain_money,
    parse_code,
    parse_gid,
    parse_location,
    parse_money,
    parse_quantity,
    parse_url,
)
from bulk.models import Money

MONEY = TypeAdapter(Money)


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", "12"), ("12.5", "12.5"), ("12.50", "12.50"), (" 0.99 ", "0.99"), ("0", "0"),
     ("999999999999.99", "999999999999.99")],
)
def test_prices_accepted(text: str, value: str) -> None:
    assert parse_money(text) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("-5.00", "is negative"),
        ("12,50", "decimal comma: write 12.50"),
        ("1,234.50", "thousands separator"),
        ("12.345", "more than 2 decimals"),
        ("12.500", "more than 2 decimals"),
        ("abc", "not a number"),
        ("$12.50", "currency"),
        ("12.50 EUR", "currency"),
        ("1.2E+3", "scientific notation"),
        ("1234567890123", "too large"),
        ("١٢", "not a number"),  # Arabic-Indic digits: pydantic would take them, we do not
        (".5", "not a number"),
        ("+12", "not a number"),
    ],
)
def test_prices_rejected_with_hint(text: str, hint: str) -> None:
    result = parse_money(text)
    assert isinstance(result, Rejected)
    assert hint in result.reason
    assert repr(text) in result.reason


@settings(deadline=None)
@given(st.one_of(st.text(max_size=20), st.from_regex(r"-?[0-9]{1,14}([.,][0-9]{0,4})?", fullmatch=True)))
def test_money_never_accepts_what_the_model_rejects(text: str) -> None:
    """The fast path (a regex, then Decimal) is stricter than full validation, never looser."""
    ours = parse_money(text)
    try:
        theirs: Decimal | None = MONEY.validate_python(text.strip())
    except ValidationError:
        theirs = None
    if not isinstance(ours, Rejected):
        assert theirs is not None
        assert ours == theirs
        assert str(ours) == str(theirs)  # same representation, not just the same number


@settings(deadline=None)
@given(st.text(max_size=12))
def test_plain_money_is_exactly_the_unchanged_accepts(text: str) -> None:
    assert is_plain_money(text) == (not isinstance(parse_money(text), Rejected) and text == text.strip())


@settings(deadline=None)
@given(st.text(max_size=12))
def test_plain_code_is_exactly_the_unchanged_values(text: str) -> None:
    assert is_plain_code(text) == (parse_code(text, "SKU") == text and text != "")


def test_quantity() -> None:
    assert parse_quantity(" 20 ") == 20
    assert parse_quantity("-3") == -3
    assert isinstance(parse_quantity("2.5"), Rejected)
    bad = parse_quantity("1E+3")
    assert isinstance(bad, Rejected) and "scientific" in bad.reason


def test_codes_strip_the_spreadsheet_apostrophe_and_refuse_scientific_notation() -> None:
    assert parse_code("'8720602828605", "barcode") == "8720602828605"
    assert parse_code("  SKU-1 ", "SKU") == "SKU-1"
    assert parse_code("12E4", "SKU") == "12E4"  # no sign in the exponent: not what Excel writes
    damaged = parse_code("3.65275E+11", "barcode")
    assert isinstance(damaged, Rejected)
    assert "barcode '3.65275E+11'" in damaged.reason and "digits are lost" in damaged.reason


def test_urls_and_ids() -> None:
    assert parse_url(" https://cdn.example/a.jpg ") == "https://cdn.example/a.jpg"
    assert isinstance(parse_url("cdn.example/a.jpg"), Rejected)
    assert isinstance(parse_url("https://cdn.example/a b.jpg"), Rejected)
    assert parse_gid("42", "ProductVariant") == "gid://shopify/ProductVariant/42"
    assert parse_gid("gid://shopify/ProductVariant/42", "ProductVariant") == "gid://shopify/ProductVariant/42"
    assert isinstance(parse_gid("gid://shopify/Product/42", "ProductVariant"), Rejected)
    assert parse_location("gid://shopify/Location/7") == ("gid://shopify/Location/7", None)
    assert parse_location("7") == ("gid://shopify/Location/7", None)
    assert parse_location(" Main warehouse ") == (None, "Main warehouse")
