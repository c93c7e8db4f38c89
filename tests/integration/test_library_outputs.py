"""Where a library run writes its report and undo file: a ``sim://`` rehearsal never beside its input
(the input's folder may be read-only, or a checkout), exactly where ``bulk submit`` puts them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import bulk
from bulk.sources.files import FileInput

ROWS = "sku,price\n" + "".join(f"SKU-{p:07d}-0,{100 + p}.00\n" for p in range(1, 21))


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` without write permission while the block runs (root ignores it: the test also
    checks that nothing new appeared there)."""
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "prices.csv").write_text(ROWS, encoding="utf-8")
    return folder


async def test_a_rehearsal_writes_into_the_state_dir_not_beside_a_read_only_input(
        inbox: Path, tmp_path: Path) -> None:
    path = inbox / "prices.csv"
    with read_only(inbox):
        async with bulk.Shop.connect("sim://?products=40", None) as shop:
            run = shop.submit(FileInput(paths=(path,), in_process=True), name=str(path),
                              state_dir=tmp_path / "state")
            result = await run.wait()
    assert result.summary["applied"] == 20 == result.summary["rows"]
    assert names(inbox) == ["prices.csv"]
    reports = tmp_path / "state" / "reports"
    assert (result.report_path, result.undo_path) == (reports / "prices.report.csv",
                                                      reports / "prices.undo.jsonl")
    assert result.report_path is not None and result.undo_path is not None
    assert len(result.report_path.read_text().splitlines()) == 21  # a header and every row
    assert len(result.undo_path.read_text().splitlines()) == 20


async def test_without_a_state_dir_a_rehearsal_writes_into_a_temporary_folder(inbox: Path) -> None:
    path = inbox / "prices.csv"
    with read_only(inbox):
        async with bulk.Shop.connect("sim://?products=40", None) as shop:
            result = await shop.submit(FileInput(paths=(path,), in_process=True), name=str(path)).wait()
    assert names(inbox) == ["prices.csv"]
    assert result.report_path is not None and result.report_path.is_file()
    assert result.report_path.parent != inbox and result.report_path.parent.name.startswith("bulk-sim-")
    assert result.undo_path is not None and result.undo_path.parent == result.report_path.parent


async def test_asked_for_paths_win(inbox: Path, tmp_path: Path) -> None:
    path = inbox / "prices.csv"
    report, undo = tmp_path / "out" / "r.csv", tmp_path / "out" / "u.jsonl"
    async with bulk.Shop.connect("sim://?products=40", None) as shop:
        result = await shop.submit(FileInput(paths=(path,), in_process=True), name=str(path),
                                   report=report, undo=undo).wait()
    assert (result.report_path, result.undo_path) == (report, undo)
    assert result.report_path is not None and result.report_path.is_file()
    assert result.undo_path is not None and result.undo_path.is_file()
