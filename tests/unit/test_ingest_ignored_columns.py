"""Nothing ignored silently: the reader's description names the dialect, encoding, delimiter, the
columns used and the columns ignored with why; quantities without a location are an error naming the
flag when they are all a file holds, else ignored *with that reason* and counted."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bulk.errors import InputError
from bulk.ingest import IgnoredColumn, read_updates
from bulk.ingest.dialects import NEEDS_LOCATION, NOT_UPDATED
from bulk.models import InventoryUpdate
from tests.conftest import CSV_SAMPLES

NL = CSV_SAMPLES / "real_export_partial_columns_nl_sku_barcode.csv"  # 814 records, quantities only
FULL = CSV_SAMPLES / "shopify_sample_2023_handle_dialect.csv"  # a full export: prices, images, quantities


def test_an_inventory_only_export_without_location_is_an_error_naming_the_flag() -> None:
    # It used to give 'rows 0', exit 0: every quantity dropped without a word.
    with pytest.raises(InputError) as info:
        list(read_updates(NL))
    error = info.value
    assert (error.file, error.line, error.column) == (str(NL), 1, "Variant Inventory Qty")
    assert "--location" in error.reason and "only changes this file holds" in error.reason


def test_with_a_location_it_is_read_and_the_apostrophes_are_counted() -> None:
    reader = read_updates(NL, location="Main")
    updates = [u for u in reader if isinstance(u, InventoryUpdate)]
    stats = reader.statistics()
    assert len(updates) == 56 and stats.apostrophes_stripped == 740
    assert "740 leading apostrophes (Excel's text marker) removed from SKUs/barcodes" in stats.summary()
    assert ("Variant Inventory Qty", "quantity") in stats.columns_used


def test_kind_inventory_alone_without_location_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="only quantities were asked for") as info:
        list(read_updates(FULL, kind="inventory"))
    assert info.value.column == "Variant Inventory Qty"


def test_a_full_export_without_location_says_what_it_ignored_and_why() -> None:
    reader = read_updates(FULL)
    items = list(reader)
    stats = reader.statistics()
    assert not any(isinstance(i, InventoryUpdate) for i in items) and stats.updates["price"] == 16
    assert IgnoredColumn("Variant Inventory Qty", NEEDS_LOCATION) in stats.ignored
    assert IgnoredColumn("Variant Inventory Tracker", NEEDS_LOCATION) in stats.ignored
    assert IgnoredColumn("Vendor", NOT_UPDATED) in stats.ignored
    assert stats.quantities_not_applied == 4  # the tracked variants' quantities (12 are untracked)
    assert stats.columns_used[:3] == (("Handle", "handle"), ("Body (HTML)", "description_html"),
                                      ("Option1 Value", "option1_value"))
    lines = stats.summary()
    assert lines[0] == (f"{FULL}: CSV, dialect shopify-legacy, encoding UTF-8 (valid UTF-8), delimiter comma")
    assert lines[1].startswith("columns used: Handle (handle), Body (HTML) (description_html)")
    assert ("columns ignored (quantities need a location: pass --location NAME_OR_ID (the location option)):"
            " Variant Inventory Tracker, Variant Inventory Qty") in lines
    assert "4 quantities not applied: pass --location to apply them" in lines
    assert stats.ignored_columns == tuple(c.name for c in stats.ignored)  # names, as before


def test_columns_of_kinds_not_asked_for_say_so(tmp_path: Path) -> None:
    reader = read_updates(FULL, kind="price")
    list(reader)
    ignored = dict(reader.statistics().ignored)
    assert ignored["Body (HTML)"] == "description changes were not asked for (--kind)"
    assert ignored["Image Src"] == "image changes were not asked for (--kind)"
    assert ignored["Variant Inventory Qty"] == "inventory changes were not asked for (--kind)"
    path = tmp_path / "in.csv"
    path.write_text("sku,price,\nA,1,\n")
    reader = read_updates(path)
    list(reader)
    assert reader.statistics().ignored == (IgnoredColumn("(unnamed column 3)", "no header name"),)


def test_the_description_travels_between_processes_and_jsonl_has_one(tmp_path: Path) -> None:
    reader = read_updates(FULL, location="Main")
    list(reader)
    stats = reader.statistics()
    assert pickle.loads(pickle.dumps(stats)) == stats  # the parallel reader sends it to the planner
    path = tmp_path / "in.jsonl"
    path.write_text('{"kind": "price", "sku": "A", "price": "1"}\n')
    reader = read_updates(path)
    list(reader)
    assert reader.statistics().summary() == [f"{path}: JSONL, UTF-8"]
