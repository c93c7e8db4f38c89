"""Decisions from the shop's truth (issue 15): every run brings the catalog cache up to date first, our
own writes reach the cache, undo restores, and each shop has its own cache and run keys.

The shop is a served simulator; "another app" is a fourth token the tool is not given (the simulator's
tokens are independent apps), writing through a plain GraphQL request behind the tool's back.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulk.cli._request import SubmitRequest
from bulk.lanes.bulk import BulkLaneConfig
from bulk.session.shop import Shop
from bulk.shopify.documents import document
from bulk.sim import SimConfig, SimShop
from bulk.sources.files import FileInput
from bulk.submit.root import run_submission
from bulk.submit.submission import SubmissionResult

TOKENS = ("tool-a", "tool-b", "tool-c")
OTHER_APP = "other-app"
FAST_LANE = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.05, lease_s=2.0)
VARIANT_QUERY = "query V($id: ID!) { productVariant(id: $id) { price compareAtPrice } }"


@pytest.fixture
async def sim() -> AsyncIterator[SimShop]:
    async with SimShop(SimConfig(products=60, tokens=(*TOKENS, OTHER_APP))) as shop:
        yield shop


async def other_app(sim: SimShop, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A plain GraphQL request on a token the tool does not hold."""
    async with aiohttp.ClientSession() as session, session.post(
            sim.graphql_url, json={"query": query, "variables": variables},
            headers={"X-Shopify-Access-Token": OTHER_APP}) as resp:
        body: dict[str, Any] = await resp.json()
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def other_app_sets(sim: SimShop, product: int, variant: int, price: str,
                         compare_at: str | None = "unset") -> None:
    """Another app writes one variant's price (and compare-at price: None clears it)."""
    change: dict[str, Any] = {"id": f"gid://shopify/ProductVariant/{product * 10 + variant}", "price": price}
    if compare_at != "unset":
        change["compareAtPrice"] = compare_at
    data = await other_app(sim, document("product_variants_bulk_update"),
                           {"productId": f"gid://shopify/Product/{product}", "variants": [change]})
    assert not data["productVariantsBulkUpdate"]["userErrors"]


async def shop_has(sim: SimShop, product: int, variant: int) -> tuple[str, str | None]:
    """(price, compareAtPrice) as the shop has them now."""
    gid = f"gid://shopify/ProductVariant/{product * 10 + variant}"
    data = await other_app(sim, VARIANT_QUERY, {"id": gid})
    return data["productVariant"]["price"], data["productVariant"]["compareAtPrice"]


