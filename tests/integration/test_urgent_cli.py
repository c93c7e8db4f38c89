"""``bulk inventory set|submit`` in-process: results per line, exit codes, --json, and the token
given on the command line or in the environment never appears in what the command prints."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bulk.cli import main
from bulk.sim import SimConfig, SimShop

SECRET = "shpat_CLISECRET"


def test_set_one_quantity_by_sku_and_location_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inventory", "set", "SKU-0000001-0", "Main Warehouse", "5", "--shop", "sim://?products=20"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split() == ["applied", "SKU-0000001-0", "@", "Main", "Warehouse", "=", "5"]


def test_submit_a_csv_reports_every_row_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "inventory.csv"
    csv.write_text(
        "sku,location,quantity,change_from\n"
        "SKU-0000001-0,Main Warehouse,5,\n"
        "SKU-0000002-0,Store Front,abc,\n"
        "SKU-0000003-0,Overflow,4,999\n"
        "gid://shopify/InventoryItem/40,gid://shopify/Location/2,6,\n"
    )
    code = main(["inventory", "submit", str(csv), "--shop", "sim://?products=20", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1  # some rows were not applied
    assert [r["status"] for r in document["results"]] == ["applied", "rejected", "stale", "applied"]
    assert f"{csv}:3:quantity" in document["results"][1]["reason"]
    assert document["results"][3]["inventory_item_id"] == "gid://shopify/InventoryItem/40"
    assert document["summary"] == {"applied": 2, "stale": 1, "rejected": 1}


async def test_a_refused_token_from_the_environment_is_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with SimShop(SimConfig(products=20, tokens=("shpat_the_real_one",))) as sim:
        monkeypatch.setenv("SHOPIFY_SHOP", sim.url)
        monkeypatch.setenv("SHOPIFY_ACCESS_TOKENS", f"{SECRET},{SECRET}2")
        args = ["inventory", "set", "SKU-0000001-0", "Main Warehouse", "5"]
        code = await asyncio.to_thread(main, args)
    captured = capsys.readouterr()
    assert code == 2  # an account-level refusal stops the command: one clear line, not a per-row reason
    [line] = [ln for ln in captured.err.splitlines() if ln.startswith("bulk: error:")]
    assert "every access token was refused" in line and "#0: HTTP 401, #1: HTTP 401" in line
    assert SECRET not in captured.out + captured.err


def test_missing_shop_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHOPIFY_SHOP", raising=False)
    code = main(["inventory", "set", "A", "B", "1", "--tokens", SECRET])
    err = capsys.readouterr().err
    assert code == 2
    assert "no shop given" in err and SECRET not in err
