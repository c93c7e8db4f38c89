"""``bulk run --inbox DIR`` (cron): new files applied once, reports next to them, exit codes, the lock."""

from __future__ import annotations

import asyncio
import csv
import os
from pathlib import Path

import pytest

from bulk.cli import main
from bulk.cli._run import EXIT_LOCKED
from bulk.fleet.inbox import inbox_lock, pending_files, report_path
from bulk.journal import open_journal
from bulk.submit import runlock
from tests.csv_helpers import price_csv as write

SHOP = "sim://?products=120&seed=4"


def statuses(report: Path) -> list[str]:
    with report.open(newline="") as f:
        return [r["status"] for r in csv.DictReader(f)]


def test_new_files_are_applied_once_with_reports_beside_them(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "a.csv", [("SKU-0000001-0", "111.00"), ("SKU-0000002-0", "112.00")])
    write(inbox / "b.csv", [("SKU-0000004-0", "113.00"), ("SKU-9999999-0", "5.00")])  # unknown SKU
    argv = ["run", "--inbox", str(inbox), "--shop", SHOP, "--state-dir", str(tmp_path / "state")]
    assert main(argv) == 1  # some rows were rejected
    assert statuses(inbox / "a.report.csv") == ["applied", "applied"]
    assert statuses(inbox / "b.report.csv") == ["applied", "rejected"]
    assert main(argv) == 0  # nothing new: nothing is submitted again
    assert "nothing new" in capsys.readouterr().out


def test_an_overlapping_run_exits_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "a.csv", [("SKU-0000001-0", "111.00")])
    with inbox_lock(tmp_path) as lock:
        assert lock.held
        assert main(["run", "--inbox", str(tmp_path), "--shop", SHOP]) == EXIT_LOCKED
    assert "another run is already working" in capsys.readouterr().err
    assert not report_path(tmp_path / "a.csv").exists()
    with inbox_lock(tmp_path) as again:  # released on leaving the block
        assert again.held


def test_a_file_replaced_after_its_report_is_new_again(tmp_path: Path) -> None:
    data = write(tmp_path / "p.csv", [("SKU-1", "1.00")])
    (tmp_path / "notes.txt").write_text("ignored")
    assert [f.path for f in pending_files(tmp_path)] == [data]
    report = report_path(data)
    report.write_text("file,line,status,reason\n")
    os.utime(data, (1_000, 1_000))
    os.utime(report, (2_000, 2_000))
    assert pending_files(tmp_path) == []
    os.utime(data, (3_000, 3_000))
    assert [f.path for f in pending_files(tmp_path)] == [data]


async def test_a_file_another_process_applies_is_skipped_and_taken_up_at_the_next_tick(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A merchant's own `bulk submit` of an inbox file is running when cron starts: that file is left
    for the next tick (no report, one line saying why), the others go on."""
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    held = write(inbox / "a.csv", [("SKU-0000001-0", "121.00")])
    argv = ["run", "--inbox", str(inbox), "--shop", SHOP, "--state-dir", str(state)]
    assert await asyncio.to_thread(main, argv) == 0
    async with open_journal(str(state / "journal.sqlite3")) as journal:
        run = next(r for r in await journal.list_runs() if r.input_name == str(held))
    report_path(held).unlink()  # a.csv is pending again; its run is held by "another process"
    write(inbox / "b.csv", [("SKU-0000002-0", "122.00")])
    with runlock.hold_run(state / "runs", run.run_id, run.run_key):
        assert await asyncio.to_thread(main, argv) == EXIT_LOCKED
        err = capsys.readouterr().err
        holder = f"(pid {os.getpid()}"
        assert f"a.csv skipped: run {run.run_id} is being applied by another bulk process {holder}" in err
        assert "the next run takes it up" in err and "Traceback" not in err
        assert not report_path(held).exists() and statuses(inbox / "b.report.csv") == ["applied"]
    assert await asyncio.to_thread(main, argv) == 0  # the next tick: the run is free, its report written
    assert statuses(report_path(held)) == ["applied"]
