"""``bulk submit THEIR-EXPORT.csv --shop sim://``: the embedded simulated shop is seeded with the
file's own SKUs and handles, so a merchant's rehearsal applies their rows instead of rejecting every
one as unknown; ``sim://?match=`` turns the seeding off."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from bulk.cli import main

SAMPLE = Path(__file__).parents[1] / "data" / "csv-samples" / "shopify_sample_2023_handle_dialect.csv"


def submit(tmp_path: Path, shop: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, int]]:
    file = tmp_path / "export.csv"
    shutil.copy(SAMPLE, file)
    code = main(["submit", str(file), "--shop", shop, "--state-dir", str(tmp_path / "state"), "--json"])
    return code, json.loads(capsys.readouterr().out)["summary"]


def reasons(tmp_path: Path) -> list[str]:
    with (tmp_path / "state" / "reports" / "export.report.csv").open() as f:  # a rehearsal's, never beside
        return [row["reason"] for row in csv.DictReader(f) if row["status"] == "rejected"]


def test_a_shopify_export_is_applied_to_a_shop_seeded_with_its_products(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = submit(tmp_path, "sim://", capsys)
    assert code == 0, reasons(tmp_path)
    # every data row of the export: 17, the image-only continuation row too (issue 15)
    assert result["rejected"] == 0 and result["applied"] == 17


def test_match_empty_keeps_the_generated_catalog_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = submit(tmp_path, "sim://?match=", capsys)
    assert code == 1 and result["applied"] == 0
    assert all("unknown" in r for r in reasons(tmp_path)) and len(reasons(tmp_path)) == 17


def test_variants_without_sku_are_matched_by_handle_and_option_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a real export where 5 of 6 rows have no SKU: each names its variant by handle + "Default Title"
    # (issue 17); the seeded shop has those variants, the catalog indexes their selectedOptions
    file = tmp_path / "export.csv"
    shutil.copy(SAMPLE.with_name("real_export_2025_cjk_handles.csv"), file)
    code = main(["submit", str(file), "--shop", "sim://", "--state-dir", str(tmp_path / "state"), "--json"])
    result = json.loads(capsys.readouterr().out)["summary"]
    assert code == 0, reasons(tmp_path)
    with (tmp_path / "state" / "reports" / "export.report.csv").open() as f:
        assert [(row["line"], row["status"]) for row in csv.DictReader(f)] == [
            (str(line), "applied") for line in range(2, 8)]
    assert result["applied"] == 6 and result["rejected"] == 0


def test_a_rehearsals_dry_run_writes_nothing_beside_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    file = inputs / "export.csv"
    shutil.copy(SAMPLE, file)
    code = main(["submit", str(file), "--shop", "sim://", "--dry-run", "--state-dir",
                 str(tmp_path / "state"), "--json"])
    capsys.readouterr()
    assert code == 0
    assert sorted(p.name for p in inputs.iterdir()) == ["export.csv"]  # a checkout stays clean
    assert (tmp_path / "state" / "reports" / "export.dry-run.report.csv").exists()
