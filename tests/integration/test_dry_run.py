"""``bulk submit --dry-run`` tells the truth: it counts every row, writes the report the run would
write (rejected rows with reasons, unchanged rows, the rows it would send) and never raises, even on
a file with nothing to update. Runs on the embedded simulated shop (``sim://``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from bench.plan_data import write_price_csv
from bulk.cli import main


def dry_run(file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["submit", str(file), "--shop", "sim://?products=600", "--state-dir", str(tmp_path / "state"),
                 "--dry-run", "--json"])
    return code, json.loads(capsys.readouterr().out)


def report(file: Path) -> list[dict[str, str]]:
    # not FILE.report.csv: that name tells `bulk run --inbox` the file was submitted; and a rehearsal
    # (sim://) writes nothing beside its input: its reports go to STATE_DIR/reports/
    assert not file.with_name(file.stem + ".report.csv").exists()
    assert not file.with_name(file.stem + ".dry-run.report.csv").exists()
    with (file.parent / "state" / "reports" / (file.stem + ".dry-run.report.csv")).open() as f:
        return list(csv.DictReader(f))


def test_every_row_is_counted_and_reported_as_the_run_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "prices.csv"
    write_price_csv(file, 1200, products=600)  # one row per variant; about 10 % keep their price
    with file.open("a") as f:
        f.write("SKU-0000001-0,-5.00,\nSKU-0000002-0,nineteen,\n")
    code, result = dry_run(file, tmp_path, capsys)
    summary = result["summary"]
    assert result["dry_run"] is True and result["operations"] == []
    assert summary["rows"] == 1202  # every row, not only those decided at planning
    assert summary["rejected"] == 2 and summary["applied"] == 0
    assert summary["planned"] + summary["unchanged"] + summary["rejected"] == 1202
    assert summary["planned"] == result["plan"]["rows_in_lines"] > 1000
    rows = report(file)
    assert len(rows) == 1202 and [int(r["line"]) for r in rows] == list(range(2, 1204))
    rejected = {int(r["line"]): r["reason"] for r in rows if r["status"] == "rejected"}
    assert set(rejected) == {1202, 1203} and "nineteen" in rejected[1203]
    assert {r["status"] for r in rows} == {"planned", "unchanged", "rejected"}
    assert all(r["reason"].startswith("dry run: not sent") for r in rows if r["status"] == "planned")
    assert code == 1  # rows would be rejected: the same exit status as the run


@pytest.mark.parametrize("body", ["", "SKU-0000001-0,10.37\n", "NOPE,abc\n"],
                         ids=["header-only", "all-unchanged", "all-rejected"])
def test_a_file_with_nothing_to_update_gives_an_answer_not_a_traceback(
    body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "nothing.csv"
    file.write_text("sku,price\n" + body)
    code, result = dry_run(file, tmp_path, capsys)
    assert result["plan"]["lines"] == 0 and result["summary"]["planned"] == 0
    assert result["summary"]["rows"] == body.count("\n") == len(report(file))
    assert code == (1 if "abc" in body else 0)
