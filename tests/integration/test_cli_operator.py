"""The operator's view of ``bulk``, in-process: one ``bulk: error:`` line in the user's words (exit 2,
never a traceback) for every file and network failure, settings from the environment and ``.env``
validated without breaking ``--help``, ``--version``, logging (-v, --log-format), ``bulk status`` on
the embedded journal, and the quick start exiting 0 without writing into the repository."""

from __future__ import annotations

import csv
import json
import re
import socket
from pathlib import Path
from typing import Any

import aiohttp.connector
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bulk.cli import main
from bulk.cli._submit import several_files_outputs
from bulk.journal import open_journal
from tests.csv_helpers import price_csv
from tests.ports import closed_port

REPO = Path(__file__).parents[2]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) bulk[\w.]*: ")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine: no variable, no .env in the working directory."""
    for name in ("SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKENS", "BULK_DATABASE_URL", "BULK_REDIS_URL",
                 "BULK_MAX_IN_FLIGHT", "BULK_STATE_DIR", "BULK_JOURNAL", "BULK_SOURCE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bulk: error: "), err
    assert "Traceback" not in err
    return lines[0]


def small_prices(tmp_path: Path) -> Path:
    return price_csv(tmp_path / "prices.csv", [(f"SKU-{p:07d}-0", f"{100 + p}.00") for p in range(1, 21)])


# -- version, help, settings --------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.match(r"bulk \S+ \(Admin API 2026-04, Python 3\.\d+", capsys.readouterr().out)


def test_a_bad_environment_value_never_breaks_help_and_is_one_clear_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BULK_MAX_IN_FLIGHT", "x")
    with pytest.raises(SystemExit) as done:
        main(["submit", "--help"])
    assert done.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "env BULK_MAX_IN_FLIGHT; default 8" in help_text and "env SHOPIFY_SHOP" in help_text
    code, _, err = run(["status"], capsys)
    assert code == 2
    assert one_error_line(err) == "bulk: error: BULK_MAX_IN_FLIGHT must be a whole number ≥ 1, got 'x'"


def test_settings_come_from_a_dot_env_file_and_flags_win(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_text("BULK_MAX_IN_FLIGHT=0\n")
    code, _, err = run(["status"], capsys)
    assert code == 2 and "BULK_MAX_IN_FLIGHT must be a whole number ≥ 1, got '0'" in err
    (tmp_path / ".env").write_text(f"BULK_STATE_DIR={tmp_path / 'from-dotenv'}\n")
    code, _, err = run(["status"], capsys)
    assert code == 2 and f"no journal at {tmp_path / 'from-dotenv' / 'journal.sqlite3'}" in err
    code, _, err = run(["status", "--state-dir", str(tmp_path / "flag")], capsys)
    assert code == 2 and f"no journal at {tmp_path / 'flag' / 'journal.sqlite3'}" in err


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BULK_STATE_DIR", "")
    monkeypatch.setenv("BULK_MAX_IN_FLIGHT", "")
    code, _, err = run(["status"], capsys)
    assert code == 2 and f"no journal at {tmp_path / 'xdg' / 'bulk' / 'journal.sqlite3'}" in err


def test_options_are_never_abbreviated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["submit", str(small_prices(tmp_path)), "--sh", "sim://"])
    assert done.value.code == 2
    assert "unrecognized arguments: --sh" in capsys.readouterr().err


def test_a_bad_flag_value_is_refused_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["status", "--max-in-flight", "0"])
    assert done.value.code == 2
    assert "--max-in-flight: must be a whole number ≥ 1, got '0'" in capsys.readouterr().err


# -- files ----------------------------------------------------------------------------------------


def test_a_directory_given_as_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "inbox").mkdir()
    code, _, err = run(["submit", str(tmp_path / "inbox"), "--shop", "sim://"], capsys)
    assert code == 2
    assert one_error_line(err) == f"bulk: error: {tmp_path / 'inbox'}: is a directory: give a CSV or JSONL " \
                                  "file"


def test_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    file = small_prices(tmp_path)
    file.chmod(0)
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:  # root reads mode 000 files anyway
        if self == file:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    code, _, err = run(["submit", str(file), "--shop", "sim://"], capsys)
    assert code == 2
    assert one_error_line(err) == (f"bulk: error: {file}: permission denied: this user cannot read the file "
                                   "(check its permissions)")


