"""JSONL: one flat object per line, the same names and value rules as the simple CSV dialect."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bulk.ingest import read_updates
from bulk.models import (
    DescriptionUpdate,
    ImageUpdate,
    InventoryUpdate,
    PriceUpdate,
    RowError,
    Update,
)


def read(tmp_path: Path, data: bytes | str, **options: Any) -> tuple[list[Update], list[RowError]]:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    reader = read_updates(path, **options)
    items = list(reader)
    assert reader.statistics().format == "jsonl"
    return ([i for i in items if not isinstance(i, RowError)], [i for i in items if isinstance(i, RowError)])


def test_every_kind(tmp_path: Path) -> None:
    data = "\n".join([
        '{"kind": "price", "sku": "A-1", "price": 12.10, "compare_at_price": "15"}',
        '',
        '{"kind": "description", "handle": "shirt", "description_html": "<p>x</p>"}',
        '{"kind": "image", "product_id": "7", "images": [{"url": "https://cdn.example/a.jpg", "alt": "A"}],'
        ' "mode": "replace"}',
        '{"kind": "inventory", "sku": "A-1", "quantity": 4}',
    ]) + "\n"
    updates, errors = read(tmp_path, data, location="Main")
    assert errors == []
    price, description, image, inventory = updates
    assert isinstance(price, PriceUpdate)
    assert (price.source.line, price.price, price.compare_at_price) == (1, Decimal("12.10"), Decimal("15"))
    assert str(price.price) == "12.10"  # parsed as Decimal, never through a binary float
    assert isinstance(description, DescriptionUpdate) and description.source.line == 3
    assert isinstance(image, ImageUpdate)
    assert (image.product.product_id, image.mode) == ("gid://shopify/Product/7", "replace")
    assert isinstance(inventory, InventoryUpdate) and inventory.location_name == "Main"


def test_bad_lines_name_line_and_column(tmp_path: Path) -> None:
    data = b"\n".join([
        b'{"kind": "price", "sku": "A", "price": 1}',
        b'{"kind": "price", "sku": "B", "price": }',      # 2 bad JSON at column 40
        b'{"kind": "price", "sku": "C", "price": "12,50"}',  # 3 decimal comma
        b'{"kind": "price", "sku": "D", "price": -1}',   # 4 negative
        b'{"kind": "price", "sku": "E", "prix": 1}',     # 5 unknown field
        b'{"kind": "title", "sku": "F"}',                 # 6 unknown kind
        b'["kind", "price"]',                             # 7 not an object
        b'{"kind": "price", "sku": "G"}',                 # 8 model rule: needs a price
        b'{"kind": "price", "sku": "caf\xe9", "price": 1}',  # 9 not UTF-8 at byte 30
        b'{"kind": "price", "price": 1}',                 # 10 no identifier
        b'{"kind": "price", "sku": "3.65E+11", "price": 1}',  # 11 spreadsheet damage
        b'{"kind": "price", "sku": "H", "price": 1.999}',  # 12 too many decimals
    ]) + b"\n"
    updates, errors = read(tmp_path, data)
    assert [(e.line, e.column) for e in errors] == [
        (2, 40), (3, "price"), (4, "price"), (5, "prix"), (6, "kind"), (7, 1), (8, None), (9, 30),
        (10, None), (11, "sku"), (12, "price"),
    ]
    assert "bad JSON" in errors[0].reason
    assert "decimal comma" in errors[1].reason
    assert "needs a price" in errors[6].reason
    assert "byte 0xE9" in errors[7].reason
    assert [u.source.line for u in updates] == [1]


def test_kind_option_defaults_and_filters(tmp_path: Path) -> None:
    data = '{"sku": "A", "price": "1"}\n{"kind": "inventory", "sku": "A", "quantity": 1, "location": "X"}\n'
    updates, errors = read(tmp_path, data, kind="price")
    assert errors == [] and [u.kind for u in updates] == ["price"]


def test_bom_and_crlf(tmp_path: Path) -> None:
    updates, errors = read(tmp_path, '\ufeff{"kind": "price", "sku": "A", "price": "2"}\r\n')
    assert errors == [] and len(updates) == 1
