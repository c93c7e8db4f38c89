"""What issue 14 asks to see, each as a test: a shop THROTTLED for 30 s is waited out (not hammered)
and the run completes; a 3 s 5xx burst in the middle of a bulk run and of a burst of urgent changes
loses nothing and keeps the urgent deadline; a token revoked mid-run leaves the run to the two others,
which says so; a stopped run (shop locked) stops cleanly and the same command resumes once the shop
is back; an urgent change meets its deadline even when the shop never answers."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bulk.cli import main
from bulk.cli._request import SubmitRequest
from bulk.clock import ScaledClock
from bulk.errors import ThrottledError
from bulk.ingest import read_updates
from bulk.journal import RunStatus, UnitState, open_journal
from bulk.lanes.urgent import DEADLINE_CODE, InventoryStatus, UrgentConfig
from bulk.session.shop import Shop, ShopConfig
from bulk.shopify._policy import NORMAL_BUDGET, throttle_wait
from bulk.sim import SimConfig, SimShop
from bulk.submit.root import run_submission
from tests.csv_helpers import seeded_price_csv, status_counts
from tests.fault_harness import ServedSim

TOKENS = ("tok-a", "tok-b", "tok-c")
TOKENS_ARG = ",".join(TOKENS)


def prepared(sim: ServedSim, tmp_path: Path, products: range = range(1, 61)) -> tuple[Path, Path, int]:
    """A price file for ``products`` and a catalog synced from ``sim``: ``(state dir, file, rows)``."""
    state, file = tmp_path / "state", tmp_path / "prices.csv"
    rows = seeded_price_csv(file, products, lambda p, v: f"{500 + p}.{v}5")
    argv = ["catalog", "sync", "--shop", sim.url, "--tokens", TOKENS_ARG, "--state-dir", str(state)]
    assert main(argv) == 0
    return state, file, rows


def bulk_submit(sim: ServedSim, file: Path, state: Path, *more: str) -> list[str]:
    """``bulk submit`` of ``file`` by the bulk route, with the catalog as it is."""
    return ["submit", str(file), "--shop", sim.url, "--tokens", TOKENS_ARG, "--route", "bulk",
            "--state-dir", str(state), "--sync-catalog", "never", *more]


def allowed_attempts(window_s: float, cost: float, restore_rate: float) -> int:
    """Attempts one request makes inside a THROTTLED window when it waits as documented: the first,
    then one after each wait of :func:`throttle_wait` (the answer's refill time, or the lane's
    back-off when longer) that still begins inside the window."""
    answer = ThrottledError("THROTTLED", cost={"requestedQueryCost": cost, "actualQueryCost": None,
                                               "throttleStatus": {"maximumAvailable": 2000.0,
                                                                  "currentlyAvailable": 0.0,
                                                                  "restoreRate": restore_rate}})
    attempts, spent = 1, 0.0
    while True:
        spent += throttle_wait(answer, attempts, NORMAL_BUDGET)
        if spent >= window_s:
            return attempts
        attempts += 1


def test_throttled_to_everything_for_30s_is_waited_out_then_the_run_completes(tmp_path: Path) -> None:
    speed = 20.0
    products = range(3, 12, 3)  # 3 products of 1 variant: 3 direct mutations
    config = SimConfig(products=20, tokens=TOKENS, speed=speed, seed=1, faults=("throttle:at=0,for=30",))
    with ServedSim(config) as sim:
        state, file, rows = prepared(sim, tmp_path, products)
        sim.arm()
        report = tmp_path / "report.csv"

        async def submit() -> Any:
            # the client's waits on the shop's (sped-up) clock: the rehearsal of a real 30 s window
            request = SubmitRequest(file=file, shop=sim.url, tokens=TOKENS, route="direct", state_dir=state,
                                    journal=str(tmp_path / "j.sqlite3"), report=report, sync_catalog="never")
            async with Shop.connect(sim.url, TOKENS, clock=ScaledClock(speed)) as shop:
                return await run_submission(shop, request.run_options(), read_updates(file),
                                            input_name=str(file), on_event=lambda _n, _d: None)

        result = asyncio.run(submit())
        stats = sim.stats()
    assert result.summary["applied"] == rows and status_counts(report) == {"applied": rows}
    tokens = stats["tokens"]
    in_window = [[a for a in t["recent"] if a[0] < 30.0] for t in tokens]
    throttled = sum(1 for attempts in in_window for a in attempts if a[3] == "throttle")
    cost = 10.2  # productVariantsBulkUpdate of one variant, as the shop charges it
    allowed = rows * allowed_attempts(30.0, cost, tokens[0]["restore_rate"])
    assert rows <= throttled <= allowed + 3, (throttled, allowed)  # within a few, not hundreds
    print(f"THROTTLED answers in the window: {throttled}; the documented waits allow {allowed}")


def test_a_3s_5xx_burst_in_the_middle_of_a_bulk_run_loses_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = SimConfig(products=60, tokens=TOKENS, speed=10.0, seed=2, bulk_lines_per_s=30.0,
                       faults=("5xx:at=3,for=3",))
    with ServedSim(config) as sim:
        state, file, rows = prepared(sim, tmp_path)
        sim.arm()
        report = tmp_path / "report.csv"
        code = main(bulk_submit(sim, file, state, "--report", str(report)))
        stats = sim.stats()
    err = capsys.readouterr().err
    assert code == 0, err
    assert status_counts(report) == {"applied": rows}  # nothing rejected
    recent = [a for t in stats["tokens"] for a in t["recent"]]
    assert any(a[2] == "503" for a in recent)  # the burst was met…
    assert any(a[2] == "200" and a[0] > 6.0 for a in recent)  # …and the run went on after it
    assert stats["state"]["bulk_by_status"].get("COMPLETED", 0) >= 2


async def test_a_3s_5xx_burst_in_a_burst_of_urgent_changes_applies_all_within_the_deadline() -> None:
    deadline = 10.0
    config = ShopConfig(urgent=UrgentConfig(deadline_s=deadline))
    async with SimShop(SimConfig(products=40, tokens=TOKENS, faults=("5xx:at=1,for=3",))) as sim, \
            Shop.connect(sim.url, TOKENS, config=config) as shop:
        latencies: list[float] = []
        results: list[Any] = []

        async def change(n: int) -> None:
            asked = time.monotonic()
            [result] = await shop.inventory.set([{"sku": f"SKU-{n:07d}-0", "location_name": "Main Warehouse",
                                                  "quantity": 100 + n}])
            latencies.append(time.monotonic() - asked)
            results.append(result)

        async with asyncio.TaskGroup() as tg:  # 10 changes every 0.5 s for 5 s: through the burst
            for wave in range(10):
                for n in range(1 + wave * 3, 4 + wave * 3):
                    tg.create_task(change(n))
                await asyncio.sleep(0.5)
        stats = sim.stats()
    assert [r.status for r in results] == [InventoryStatus.APPLIED] * len(results)
    assert max(latencies) < deadline
    assert sum(t["statuses"].get("503", 0) for t in stats["tokens"]) >= 1  # the burst was met


def test_a_token_revoked_mid_run_leaves_the_run_to_the_two_others_which_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # token #0 (the first the lane uses) answers its first 3 requests (a staged upload, a start, a
    # poll), then 401 forever: its operation cannot be polled any more, and its shard goes again on
    # another token
    config = SimConfig(products=60, tokens=TOKENS, speed=10.0, seed=3, bulk_lines_per_s=30.0,
                       faults=("revoke:token=0,after=3",))
    with ServedSim(config) as sim:
        state, file, rows = prepared(sim, tmp_path)
        before = sim.stats()["tokens"][0]["statuses"].get("200", 0)  # the catalog sync's
        sim.arm()
        report = tmp_path / "report.csv"
        code = main(bulk_submit(sim, file, state, "--report", str(report)))
        stats = sim.stats()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert status_counts(report) == {"applied": rows}
    assert "access token #0 was refused" in captured.err  # the event, as it happens
    assert re.search(r"tokens refused\s*│\s*#0", captured.out)  # and the summary
    revoked = stats["tokens"][0]["statuses"]
    assert revoked["200"] - before == 3  # a staged upload, a start, a poll
    assert 1 <= revoked.get("401", 0) <= 3  # found out once, then out for the run
    others = [stats["tokens"][t]["statuses"].get("200", 0) for t in (1, 2)]
    assert sum(others) > 0


def test_a_locked_shop_stops_the_run_cleanly_and_the_same_command_resumes_when_it_is_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = SimConfig(products=60, tokens=TOKENS, speed=10.0, seed=4, bulk_lines_per_s=30.0,
                       faults=("locked:at=0,for=20",))
    with ServedSim(config) as sim:
        state, file, rows = prepared(sim, tmp_path)
        journal = str(tmp_path / "journal.sqlite3")
        report = str(tmp_path / "report.csv")
        # an hour's lease: had the stopped run kept a unit, the same command would wait for it to end,
        # far past this test's timeout, whatever the load of the box (no wall-clock bound needed)
        command = bulk_submit(sim, file, state, "--journal", journal, "--report", report, "--lease-s", "3600")
        sim.arm()
        code = main(command)
        err = capsys.readouterr().err
        run, units = asyncio.run(_run_and_units(journal))
        assert code == 2 and "Traceback" not in err
        [line] = [ln for ln in err.splitlines() if ln.startswith("bulk: error:")]
        assert "the shop is locked (HTTP 423 Locked): 'This store is unavailable'" in line
        assert run.status is RunStatus.FAILED and run.error and "HTTP 423" in run.error
        assert units and all(u.state in (UnitState.PENDING, UnitState.SUBMITTED) and u.lease_owner is None
                             for u in units)  # every unit given back
        assert (tmp_path / "report.csv").exists()
        refused = sum(t["statuses"].get("423", 0) for t in sim.stats()["tokens"])
        assert 1 <= refused <= 8  # stopped at once, no hammering
        while sim.call(lambda shop: shop.clock.now() - shop.app.started) < 20.5:  # the lock ends
            time.sleep(0.05)
        code = main(command)  # at once: nothing waits for a lease to expire
        run, _ = asyncio.run(_run_and_units(journal))
    assert code == 0, capsys.readouterr().err
    assert run.status is RunStatus.DONE
    assert status_counts(tmp_path / "report.csv") == {"applied": rows}


async def _run_and_units(journal_url: str) -> tuple[Any, list[Any]]:
    async with open_journal(journal_url) as journal:
        (run,) = await journal.list_runs()
        return run, await journal.list_units(run.run_id)


async def test_an_urgent_change_meets_its_deadline_when_the_shop_never_answers() -> None:
    config = ShopConfig(urgent=UrgentConfig(deadline_s=1.0))
    async with SimShop(SimConfig(products=20, tokens=TOKENS, faults=("hang:at=0",))) as sim, \
            Shop.connect(sim.url, TOKENS, config=config) as shop:
        started = time.monotonic()
        [result] = await shop.inventory.set([{"inventory_item_id": "gid://shopify/InventoryItem/10",
                                              "location_id": "gid://shopify/Location/1", "quantity": 3}])
        took = time.monotonic() - started
    assert result.status is InventoryStatus.REJECTED and result.code == DEADLINE_CODE
    assert "within the 1s deadline" in (result.reason or "")
    # the shop holds the request until we give up: without the deadline the call would wait out the
    # transport's 30 s timeout (a bound far from both, so a loaded box cannot fail it)
    assert took < 10