def prices_file(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """``sku,price,compare_at_price`` rows."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "price", "compare_at_price"])
        w.writerows(rows)
    return path


def sku(product: int, variant: int) -> str:
    return f"SKU-{product:07d}-{variant}"


async def submit(shop: Shop, file: Path, state: Path, *, route: str = "bulk", again: bool = False,
                 events: list[tuple[str, dict[str, Any]]] | None = None) -> SubmissionResult:
    request = SubmitRequest(file=file, shop=None, route=route,  # type: ignore[arg-type]
                            state_dir=state / "state", journal=str(state / "journal.sqlite3"), lane=FAST_LANE,
                            again=again)
    seen = events if events is not None else []
    return await run_submission(shop, request.run_options(), FileInput(paths=(file,), in_process=True),
                                input_name=str(file), on_event=lambda n, d: seen.append((n, d)))


def writes(sim: SimShop) -> int:
    return int(sim.state.statistics()["writes_total"])


@pytest.mark.parametrize("route", ["bulk", "direct"])
async def test_a_value_changed_by_another_app_is_applied_again(sim: SimShop, tmp_path: Path,
                                                                route: str) -> None:
    """12.96 in the file, the shop changed to 99.99 by another app after our cache saw 12.96: applied."""
    await other_app_sets(sim, 5, 0, "12.96")
    async with Shop.connect(sim.url, TOKENS) as shop:
        first = await submit(shop, prices_file(tmp_path / "p1.csv", [(sku(5, 0), "12.96", "")]), tmp_path,
                             route=route)
        assert first.summary["unchanged"] == 1  # the cache, synced in full, saw 12.96
        await other_app_sets(sim, 5, 0, "99.99")  # behind the tool's back
        events: list[tuple[str, dict[str, Any]]] = []
        second = await submit(shop, prices_file(tmp_path / "p2.csv", [(sku(5, 0), "12.96", "")]), tmp_path,
                              route=route, events=events)
    assert second.summary["applied"] == 1 and second.summary["unchanged"] == 0
    assert (await shop_has(sim, 5, 0))[0] == "12.96"
    [synced] = [d for n, d in events if n == "catalog_synced"]
    assert synced["full"] is False and synced["lines"] == 1 + 3  # product 5 and its 3 variants only


@pytest.mark.parametrize("route", ["bulk", "direct"])
async def test_our_own_writes_make_a_second_identical_file_unchanged(sim: SimShop, tmp_path: Path,
                                                                     route: str) -> None:
    rows = [(sku(7, 1), "41.00", ""), (sku(8, 0), "42.00", "50.00")]
    async with Shop.connect(sim.url, TOKENS) as shop:
        first = await submit(shop, prices_file(tmp_path / "p1.csv", rows), tmp_path, route=route)
        assert first.summary["applied"] == 2
        before = writes(sim)
        second = await submit(shop, prices_file(tmp_path / "p2.csv", rows), tmp_path, route=route)
    assert second.summary["unchanged"] == 2 and second.summary["applied"] == 0
    assert writes(sim) == before  # nothing sent


@pytest.mark.parametrize("route", ["bulk", "direct"])
async def test_own_writes_reach_the_cache_as_answers_arrive(sim: SimShop, tmp_path: Path, route: str) -> None:
    """With --sync-catalog never the second run relies on the cache alone: it knows our writes (from a
    bulk operation's result lines, or a direct answer)."""
    rows = [(sku(9, 0), "43.00", "")]
    async with Shop.connect(sim.url, TOKENS) as shop:
        await submit(shop, prices_file(tmp_path / "p1.csv", rows), tmp_path, route=route)
        request = SubmitRequest(file=tmp_path / "p2.csv", shop=None, route="bulk",
                                state_dir=tmp_path / "state", journal=str(tmp_path / "journal.sqlite3"),
                                lane=FAST_LANE, sync_catalog="never")
        file = prices_file(tmp_path / "p2.csv", rows)
        events: list[tuple[str, dict[str, Any]]] = []
        second = await run_submission(shop, request.run_options(), FileInput(paths=(file,), in_process=True),
                                      input_name=str(file), on_event=lambda n, d: events.append((n, d)))
    assert second.summary["unchanged"] == 1
    assert not [n for n, _ in events if n == "catalog_synced"]


async def test_undo_round_trip_restores_prices_and_compare_at_prices(sim: SimShop, tmp_path: Path) -> None:
    """The issue's case: the cache saw 10.37, another app set 10.00 since; undo restores 10.00."""
    await other_app_sets(sim, 10, 0, "10.37", "14.00")
    await other_app_sets(sim, 10, 1, "20.50", "30.00")
    before = {v: await shop_has(sim, 11, v) for v in range(3)}
    async with Shop.connect(sim.url, TOKENS) as shop:
        # a first run: the cache is synced and sees 10.37
        await submit(shop, prices_file(tmp_path / "seen.csv", [(sku(10, 0), "10.37", "")]), tmp_path)
        await other_app_sets(sim, 10, 0, "10.00", "15.00")  # behind the tool's back: the cache is stale
        await other_app_sets(sim, 10, 1, "20.50", None)
        rows = [(sku(10, 0), "12.34", "20.00"), (sku(10, 1), "5.55", "7.77"),
                *[(sku(11, v), f"{60 + v}.10", "99.00") for v in range(3)]]
        run = await submit(shop, prices_file(tmp_path / "sale.csv", rows), tmp_path)
        assert run.summary["applied"] == 5
        assert await shop_has(sim, 10, 0) == ("12.34", "20.00")
        undo = tmp_path / "sale.undo.jsonl"
        assert undo.is_file() and run.undo_path == undo
        back = await submit(shop, undo, tmp_path)
    assert back.summary["applied"] == 5 and back.summary["rows"] == 5
    assert await shop_has(sim, 10, 0) == ("10.00", "15.00")
    assert await shop_has(sim, 10, 1) == ("20.50", None)
    assert {v: await shop_has(sim, 11, v) for v in range(3)} == before


async def test_a_finished_input_says_when_and_again_sends_what_differs(sim: SimShop, tmp_path: Path) -> None:
    rows = [(sku(12, 0), "44.00", ""), (sku(13, 0), "45.00", "")]
    file = prices_file(tmp_path / "p.csv", rows)
    async with Shop.connect(sim.url, TOKENS) as shop:
        first = await submit(shop, file, tmp_path)
        assert first.summary["applied"] == 2
        await other_app_sets(sim, 12, 0, "99.99")
        events: list[tuple[str, dict[str, Any]]] = []
        same = await submit(shop, file, tmp_path, events=events)
        [done] = [d for n, d in events if n == "already_done"]
        assert done["at"] and same.run_key == first.run_key and same.summary["applied"] == 2
        assert (await shop_has(sim, 12, 0))[0] == "99.99"  # nothing sent
        before = writes(sim)
        again = await submit(shop, file, tmp_path, again=True)
        assert again.run_key != first.run_key
        assert again.summary["applied"] == 1 and again.summary["unchanged"] == 1
        assert writes(sim) - before == 1  # the one variant that differs
        assert (await shop_has(sim, 12, 0))[0] == "44.00"
        # the plain command after --again: the chain's newest run answers, not the first one
        latest = await submit(shop, file, tmp_path)
        assert latest.run_key == again.run_key and latest.summary == again.summary
        # --again after that run finished: a third run, with nothing left to send
        third = await submit(shop, file, tmp_path, again=True)
    assert third.run_key not in (first.run_key, again.run_key) and third.summary["unchanged"] == 2


async def test_two_shops_one_state_dir_keep_their_own_caches_and_run_keys(tmp_path: Path) -> None:
    """The library: the same file on two shops, one state dir and journal — each shop is diffed against
    its own cache and gets its own run."""
    file = prices_file(tmp_path / "p.csv", [(sku(3, 0), "33.00", "")])
    async with SimShop(SimConfig(products=20, tokens=(*TOKENS, OTHER_APP))) as a, \
            SimShop(SimConfig(products=20, tokens=(*TOKENS, OTHER_APP))) as b:
        await other_app_sets(b, 3, 0, "33.00")  # shop B has the value already, shop A does not
        async with Shop.connect(a.url, TOKENS) as shop_a:
            on_a = await submit(shop_a, file, tmp_path)
        async with Shop.connect(b.url, TOKENS) as shop_b:
            assert shop_b.identity != shop_a.identity
            on_b = await submit(shop_b, file, tmp_path)
        assert on_a.summary["applied"] == 1 and on_b.summary["unchanged"] == 1
        assert on_a.run_key != on_b.run_key
        assert len(list((tmp_path / "state" / "catalog").glob("*.sqlite3"))) == 2


async def _cli(*args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulk", "submit", *args, "--json", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "SHOPIFY_ACCESS_TOKENS": ",".join(TOKENS)})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def test_two_shops_one_state_dir_from_the_cli(tmp_path: Path) -> None:
    """`bulk submit` with two --shop spellings of one shop is one cache and one run; another shop is
    another of each."""
    file = prices_file(tmp_path / "p.csv", [(sku(4, 0), "34.00", "")])
    common = ["--state-dir", str(tmp_path / "state"), "--journal", str(tmp_path / "j.sqlite3"),
              "--route", "direct"]
    async with SimShop(SimConfig(products=20, tokens=TOKENS)) as a, \
            SimShop(SimConfig(products=20, tokens=TOKENS)) as b:
        on_a = await _cli(str(file), "--shop", a.url, *common)
        on_a_again = await _cli(str(file), "--shop", a.url.rstrip("/") + "/", *common)  # the same shop
        on_b = await _cli(str(file), "--shop", b.url, *common)
    assert on_a["summary"]["applied"] == 1 and on_b["summary"]["applied"] == 1
    assert on_a_again["run_key"] == on_a["run_key"] != on_b["run_key"]
    assert len(list((tmp_path / "state" / "catalog").glob("*.sqlite3"))) == 2


class Crash(Exception):
    """Stands for a kill at one moment of the run."""


async def test_a_run_interrupted_after_results_were_read_resumes_on_its_first_picture(
        sim: SimShop, tmp_path: Path) -> None:
    """Our applied values are kept as they arrive but become the picture only when the run ends: the
    run planned again after a crash reaches the same decisions (no row turns `unchanged` because its
    own write is now in the cache), and nothing is applied twice."""
    rows = [(sku(p, v), f"{200 + p}.00", "") for p in range(1, 61) for v in range(1 + p % 3)]
    file = prices_file(tmp_path / "big.csv", rows)
    lane = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.05, lease_s=1.0, min_op_lines=5)

    def crash(name: str, data: dict[str, Any]) -> None:
        if name == "shard_done":  # its results are read: outcomes recorded, applied values kept
            raise Crash

    async def run(on_event: Any) -> SubmissionResult:
        request = SubmitRequest(file=file, shop=None, route="bulk", state_dir=tmp_path / "state",
                                journal=str(tmp_path / "journal.sqlite3"), lane=lane)
        async with Shop.connect(sim.url, TOKENS) as shop:
            files = FileInput(paths=(file,), in_process=True)
            return await run_submission(shop, request.run_options(), files, input_name=str(file),
                                        on_event=on_event)

    with pytest.raises(ExceptionGroup) as info:
        await run(crash)
    assert info.group_contains(Crash)
    events: list[str] = []
    result = await run(lambda n, _d: events.append(n))
    assert "catalog_kept" in events and "catalog_synced" not in events
    assert result.summary["applied"] == result.summary["rows"] == len(rows)
    assert sim.state.statistics()["objects_written_more_than_once"] == 0
    again = await run(lambda _n, _d: None)  # finished: nothing planned, nothing sent
    assert again.summary["applied"] == len(rows)
