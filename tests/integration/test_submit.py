"""``bulk submit`` end to end against the simulated shop: outcomes, resume, LIMIT_REACHED, retries."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from bulk.cli._request import SubmitRequest
from bulk.lanes.bulk import BulkLaneConfig
from bulk.session.shop import Shop
from bulk.sim import SimConfig, SimShop
from bulk.submit.root import run_submission
from tests.csv_helpers import price_csv

TOKENS = ("tok-a", "tok-b", "tok-c")


def catalog_rows(products: range) -> list[tuple[str, str]]:
    """A new price (never the current one: those are below 100) for every variant of the simulated
    catalog, where product p has 1 + p % 3 variants."""
    return [(f"SKU-{p:07d}-{v}", f"{100 + (p % 40)}.{v}0") for p in products for v in range(1 + p % 3)]


@pytest.fixture
async def sim() -> AsyncIterator[SimShop]:
    async with SimShop(SimConfig(products=400, tokens=TOKENS, seed=7)) as shop:
        yield shop


async def submit(
    sim: SimShop, file: Path, tmp_path: Path, *, on_event: Any = None, lane: BulkLaneConfig | None = None
) -> Any:
    from bulk.ingest import read_updates

    request = SubmitRequest(
        file=file,
        shop=sim.url,
        tokens=TOKENS,
        route="bulk",
        state_dir=tmp_path / "state",
        journal=str(tmp_path / "journal.sqlite3"),
        # a crashing run's claims end soon after it (1 s), so the next run takes over at once; any
        # other run's claims last (a 1 s lease of a live run lapsed under load: LeaseLostError)
        lane=lane or BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1, lease_s=1.0 if on_event else 30.0),
    )

    async with Shop.connect(sim.url, TOKENS) as shop:
        return await run_submission(
            shop,
            request.run_options(),
            read_updates(file),
            input_name=str(file),
            on_event=on_event or (lambda _n, _d: None),
        )


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


async def test_every_row_ends_in_exactly_one_outcome(sim: SimShop, tmp_path: Path) -> None:
    rows = catalog_rows(range(1, 201))
    rows.append(("SKU-0009999-0", "10.00"))  # unknown SKU
    rows.append(("SKU-0000001-0", "-3"))  # bad price
    file = price_csv(tmp_path / "prices.csv", rows)
    result = await submit(sim, file, tmp_path)
    report = report_rows(result.report_path)
    assert [int(r["line"]) for r in report] == list(range(2, len(rows) + 2))
    statuses = [r["status"] for r in report]
    assert statuses.count("rejected") == 2 and statuses.count("applied") == len(rows) - 2
    stats = sim.state.statistics()
    assert stats["objects_written"] == len(rows) - 2
    assert stats["objects_written_more_than_once"] == 0


async def test_the_same_input_again_after_it_finished_sends_nothing_and_reports_that_run(
        sim: SimShop, tmp_path: Path) -> None:
    rows = [*catalog_rows(range(1, 51)), ("SKU-0009999-0", "10.00")]  # one unknown SKU
    file = price_csv(tmp_path / "prices.csv", rows)
    first = await submit(sim, file, tmp_path)
    written = sim.state.statistics()["objects_written"]
    first_report = report_rows(first.report_path)
    first.report_path.unlink()
    events: list[str] = []
    again = await submit(sim, file, tmp_path, on_event=lambda name, _data: events.append(name))
    assert "already_done" in events and "shard_started" not in events
    assert sim.state.statistics()["objects_written"] == written  # nothing sent twice
    assert again.outcomes == first.outcomes and again.summary == first.summary
    assert again.rejected == 1  # the CLI's exit status follows the finished run's outcomes
    assert report_rows(again.report_path) == first_report  # the report is written again


class Crash(Exception):
    """Stands for a kill in the middle of a run."""


async def test_a_crash_after_the_start_resumes_without_applying_twice(sim: SimShop, tmp_path: Path) -> None:
    file = price_csv(tmp_path / "prices.csv", catalog_rows(range(1, 301)))

    def crash(name: str, data: dict[str, Any]) -> None:
        if name == "shard_started":  # the operation runs on the shop and the journal knows it
            raise Crash

    with pytest.raises(ExceptionGroup) as info:
        await submit(sim, file, tmp_path, on_event=crash)
    assert info.group_contains(Crash)
    # the same command again: the operation already started is adopted, not started twice
    result = await submit(sim, file, tmp_path)
    assert result.summary["applied"] == result.summary["rows"] == len(catalog_rows(range(1, 301)))
    stats = sim.state.statistics()
    assert stats["objects_written_more_than_once"] == 0
    from bulk.journal import open_journal

    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        (run,) = await journal.list_runs()
        shards = await journal.list_units(run.run_id)
    # the catalog export, then exactly one operation per shard: none was started twice
    assert len(shards) > 1 and stats["bulk_by_status"] == {"COMPLETED": 1 + len(shards)}


async def test_the_run_is_done_before_its_report_and_a_kill_then_loses_nothing(
        sim: SimShop, tmp_path: Path) -> None:
    """The run's end is not held by its report: ``run_done`` comes once every row's outcome is in the
    journal (the run DONE), before the report and the catalog's new picture are written. Killed right
    then, the same command again sends nothing and writes both."""
    from decimal import Decimal

    from bulk.catalog import CatalogStore
    from bulk.journal import RunStatus, open_journal
    from bulk.submit.options import shop_id

    rows = catalog_rows(range(1, 101))
    file = price_csv(tmp_path / "prices.csv", rows)
    report = tmp_path / "state" / "reports"

    def killed_when_done(name: str, data: dict[str, Any]) -> None:
        if name == "run_done":
            assert not list(report.glob("*.report.csv"))  # not written yet: it does not hold the end
            raise Crash

    with pytest.raises(Crash):
        await submit(sim, file, tmp_path, on_event=killed_when_done)
    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        (run,) = await journal.list_runs()
        assert run.status is RunStatus.DONE and run.counters.applied == len(rows)
    written = sim.state.statistics()["objects_written"]
    events: list[str] = []
    again = await submit(sim, file, tmp_path, on_event=lambda name, _data: events.append(name))
    assert "already_done" in events and sim.state.statistics()["objects_written"] == written
    assert [r["status"] for r in report_rows(again.report_path)] == ["applied"] * len(rows)
    with CatalogStore(tmp_path / "state" / "catalog" / f"{shop_id(sim.url)}.sqlite3") as store:
        sku, price = rows[0]
        assert store.variants_by_sku([sku])[sku].price == Decimal(price)  # type: ignore[union-attr]


async def test_a_crash_while_still_planning_resumes_without_applying_twice(
        sim: SimShop, tmp_path: Path) -> None:
    """Shards are cut while the source is still read: after a crash, the lines already in a shard stay
    with it (its operation is adopted) and only the others are cut again."""
    import asyncio

    from bulk.ingest import read_updates
    from bulk.journal import open_journal

    first = price_csv(tmp_path / "first.csv", catalog_rows(range(1, 151)))
    second = price_csv(tmp_path / "second.csv", catalog_rows(range(151, 301)))
    started = asyncio.Event()

    def crash(name: str, data: dict[str, Any]) -> None:
        if name == "shard_started":
            started.set()
            raise Crash

    async def source(wait: bool) -> AsyncIterator[list[Any]]:
        yield list(read_updates(first))
        if wait:
            await started.wait()  # the second part only comes once the first operation runs
        yield list(read_updates(second))

    async def run(wait: bool, on_event: Any, lease_s: float) -> Any:
        request = SubmitRequest(file=first, shop=sim.url, tokens=TOKENS, route="bulk", run_key="two-parts",
                                state_dir=tmp_path / "state", journal=str(tmp_path / "journal.sqlite3"),
                                lane=BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1, lease_s=lease_s))
        async with Shop.connect(sim.url, TOKENS) as shop:
            return await run_submission(shop, request.run_options(), source(wait), input_name="two-parts",
                                        on_event=on_event)

    with pytest.raises(ExceptionGroup) as info:
        await run(True, crash, 1.0)  # the crashed run's claims end soon after it
    assert info.group_contains(Crash)
    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        (before,) = await journal.list_units((await journal.list_runs())[0].run_id)
    # the resuming run's own claims last: a 1 s lease lapsed under load (LeaseLostError, fence 2)
    result = await run(False, lambda _n, _d: None, 30.0)
    rows = len(catalog_rows(range(1, 301)))
    assert result.summary["applied"] == result.summary["rows"] == rows
    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        shards = await journal.list_units((await journal.list_runs())[0].run_id)
    assert before.client_identifier in {u.client_identifier for u in shards} and len(shards) > 1
    stats = sim.state.statistics()
    assert stats["objects_written_more_than_once"] == 0 and stats["objects_written"] == rows
    assert stats["bulk_by_status"] == {"COMPLETED": 1 + len(shards)}  # the export, one per shard


async def run_lane(
    sim: SimShop,
    tmp_path: Path,
    rows: list[tuple[str, str]],
    *,
    shards: int,
    lane: BulkLaneConfig,
    bulk_fault_rate: float = 0.0,
) -> tuple[Any, list[Any]]:
    """Plan ``rows`` into ``shards`` shards and drain them with a lane of its own."""
    import aiohttp

    from bulk.catalog import CatalogStore
    from bulk.catalog.sync import sync_catalog
    from bulk.ingest import read_updates
    from bulk.journal import NewUnit, UnitKind, open_journal
    from bulk.lanes.bulk import BulkLane
    from bulk.lanes.bulk.shop_port import ShopBulkOps
    from bulk.models import PriceUpdate
    from bulk.plan import Coalescer, build_plan, write_shards

    file = price_csv(tmp_path / "prices.csv", rows)
    async with Shop.connect(sim.url, TOKENS) as shop, aiohttp.ClientSession() as session:
        port = ShopBulkOps(shop.client, session)
        with CatalogStore(tmp_path / "catalog.sqlite3") as catalog:
            await sync_catalog(port, catalog, poll_s=0.02)
            coalescer = Coalescer()
            for item in read_updates(file):
                assert isinstance(item, PriceUpdate)
                coalescer.add(item)
            plan = build_plan(coalescer, catalog)
        from bulk.sim._operations import ShopState

        cast(ShopState, sim.state).engine.fault_rate = bulk_fault_rate  # from now on ops may die part-way
        written = write_shards(plan.lines, tmp_path / "shards", shards=shards)
        async with open_journal(tmp_path / "journal.sqlite3") as journal:
            run, _ = await journal.create_run("k", input_name="prices.csv", input_hash="h", options={})
            await journal.add_units(
                run.run_id,
                [
                    NewUnit(UnitKind.BULK_SHARD, f"k/{i}", s.lines, payload_path=str(s.path))
                    for i, s in enumerate(written)
                ],
            )
            lane_ = BulkLane(port, journal, lane, worker_id="w")
            await lane_.drain(run.run_id)
            return lane_, await journal.list_outcomes(run.run_id)


async def test_more_shards_than_slots_wait_for_limit_reached(sim: SimShop, tmp_path: Path) -> None:
    rows = catalog_rows(range(1, 401))
    # one token, and a lane that believes in 8 slots: the shop's LIMIT_REACHED must hold it back
    lane = BulkLaneConfig(
        tokens=1, ops_per_token=8, limit_backoff_s=0.02, poll_initial_s=0.02, poll_max_s=0.05
    )
    lane_, outcomes = await run_lane(sim, tmp_path, rows, shards=8, lane=lane)
    assert len(outcomes) == len(rows)
    assert {o.status.value for o in outcomes} == {"applied"}
    assert len([op for op in lane_.operations if op.status == "COMPLETED"]) == 8
    assert sim.state.statistics()["bulk_by_status"] == {"COMPLETED": 9}  # 8 shards + the export
    assert sim.state.statistics()["objects_written_more_than_once"] == 0


async def test_lines_of_failed_operations_are_retried_then_rejected(tmp_path: Path) -> None:
    rows = catalog_rows(range(1, 201))
    lane = BulkLaneConfig(max_attempts=3, poll_initial_s=0.02, poll_max_s=0.05)
    async with SimShop(SimConfig(products=200, tokens=TOKENS, seed=11)) as sim:
        # every bulk mutation dies part-way: lines left unprocessed go round again, then are rejected
        lane_, outcomes = await run_lane(sim, tmp_path, rows, shards=2, lane=lane, bulk_fault_rate=1.0)
        assert sim.state.statistics()["objects_written_more_than_once"] == 0
    assert len(outcomes) == len(rows)  # every row once, applied by a partial result or rejected
    rejected = [o for o in outcomes if o.status.value == "rejected"]
    assert rejected and all(
        "not applied after 3 bulk operations (FAILED" in (o.reason or "") for o in rejected
    )
    assert sum(op.status == "FAILED" for op in lane_.operations) >= 3


async def test_a_holder_killed_right_after_the_start_is_adopted_by_the_next(
    sim: SimShop, tmp_path: Path
) -> None:
    """The narrowest window: the shop accepted bulkOperationRunMutation, the holder died before the
    journal knew. The next claimant finds the operation by its clientIdentifier and adopts it."""
    import aiohttp

    from bulk.catalog import CatalogStore
    from bulk.catalog.sync import sync_catalog
    from bulk.clock import ManualClock
    from bulk.ingest import read_updates
    from bulk.journal import NewUnit, UnitKind
    from bulk.journal._sqlite import SqliteJournal
    from bulk.lanes.bulk import BulkLane
    from bulk.lanes.bulk.shop_port import ShopBulkOps
    from bulk.models import PriceUpdate
    from bulk.plan import Coalescer, build_plan, write_shards

    class Killed(Exception):
        """Stands for SIGKILL right after the shop answered."""

    class DiesAfterStart(ShopBulkOps):
        async def start(
            self, kind: str, staged_path: str, *, client_identifier: str, token_index: int
        ) -> str:
            await super().start(
                kind, staged_path, client_identifier=client_identifier, token_index=token_index
            )
            raise Killed

    rows = catalog_rows(range(1, 101))
    file = price_csv(tmp_path / "prices.csv", rows)
    clock = ManualClock(start=1_000_000.0)
    lane = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.05, lease_s=30.0)
    async with Shop.connect(sim.url, TOKENS) as shop, aiohttp.ClientSession() as session:
        with CatalogStore(tmp_path / "catalog.sqlite3") as catalog:
            await sync_catalog(ShopBulkOps(shop.client, session), catalog, poll_s=0.02)
            coalescer = Coalescer()
            for item in read_updates(file):
                assert isinstance(item, PriceUpdate)
                coalescer.add(item)
            plan = build_plan(coalescer, catalog)
        (shard,) = write_shards(plan.lines, tmp_path / "shards", shards=1)
        async with SqliteJournal(tmp_path / "journal.sqlite3", clock=clock) as journal:
            run, _ = await journal.create_run("k", input_name="prices.csv", input_hash="h", options={})
            await journal.add_units(
                run.run_id, [NewUnit(UnitKind.BULK_SHARD, "k/0", shard.lines, payload_path=str(shard.path))]
            )
            first = BulkLane(DiesAfterStart(shop.client, session), journal, lane, worker_id="dies")
            with pytest.raises(ExceptionGroup) as info:
                await first.drain(run.run_id)
            assert info.group_contains(Killed)
            (unit,) = await journal.list_units(run.run_id)
            assert unit.remote_id is None  # the journal never heard of the operation
            clock.advance(31)  # the dead holder's lease ends
            second = BulkLane(ShopBulkOps(shop.client, session), journal, lane, worker_id="next")
            await second.drain(run.run_id)
            outcomes = await journal.list_outcomes(run.run_id)
    assert len(outcomes) == len(rows) and {o.status.value for o in outcomes} == {"applied"}
    stats = sim.state.statistics()
    assert stats["bulk_by_status"] == {"COMPLETED": 2}  # the export and the ONE mutation
    assert stats["objects_written_more_than_once"] == 0


async def test_a_held_line_goes_when_the_operation_before_it_completed_not_after_its_results(
    sim: SimShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A product's second line waits for its first (last write wins), but only until the shop has
    processed the first: reading 15 operations' results takes seconds the second line need not wait."""
    from bulk.ingest import read_updates
    from bulk.lanes.bulk.shop_port import ShopBulkOps

    first = price_csv(tmp_path / "first.csv", catalog_rows(range(1, 11)))
    second = price_csv(tmp_path / "second.csv", [("SKU-0000005-2", "777.00")])  # product 5 again
    planned, released = asyncio.Event(), asyncio.Event()
    results = ShopBulkOps.results

    async def slow_results(self: ShopBulkOps, url: str) -> AsyncIterator[dict[str, Any]]:
        # the first operation's results are read only once the held line went (the catalog's export,
        # before anything is planned, is read at once). No timeout: on a loaded box the line may take
        # any time to go; if it waited for these results instead, the run stops here for good, and
        # the hang guard below fails the test
        if planned.is_set():
            await released.wait()
        async for line in results(self, url):
            yield line

    monkeypatch.setattr(ShopBulkOps, "results", slow_results)
    order: list[str] = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "pooled":
            planned.set()
        if name == "pooled" and data["lines"] == 1:
            order.append("held line pooled")
            released.set()
        elif name == "shard_done":
            order.append("results read")

    async def source() -> AsyncIterator[list[Any]]:
        yield list(read_updates(first))
        yield list(read_updates(second))

    request = SubmitRequest(file=first, shop=sim.url, tokens=TOKENS, route="bulk", run_key="held",
                            state_dir=tmp_path / "state", journal=str(tmp_path / "journal.sqlite3"),
                            lane=BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1, lease_s=5.0))
    async with Shop.connect(sim.url, TOKENS) as shop, asyncio.timeout(120):  # a hang guard, not a budget
        result = await run_submission(shop, request.run_options(), source(), input_name="held",
                                      on_event=on_event)
    assert order[0] == "held line pooled"
    assert result.summary["applied"] == result.summary["rows"] == len(catalog_rows(range(1, 11))) + 1
    from bulk.sim._operations import ShopState

    variant = cast(ShopState, sim.state).nodes.variant(5 * 10 + 2)  # product 5's third: the later line won
    assert variant is not None and variant["price"] == "777.00"


@pytest.mark.parametrize("status, objects", [("FAILED", 10), ("COMPLETED", 9), ("CANCELED", 10)])
def test_a_held_line_waits_for_the_results_when_a_line_may_be_retried(status: str, objects: int) -> None:
    from bulk.lanes.bulk.reconcile import all_processed

    assert all_processed("COMPLETED", 10, 10)
    assert not all_processed(status, objects, 10)
