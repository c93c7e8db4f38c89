"""Every data row of every input ends in exactly one outcome (invariant 5; issue 15, part 4).

Real exports (tests/data/csv-samples) against the simulated shop seeded with their own SKUs and
handles, by both routes: the report has one line per data row — rows that carry nothing to change
(``unchanged: nothing to change on this row``), continuation rows that only add an image to their
product (they share the product's image outcome), rows whose variant has no SKU (named by handle +
option values) — counted independently with the csv module.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest

from bulk.cli._request import SubmitRequest
from bulk.cli._submit import matching_sim_url
from bulk.lanes.bulk import BulkLaneConfig
from bulk.session.shop import Shop
from bulk.sources._reader_process import ReaderOptions
from bulk.sources.files import FileInput
from bulk.submit.root import run_submission
from tests.conftest import CSV_SAMPLES

SAMPLES = sorted(CSV_SAMPLES.glob("*.csv"))
FAST_LANE = BulkLaneConfig(poll_initial_s=0.05, poll_max_s=0.2, lease_s=5.0, look_ahead_s=0.2,
                           op_overhead_s=0.2)


def data_rows(path: Path) -> list[int]:
    """The physical line each data record starts on (the header and blank lines are no rows)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        starts: list[int] = []
        start = reader.line_num + 1
        for record in reader:
            if record:
                starts.append(start)
            start = reader.line_num + 1
    return starts


async def submit(path: Path, tmp_path: Path, route: str) -> tuple[Any, list[dict[str, str]], Any]:
    """Submit ``path`` to a simulated shop seeded with it; (result, report rows, the shop's state)."""
    shop_url = matching_sim_url("sim://?speed=20", [path])
    assert shop_url is not None
    request = SubmitRequest(file=path, shop=shop_url, route=route,  # type: ignore[arg-type]
                            state_dir=tmp_path / "state", report=tmp_path / "report.csv", lane=FAST_LANE)
    async with Shop.connect(shop_url) as shop:
        # a location for the files whose quantities are all they change (without one they are refused)
        files = FileInput(paths=(path,), options=ReaderOptions(location="Main Warehouse"), in_process=True)
        result = await run_submission(shop, request.run_options(), files, input_name=str(path),
                                      on_event=lambda _n, _d: None)
        state = shop.sim.state
    with (tmp_path / "report.csv").open(newline="") as f:
        return result, list(csv.DictReader(f)), state


@pytest.mark.timeout(120)
@pytest.mark.parametrize("route", ["direct", "bulk"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
async def test_every_data_row_of_a_real_export_has_exactly_one_outcome(
        sample: Path, route: str, tmp_path: Path) -> None:
    path = tmp_path / sample.name
    shutil.copy(sample, path)
    result, report, _ = await submit(path, tmp_path, route)
    lines = [int(r["line"]) for r in report]
    assert len(lines) == len(set(lines)) == result.summary["rows"]
    assert sorted(lines) == data_rows(path)
    assert {r["status"] for r in report} <= {"applied", "unchanged", "rejected"}
    assert all(r["reason"] for r in report if r["status"] != "applied")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("route", ["direct", "bulk"])
async def test_a_row_without_a_sku_sends_its_price_by_option_values_and_its_image(
        tmp_path: Path, route: str) -> None:
    path = tmp_path / "legacy.csv"
    shutil.copy(CSV_SAMPLES / "shopify_sample_2019_legacy_dialect.csv", path)
    _, report, state = await submit(path, tmp_path, route)
    row = {int(r["line"]): r for r in report}[2]  # example-t-shirt: a price and an image, no SKU
    # no SKU: the variant is named by its handle and option value, as Shopify's import does (issue 17)
    assert row["status"] == "applied", row["reason"]
    catalog = state.catalog
    (product,) = [p for p in range(1, catalog.products + 1) if catalog.handle(p) == "example-t-shirt"]
    (variant,) = [v for v in catalog.variant_ids(product) if catalog.sku(v) is None]
    assert catalog.selected_options(variant)[0][1].startswith("Lithograph")
    assert catalog.price_cents(variant) == 2500  # the row's price, on the variant it names
    shirt = "https://cdn.shopify.com/s/images/shopify_shirt.png"
    assert any(m.url.startswith(shirt) for m in catalog.media(product))  # and its image


def test_the_samples_hold_rows_of_every_kind_this_checks() -> None:
    """The files above are worth their time only if they hold the cases of issue 15."""
    handle = CSV_SAMPLES / "shopify_sample_2023_handle_dialect.csv"
    with handle.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    image_only = [r for r in rows if r["Image Src"] and not r["Variant SKU"] and not r["Variant Price"]]
    assert image_only  # continuation rows that only add an image
    nl = CSV_SAMPLES / "real_export_partial_columns_nl_sku_barcode.csv"
    with nl.open(newline="", encoding="utf-8-sig") as f:
        assert "Variant Price" not in next(csv.reader(f))  # rows with nothing this tool changes
