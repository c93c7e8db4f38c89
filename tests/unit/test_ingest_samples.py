"""The 7 real Shopify exports in tests/data/csv-samples (provenance in its SOURCE.md): each parses,
rows are grouped by handle, and every bad value is reported with its line number."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from bulk.ingest import IngestStatistics, read_updates
from bulk.models import (
    DescriptionUpdate,
    ImageUpdate,
    InventoryUpdate,
    PriceUpdate,
    RowError,
    Update,
)
from tests.conftest import CSV_SAMPLES


def read(name: str, **options: Any) -> tuple[list[Update], list[RowError], IngestStatistics]:
    reader = read_updates(CSV_SAMPLES / name, **options)
    items = list(reader)
    stats = reader.statistics()
    assert stats.finished
    errors = [i for i in items if isinstance(i, RowError)]
    assert all(e.file == str(CSV_SAMPLES / name) for e in errors)
    return [i for i in items if not isinstance(i, RowError)], errors, stats


def images_by_handle(updates: list[Update]) -> dict[str | None, int]:
    return {u.product.handle: len(u.images) for u in updates if isinstance(u, ImageUpdate)}


def test_2019_legacy_template() -> None:
    updates, errors, stats = read("shopify_sample_2019_legacy_dialect.csv")
    assert (stats.dialect, stats.records) == ("shopify-legacy", 3)
    assert errors == []
    prices = [(u.source.line, u.variant.sku, u.price, u.compare_at_price)
              for u in updates if isinstance(u, PriceUpdate)]
    assert prices == [(2, None, Decimal("25"), None),  # the first variant has no SKU: see below
                      (3, "example-shirt-s", Decimal("19.99"), Decimal("24.99")),
                      (4, "example-shirt-m", Decimal("19.99"), Decimal("24.99"))]
    first = next(u for u in updates if isinstance(u, PriceUpdate))
    assert (first.variant.handle, first.variant.options) == (
        "example-t-shirt", ('Lithograph - Height: 9" x Width: 12"',))
    assert stats.variants_by_options == 1
    assert images_by_handle(updates) == {"example-t-shirt": 1}  # the image of the SKU-less row survives


def test_2023_template_grouped_by_handle() -> None:
    updates, errors, stats = read("shopify_sample_2023_handle_dialect.csv", location="Main")
    assert errors == []
    assert Counter(u.kind for u in updates) == {"price": 16, "description": 3, "image": 3, "inventory": 4}
    # example-pants' 4th row carries only an image: it joins the product's group
    assert images_by_handle(updates) == {"example-shirt": 6, "example-pants": 4, "example-hat": 1}
    descriptions = [(u.source.line, u.product.handle) for u in updates if isinstance(u, DescriptionUpdate)]
    assert descriptions == [(2, "example-shirt"), (14, "example-pants"), (18, "example-hat")]
    assert stats.untracked_skipped == 12


def test_excel_mangled_barcodes_are_flagged_never_sent() -> None:
    updates, errors, _ = read("shopify_sample_2023_excel_mangled.csv")
    assert [e.line for e in errors] == [*range(2, 17), 18]
    assert {e.column for e in errors} == {"Variant Barcode"}
    assert "3.65275E+11" in errors[0].reason and "digits are lost" in errors[0].reason
    # no row that went through the damage is used; only the image-only row (line 17) is clean
    assert [(u.kind, u.source.line) for u in updates] == [("image", 17)]


def test_2025_url_handle_dialect() -> None:
    updates, errors, stats = read("shopify_sample_2025_url_handle_dialect.csv", location="gid://shopify/Location/1")
    assert errors == [] and stats.dialect == "shopify-2025"
    assert Counter(u.kind for u in updates) == {"price": 15, "description": 2, "image": 1, "inventory": 12}
    inventory = [u for u in updates if isinstance(u, InventoryUpdate)]
    assert {u.location_id for u in inventory} == {"gid://shopify/Location/1"}
    assert "Color (product.metafields.shopify.color-pattern)" in stats.ignored_columns


def test_2026_export_multiline_body_and_no_quantity_column() -> None:
    updates, errors, stats = read("shopify_export_2026_linked_to_metafields.csv", location="Main")
    assert errors == [] and stats.records == 1
    price, description, image = updates
    assert isinstance(price, PriceUpdate) and price.price == Decimal("248.00")
    assert isinstance(description, DescriptionUpdate)
    assert description.description_html.startswith("<div>\n<div>Delicate and graceful")
    assert isinstance(image, ImageUpdate) and image.source.line == 2


def test_nl_partial_export_apostrophes_stripped() -> None:
    updates, errors, stats = read("real_export_partial_columns_nl_sku_barcode.csv", location="Main")
    assert stats.records == 814
    assert stats.apostrophes_stripped == 740
    assert [(e.line, e.column) for e in errors] == [(761, "Variant SKU")]  # the one empty SKU, tracked
    assert stats.untracked_skipped == 757
    assert len(updates) == 56 and all(isinstance(u, InventoryUpdate) for u in updates)
    assert not any("'" in (u.sku or "") for u in updates if isinstance(u, InventoryUpdate))


def test_cjk_handles() -> None:
    updates, errors, stats = read("real_export_2025_cjk_handles.csv")
    assert errors == []
    handles = [u.product.handle for u in updates if isinstance(u, DescriptionUpdate)]
    assert len(handles) == 5 and "短袖-上衣" in handles
    prices = [(u.source.line, u.variant.sku, u.variant.handle, u.variant.options, u.price)
              for u in updates if isinstance(u, PriceUpdate)]
    assert prices[-1] == (7, "ABCONVERT", None, (), Decimal("10.50"))
    # 5 of 6 variants have no SKU: named by handle + option values, as Shopify's import does
    assert prices[:5] == [(n, None, h, ("Default Title",), p) for n, h, p in [
        (2, "棉質的舒舒服服長褲", Decimal("15.00")), (3, "寬版喇叭褲-黑", Decimal("18.00")),
        (4, "薄紗-長袖上衣", Decimal("8.00")), (5, "棉質-長褲", Decimal("15.00")),
        (6, "短袖-上衣", Decimal("10.00"))]]
    assert stats.variants_by_options == 5 and stats.quantities_not_applied == 6


@pytest.mark.parametrize("path", sorted(CSV_SAMPLES.glob("*.csv")), ids=lambda p: p.name)
def test_every_sample_parses_in_every_kind(path: Any) -> None:
    for kind in ("price", "description", "image", "inventory"):
        reader = read_updates(path, kind=kind, location="Main")
        assert {i.kind for i in reader if not isinstance(i, RowError)} <= {kind}
        assert reader.statistics().finished
