"""`bulk submit` says what it did with the file — dialect, encoding, columns used and ignored — and
takes `--encoding` for a file whose encoding detection cannot know (issue 17: nothing ignored silently)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulk.cli import main
from tests.integration.test_cli_operator import clean_environment  # noqa: F401 (autouse fixture)

WINDOWS_FILE = "handle;description_html\nproduct-1;<p>Crème brûlée</p>\nproduct-2;<p>Café</p>\n"


def submit_json(path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["submit", str(path), "--shop", "sim://", "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_the_result_names_the_encoding_the_dialect_and_the_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(WINDOWS_FILE.encode("cp1252"))
    (read,) = submit_json(path, capsys=capsys)["inputs"]
    assert read["encoding"] == "Windows-1252" and read["encoding_reason"].startswith("not valid UTF-8")
    assert read["dialect"] == "simple" and read["delimiter"] == ";"
    assert [c["column"] for c in read["columns_used"]] == ["handle", "description_html"]


def test_encoding_forces_how_the_file_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(WINDOWS_FILE.encode("latin-1"))
    (read,) = submit_json(path, "--encoding", "latin-1", capsys=capsys)["inputs"]
    assert read["encoding_reason"] == "forced"
