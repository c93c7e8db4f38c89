"""Variants without SKU are named by product handle + option values, as Shopify's own import does."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bulk.ingest import read_updates
from bulk.models import InventoryUpdate, PriceUpdate, RowError, Source, VariantRef
from bulk.plan._coalesce import variant_keys

LEGACY = ("Handle", "Title", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name",
          "Option3 Value", "Variant SKU", "Variant Price", "Image Src")


def write(tmp_path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> Path:
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def test_a_legacy_export_without_skus(tmp_path: Path) -> None:
    path = write(tmp_path, LEGACY, [
        ("shirt", "Shirt", "Color", "Red", "Size", "S", "", "", "", "10.00", "https://x/1.png"),
        ("shirt", "", "", "Red", "", "M", "", "", "", "11,00", ""),  # bad price: rejected, not guessed
        ("shirt", "", "", "Blue", "", "M", "", "", "SH-BM", "12.00", ""),  # a SKU wins
        ("shirt", "", "", "", "", "", "", "", "", "", "https://x/2.png"),  # image-only row
        ("mug", "Mug", "Title", "Default Title", "", "", "", "", "", "5", ""),
    ])
    reader = read_updates(path)
    items = list(reader)
    refs = [(u.source.line, u.variant.sku, u.variant.handle, u.variant.options, u.price)
            for u in items if isinstance(u, PriceUpdate)]
    assert refs == [(2, None, "shirt", ("Red", "S"), Decimal("10.00")),
                    (4, "SH-BM", None, (), Decimal("12.00")),
                    (6, None, "mug", ("Default Title",), Decimal("5"))]
    assert [(e.line, e.column) for e in items if isinstance(e, RowError)] == [(3, "Variant Price")]
    assert reader.statistics().variants_by_options == 2
    assert "2 variants without SKU named by handle + option values" in reader.statistics().summary()


def test_the_2025_dialect_names_them_too(tmp_path: Path) -> None:
    header = ("Title", "URL handle", "SKU", "Option1 name", "Option1 value", "Option2 name", "Option2 value",
              "Price")
    path = write(tmp_path, header, [("Cap", "cap", "", "Size", "L", "Color", "Black", "20")])
    (update,) = list(read_updates(path))
    assert isinstance(update, PriceUpdate)
    assert update.variant == VariantRef(handle="cap", options=("L", "Black"))


def test_a_row_without_sku_nor_options_is_still_an_error_that_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, LEGACY, [("shirt", "Shirt", "", "", "", "", "", "", "", "10.00", "")])
    (error,) = list(read_updates(path))
    assert isinstance(error, RowError) and (error.line, error.column) == (2, "Variant SKU")
    assert "no SKU or variant ID" in error.reason and "option values" in error.reason


def test_quantities_still_need_a_sku(tmp_path: Path) -> None:
    # inventorySetQuantities names an inventory item: the catalog maps a SKU (or an item ID) to it.
    header = ("Handle", "Option1 Value", "Variant SKU", "Variant Price", "Variant Inventory Qty")
    path = write(tmp_path, header, [("shirt", "Red", "", "10", "4"), ("shirt", "Blue", "B", "10", "5")])
    items = list(read_updates(path, location="Main"))
    assert [type(i).__name__ for i in items] == ["RowError", "PriceUpdate", "PriceUpdate", "InventoryUpdate"]
    assert isinstance(items[0], RowError) and "inventory change cannot be applied" in items[0].reason
    assert isinstance(items[1], PriceUpdate) and items[1].variant.options == ("Red",)
    assert isinstance(items[3], InventoryUpdate) and items[3].sku == "B"


def test_the_reference_is_validated_and_its_key_is_unambiguous() -> None:
    a = VariantRef(handle="shirt", options=("Red", "S"))
    b = VariantRef(handle="shirt", options=("Red,S",))
    c = VariantRef(handle='shirt","Red', options=("S",))
    assert len({a.key(), b.key(), c.key()}) == 3
    assert a.key() == 'options:["shirt","Red","S"]'
    cjk = VariantRef(handle="短袖-上衣", options=("Default Title",))
    assert cjk.key() == 'options:["短袖-上衣","Default Title"]'
    update = PriceUpdate(source=Source(file="f", line=2), variant=a, price=Decimal(1))
    assert variant_keys([update]) == [a.key()]  # what the planner coalesces on
    with pytest.raises(ValidationError, match="give both"):
        VariantRef(handle="shirt")
    with pytest.raises(ValidationError, match="handle and option values"):
        VariantRef(options=("Red",))
    with pytest.raises(ValidationError):
        a.options = ()  # frozen like the rest
