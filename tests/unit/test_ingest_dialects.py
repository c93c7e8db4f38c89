"""Dialects: detection from the header, override, ignored columns, product grouping per dialect."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bulk.errors import InputError
from bulk.ingest import DIALECTS, read_updates
from bulk.ingest.dialects import detect
from bulk.models import (
    DescriptionUpdate,
    ImageUpdate,
    InventoryUpdate,
    PriceUpdate,
    RowError,
    Update,
)


def read(tmp_path: Path, data: str, **options: Any) -> tuple[list[Update], list[RowError], Any]:
    path = tmp_path / "in.csv"
    path.write_text(data, encoding="utf-8")
    reader = read_updates(path, **options)
    items = list(reader)
    return ([i for i in items if not isinstance(i, RowError)],
            [i for i in items if isinstance(i, RowError)], reader.statistics())


@pytest.mark.parametrize(
    ("header", "dialect"),
    [
        ("sku,price", "simple"),
        ("variant_id,price,compare_at_price", "simple"),
        ("Handle,Title,Body (HTML),Variant SKU,Variant Price", "shopify-legacy"),
        ("Title,URL handle,Description,SKU,Price,Compare-at price", "shopify-2025"),
        ("SKU,Price,Compare-at price", "shopify-2025"),
        ("ID,Handle,Command,Variant ID,Variant SKU,Variant Price", "matrixify"),
        ("Handle,Body HTML,Variant SKU,Variant Price", "matrixify"),
    ],
)
def test_detection(header: str, dialect: str) -> None:
    assert detect(header.split(","), file="f").name == dialect


def test_all_four_dialects_are_offered() -> None:
    assert set(DIALECTS) == {"simple", "shopify-legacy", "shopify-2025", "matrixify"}


def test_override_beats_detection(tmp_path: Path) -> None:
    # 'SKU,Price' alone reads as the 2025 export; the user can say it is the simple dialect.
    _, _, stats = read(tmp_path, "SKU,Price\nA,1\n")
    assert stats.dialect == "shopify-2025"
    updates, _, stats = read(tmp_path, "SKU,Price\nA,1\n", dialect="simple")
    assert stats.dialect == "simple" and len(updates) == 1
    with pytest.raises(InputError, match="unknown column 'Title'"):
        read(tmp_path, "Title,SKU,Price\nx,A,1\n", dialect="simple")


LEGACY = (
    "Handle,Title,Body (HTML),Variant SKU,Variant Price,Variant Compare At Price,Image Src,Image Alt Text,"
    "Variant Inventory Tracker,Variant Inventory Qty\n"
    "shirt,Shirt,<p>Soft</p>,S-1,10.00,12.00,https://cdn.example/1.jpg,Front,shopify,5\n"
    "shirt,,,S-2,11.00,,https://cdn.example/2.jpg,Back,,7\n"
    "shirt,,,,,,https://cdn.example/3.jpg,,,\n"
    "hat,Hat,,H-1,9,,,,shopify,1\n"
)


def test_legacy_rows_grouped_by_handle(tmp_path: Path) -> None:
    updates, errors, stats = read(tmp_path, LEGACY, location="Main")
    assert errors == []
    kinds = [(u.kind, u.source.line) for u in updates]
    assert kinds == [("price", 2), ("description", 2), ("inventory", 2), ("price", 3), ("image", 2),
                     ("price", 5), ("inventory", 5)]
    image = next(u for u in updates if isinstance(u, ImageUpdate))
    assert image.product.handle == "shirt" and image.mode == "append"
    assert [(i.url[-5:], i.alt) for i in image.images] == [
        ("1.jpg", "Front"), ("2.jpg", "Back"), ("3.jpg", "")
    ]
    inventory = [u for u in updates if isinstance(u, InventoryUpdate)]
    assert [(u.sku, u.quantity, u.location_name) for u in inventory] == [
        ("S-1", 5, "Main"), ("H-1", 1, "Main")
    ]
    assert stats.untracked_skipped == 1  # S-2 has no inventory tracker
    assert "Title" in stats.ignored_columns


def test_quantities_ignored_without_a_location(tmp_path: Path) -> None:
    updates, errors, stats = read(tmp_path, LEGACY)
    assert errors == [] and not any(isinstance(u, InventoryUpdate) for u in updates)
    assert "Variant Inventory Qty" in stats.ignored_columns


def test_kind_filter(tmp_path: Path) -> None:
    updates, _, stats = read(tmp_path, LEGACY, kind="price")
    assert {u.kind for u in updates} == {"price"}
    assert {"Body (HTML)", "Image Src", "Image Alt Text"} <= set(stats.ignored_columns)


def test_2025_dialect(tmp_path: Path) -> None:
    data = ("Title,URL handle,Description,SKU,Price,Compare-at price,Product image URL,Image alt text\n"
            "Tee,tee,<b>x</b>,T-1,20,25,https://cdn.example/t.jpg,Tee\n"
            ",tee,,T-2,21,,,\n")
    updates, errors, stats = read(tmp_path, data)
    assert errors == [] and stats.dialect == "shopify-2025"
    assert [(u.kind, u.source.line) for u in updates] == [("price", 2), ("description", 2), ("price", 3),
                                                          ("image", 2)]
    first = updates[0]
    assert isinstance(first, PriceUpdate) and first.compare_at_price == Decimal("25")


def test_matrixify_ids_and_commands(tmp_path: Path) -> None:
    data = ("ID,Handle,Command,Body HTML,Variant ID,Variant SKU,Variant Price,Image Src,Image Command\n"
            "101,a,MERGE,<p>A</p>,1001,,5,https://cdn.example/a.jpg,REPLACE\n"
            "101,a,MERGE,,1002,A-2,6,,\n"
            "102,b,DELETE,,1003,B-1,7,,\n")
    updates, errors, stats = read(tmp_path, data)
    assert stats.dialect == "matrixify"
    assert [(e.line, e.column) for e in errors] == [(4, "Command")]
    price = updates[0]
    assert isinstance(price, PriceUpdate) and price.variant.variant_id == "gid://shopify/ProductVariant/1001"
    description = next(u for u in updates if isinstance(u, DescriptionUpdate))
    assert description.product.product_id == "gid://shopify/Product/101"
    image = next(u for u in updates if isinstance(u, ImageUpdate))
    assert image.mode == "replace"


def test_replace_withheld_when_a_row_of_the_product_was_rejected(tmp_path: Path) -> None:
    data = ("handle,sku,price,image_src,image_mode\n"
            "a,A-1,1,https://cdn.example/1.jpg,replace\n"
            "a,A-2,-1,https://cdn.example/2.jpg,replace\n"
            "b,B-1,1,https://cdn.example/3.jpg,append\n"
            "b,B-2,x,https://cdn.example/4.jpg,\n")
    updates, errors, _ = read(tmp_path, data)
    assert [(e.line, e.column) for e in errors] == [(3, "price"), (2, "image_src"), (5, "price")]
    assert "not replaced" in errors[1].reason
    images = [u for u in updates if isinstance(u, ImageUpdate)]
    assert [(u.product.handle, len(u.images), u.mode) for u in images] == [("b", 1, "append")]


def test_description_conflict_and_missing_product(tmp_path: Path) -> None:
    data = ("handle,sku,description_html,image_src\n"
            "a,A-1,<p>1</p>,\n"
            "a,A-2,<p>2</p>,\n"
            ",C-1,<p>3</p>,\n"
            ",C-2,,https://cdn.example/x.jpg\n")
    updates, errors, _ = read(tmp_path, data)
    assert [(e.line, e.column) for e in errors] == [(3, "description_html"), (4, "description_html"),
                                                    (5, "image_src")]
    assert "first is on line 2" in errors[0].reason
    assert [u.kind for u in updates] == ["description"]


def test_simple_inventory_with_location_column_and_compare_and_set(tmp_path: Path) -> None:
    data = ("inventory_item_id,sku,location,quantity,change_from\n"
            "gid://shopify/InventoryItem/5,,gid://shopify/Location/1,10,8\n"
            ",S-1,,3,\n"
            ",S-2,Shop,x,\n")
    updates, errors, _ = read(tmp_path, data, location="Warehouse")
    assert [(e.line, e.column) for e in errors] == [(4, "quantity")]
    first, second = updates
    assert isinstance(first, InventoryUpdate) and isinstance(second, InventoryUpdate)
    assert (first.inventory_item_id, first.location_id, first.quantity, first.change_from) == (
        "gid://shopify/InventoryItem/5", "gid://shopify/Location/1", 10, 8)
    assert (second.sku, second.location_name, second.change_from) == ("S-1", "Warehouse", None)
