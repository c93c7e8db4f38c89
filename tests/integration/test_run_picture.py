"""A run draws its picture: ``FILE.report.html`` beside the report names every bulk operation of the
run, and ``bulk report RUN --html`` draws the same page again from the journal and recorded events.
Checked by parsing the page (html.parser), not by looking at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.plan_data import write_price_csv
from bulk.cli import main
from tests.unit.test_picture import Cells


def parse(path: Path) -> Cells:
    page = Cells()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_the_page_of_a_rehearsal_names_every_operation_and_its_predicted_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "prices.csv"
    write_price_csv(file, 2400, products=1200)
    state = tmp_path / "state"
    code = main(["submit", str(file), "--shop", "sim://?products=1200", "--route", "bulk",
                 "--state-dir", str(state), "--json"])
    result = json.loads(capsys.readouterr().out)
    # a rehearsal's report (and its picture beside it) goes to the state dir, never beside the input
    assert code == 0 and result["picture"] == str(state / "reports" / "prices.report.html")
    ops = [op["id"] for op in result["operations"]]
    assert len(ops) >= 2
    page = parse(Path(result["picture"]))
    assert set(ops) <= set(page.cells)  # the operations table
    assert {op.rsplit("/", 1)[-1] for op in ops} <= {t.split(" ·")[0] for t in page.svg_text}  # the chart
    assert "predicted duration on a real shop (s)" in page.headers  # a rehearsal's prediction
    assert "ETA of the plan, as a dry run predicts it (s)" in page.headers
    assert any(t.startswith("ETA ") for t in page.svg_text)  # drawn on the timeline too

    again = tmp_path / "again.html"
    assert main(["report", result["run_key"], "--html", str(again), "--state-dir", str(state),
                 "--journal", str(state / "journal.sqlite3")]) == 0
    assert set(ops) <= set(parse(again).cells)


def test_report_says_what_to_give_when_the_run_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", "nope", "--html", "--state-dir", str(tmp_path), "--journal",
                 str(tmp_path / "j.sqlite3")])
    assert code == 2 and "no run 'nope'" in capsys.readouterr().err