def test_a_missing_file_has_no_line_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["submit", "nope.csv", "--shop", "sim://"], capsys)
    assert code == 2
    assert one_error_line(err) == "bulk: error: nope.csv: no such file: check the path"


def test_an_empty_file_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    code, _, err = run(["submit", "empty.csv", "--shop", "sim://"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("bulk: error: empty.csv: the file is empty: nothing to submit")
    assert "sim://" not in line


def test_inventory_files_get_the_same_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["inventory", "submit", str(tmp_path), "--shop", "sim://"], capsys)
    assert code == 2 and "is a directory" in one_error_line(err)


# -- network --------------------------------------------------------------------------------------


class _NoDns(AbstractResolver):
    """A resolver for which no name exists (the test must not depend on the machine's DNS)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        return None


def test_a_shop_name_that_does_not_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", _NoDns)
    code, _, err = run(["submit", str(small_prices(tmp_path)), "--shop", "nosuch-shop.myshopify.com",
                        "--tokens", "shpat_x"], capsys)
    assert code == 2
    assert one_error_line(err) == ("bulk: error: cannot resolve nosuch-shop.myshopify.com: check the shop "
                                   "name and your network")


def test_a_refused_connection_names_the_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with closed_port() as port:  # nothing listens on it, and no other process can take it meanwhile
        code, _, err = run(["submit", str(small_prices(tmp_path)), "--shop", f"http://127.0.0.1:{port}",
                            "--tokens", "shpat_x"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"bulk: error: cannot connect to 127.0.0.1:{port}: the connection was refused")
    assert "Client" not in line and "shpat_x" not in err  # no aiohttp class, never a token


def test_a_network_fault_during_a_run_names_the_host_too() -> None:
    from bulk.cli._failures import explain
    from bulk.errors import NetworkError

    dns = NetworkError("network fault talking to the shop: ClientConnectorDNSError", token_index=0)
    assert explain(dns, shop="nosuch") == "cannot resolve nosuch.myshopify.com: check the shop name and " \
                                          "your network"
    slow = NetworkError("network fault talking to the shop: timed out after 30s", token_index=1)
    assert explain(slow, shop="https://a.myshopify.com").startswith("a.myshopify.com did not answer in time")


# -- logging ------------------------------------------------------------------------------------


def test_verbose_submit_logs_timestamped_unwrapped_lines(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["submit", str(small_prices(tmp_path)), "--shop", "sim://?products=30", "-v"], capsys)
    assert code == 0, err
    lines = err.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), err
    simulated = [line for line in lines if "SIMULATED shop" in line]
    assert len(simulated) == 1 and simulated[0].endswith("no real shop is touched")  # one line, > 80 chars
    assert len(simulated[0]) > 80
    assert any(" INFO bulk.journal" in line for line in lines)  # -v: the library's info records too
    code, _, quiet = run(["submit", str(small_prices(tmp_path)), "--shop", "sim://?products=30"], capsys)
    assert code == 0 and not any(" INFO bulk.journal" in line for line in quiet.splitlines())


def test_json_logs_carry_every_record_action(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["submit", str(small_prices(tmp_path)), "--shop", "sim://?products=30",
                        "--log-format", "json", "-v"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines()]
    assert {"simulated", "catalog_synced", "planned", "journal.migrate"} <= {r.get("action") for r in records}
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)


def test_the_worker_shows_its_log_records_without_v(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["worker", "--database-url", str(tmp_path / "journal.sqlite3"), "--shop",
                          "sim://?products=10", "--drain"], capsys)
    assert code == 0 and "started" in out
    assert any(STAMP.match(line) and "bulk.fleet.worker: stopping [action=worker.stop" in line
               for line in err.splitlines()), err


# -- status, inbox, quick start ---------------------------------------------------------------------


async def test_status_reads_the_embedded_journal_by_default(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal_path = tmp_path / "xdg" / "bulk" / "journal.sqlite3"
    journal_path.parent.mkdir(parents=True)
    async with open_journal(str(journal_path)) as journal:
        await journal.create_run("nightly-key", input_name="nightly.csv", input_hash="h", options={})
    import asyncio

    code = await asyncio.to_thread(main, ["status", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert [r["input_name"] for r in json.loads(out)["runs"]] == ["nightly.csv"]


def test_status_and_submit_agree_on_the_state_directory(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "state")
    code, _, err = run(["submit", str(small_prices(tmp_path)), "--shop", "sim://?products=30", "--state-dir",
                        state], capsys)
    assert code == 0, err
    code, out, _ = run(["status", "--state-dir", state, "--json"], capsys)
    assert code == 0
    assert [(r["input_name"], r["status"]) for r in json.loads(out)["runs"]] == [
        (str(tmp_path / "prices.csv"), "done")]


def test_status_without_any_journal_says_where_it_looked(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["status"], capsys)
    assert code == 2
    assert one_error_line(err).startswith(f"bulk: error: no journal at {tmp_path / 'xdg' / 'bulk'}")


def test_inbox_prints_words_not_dicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    price_csv(inbox / "a.csv", [("SKU-0000001-0", "101.00"), ("SKU-0000002-0", "oops")])
    code, out, _ = run(["run", "--inbox", str(inbox), "--shop", "sim://?products=20",
                        "--state-dir", str(tmp_path / "state")], capsys)
    assert code == 1
    assert "a.csv: 2 rows: 1 applied, 0 unchanged, 1 rejected -> a.report.csv" in out
    assert "{" not in out


def test_the_quick_start_exits_0_and_writes_nothing_into_the_repository(
        capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in (REPO / "fixtures").iterdir())
    code, out, err = run(["submit", str(REPO / "fixtures" / "prices.csv"), "--shop", "sim://"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (REPO / "fixtures").iterdir()) == before
    report = re.search(r"report\s+│\s+(\S+prices\.report\.csv)", out)
    assert report is not None and Path(report.group(1)).is_file()  # printed, and where it says
    assert not Path(report.group(1)).is_relative_to(REPO)


def test_the_bad_rows_example_reports_its_three_mistakes(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["submit", str(REPO / "fixtures" / "bad-rows.csv"), "--shop", "sim://",
                        "--state-dir", str(tmp_path / "state"), "--json"], capsys)
    assert code == 1
    result = json.loads(out)
    assert result["summary"]["rejected"] == 3 and result["summary"]["applied"] == 4
    assert result["report"] == str(tmp_path / "state" / "reports" / "bad-rows.report.csv")


# -- several files, one run -------------------------------------------------------------------------


def descriptions_jsonl(path: Path, products: range) -> Path:
    path.write_text("".join(json.dumps({"kind": "description", "handle": f"product-{p}",
                                        "description_html": f"<p>New words for {p}</p>"}) + "\n"
                            for p in products), encoding="utf-8")
    return path


def test_several_files_are_one_run_with_one_report_naming_each_rows_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices, descriptions = small_prices(tmp_path), descriptions_jsonl(tmp_path / "words.jsonl", range(1, 11))
    argv = ["submit", str(prices), str(descriptions), "--shop", "sim://?products=20",
            "--state-dir", str(tmp_path / "state"), "--json"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["summary"]["rows"] == 30 and result["summary"]["applied"] == 30
    assert result["report"] == str(tmp_path / "state" / "reports" / "prices+words.report.csv")
    with open(result["report"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted({(Path(r["file"]).name, r["status"]) for r in rows}) == [("prices.csv", "applied"),
                                                                           ("words.jsonl", "applied")]
    assert len({(r["file"], r["line"]) for r in rows}) == 30  # one outcome per line of each file
    # the same command again is the same run: nothing sent, its outcomes shown
    code, again, _ = run(argv, capsys)
    assert code == 0 and json.loads(again)["run_key"] == result["run_key"]
    assert json.loads(again)["operations"] == []


def test_a_file_given_twice_is_refused_before_anything_is_read(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    prices = small_prices(tmp_path)
    code, _, err = run(["submit", str(prices), "prices.csv", "--shop", "sim://"], capsys)  # cwd: tmp_path
    assert code == 2
    assert one_error_line(err) == "bulk: error: prices.csv: given twice: name each file once"


def test_several_files_on_a_real_shop_report_beside_the_first_named_after_them_all(tmp_path: Path) -> None:
    files = [tmp_path / "prices.csv", tmp_path / "in" / "images.jsonl"]
    assert several_files_outputs(files, dry_run=False) == (tmp_path / "prices+images.report.csv",
                                                          tmp_path / "prices+images.undo.jsonl")
    assert several_files_outputs(files, dry_run=True) == (tmp_path / "prices+images.dry-run.report.csv", None)
    assert several_files_outputs(files[:1], dry_run=False) == (None, None)  # one file: the library's rule
