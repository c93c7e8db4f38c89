"""Fleet workers over the real Postgres journal and Redis scheduler, against the simulated shop.

What users rely on: ``bulk submit --database-url`` only enqueues; workers apply every row exactly once
and mark the run done; SIGTERM (``Worker.stop``) gives held shards back at once so another worker
adopts the running bulk operation; direct batches are shared the same way.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from bulk.cli._request import SubmitRequest, submit_file
from bulk.fleet.worker import Worker, WorkerConfig
from bulk.journal import Journal, RunStatus, UnitKind, UnitState, open_journal
from bulk.journal.migrations import upgrade_postgres
from bulk.lanes.bulk import BulkLaneConfig
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.connect import shop_session
from bulk.sim import SimConfig, SimShop
from bulk.sim._operations import ShopState

TOKENS = ("tok-a", "tok-b", "tok-c")
FAST_LANE = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1, lease_s=5.0, idle_wait_s=0.05)


def price_csv(path: Path, products: range) -> tuple[Path, int]:
    """New prices for every variant of ``products`` (product p has 1 + p % 3 variants)."""
    rows = [(f"SKU-{p:07d}-{v}", f"{100 + p % 40}.{v}0") for p in products for v in range(1 + p % 3)]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "price"])
        w.writerows(rows)
    return path, len(rows)


@pytest.fixture
async def db(database_url: str) -> str:
    await upgrade_postgres(database_url)
    return database_url


@pytest.fixture
async def sim() -> AsyncIterator[SimShop]:
    async with SimShop(SimConfig(products=300, tokens=TOKENS, seed=3)) as shop:
        yield shop


async def enqueue(sim: SimShop, file: Path, tmp_path: Path, db: str, redis_url: str,
                  route: Any = "bulk") -> str:
    request = SubmitRequest(file=file, shop=sim.url, tokens=TOKENS, route=route, state_dir=tmp_path / "state",
                            database_url=db, redis_url=redis_url, lane=FAST_LANE)
    result = await submit_file(request)
    return result.run_key


async def run_worker(sim: SimShop, db: str, redis_url: str, config: WorkerConfig,
                     started: asyncio.Event | None = None) -> Worker:
    def on_event(name: str, _data: dict[str, Any]) -> None:
        if name == "shard_started" and started is not None:
            started.set()

    async with shop_session(sim.url, TOKENS, redis_url=redis_url) as shop, \
            aiohttp.ClientSession() as session, open_journal(db) as journal:
        worker = Worker(journal=journal, port=ShopBulkOps(shop.client, session), requester=shop.client,
                        config=config, on_event=on_event)
        if started is not None:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(worker.run())
                await started.wait()
                worker.stop()
        else:
            await worker.run()
    return worker


async def only_run(journal: Journal) -> Any:
    (run,) = await journal.list_runs()
    return run


async def test_submit_enqueues_and_a_draining_worker_applies_every_row_once(
        sim: SimShop, tmp_path: Path, db: str, redis_url: str) -> None:
    file, rows = price_csv(tmp_path / "prices.csv", range(1, 201))
    await enqueue(sim, file, tmp_path, db, redis_url)
    async with open_journal(db) as journal:
        run = await only_run(journal)
        assert run.status is RunStatus.RUNNING and run.counters.rows_finished == 0  # only enqueued
        units = await journal.list_units(run.run_id)
        assert units and all(u.payload is not None for u in units)  # inline: workers share no disk
    worker = await run_worker(sim, db, redis_url, WorkerConfig(worker_id="w1", drain=True, lane=FAST_LANE,
                                                               idle_wait_s=0.05))
    async with open_journal(db) as journal:
        run = await only_run(journal)
        assert run.status is RunStatus.DONE
        assert run.counters.applied == rows and run.counters.rows_finished == rows
        assert [w.worker_id for w in await journal.list_workers()] == ["w1"]
    assert sim.state.statistics()["objects_written_more_than_once"] == 0
    assert worker.statistics().held == 0 and worker.statistics().runs_finished == 1


async def test_stop_gives_the_running_operation_back_for_another_worker_to_adopt(
        tmp_path: Path, db: str, redis_url: str) -> None:
    async with SimShop(SimConfig(products=300, tokens=TOKENS, seed=3)) as sim:
        file, rows = price_csv(tmp_path / "prices.csv", range(1, 101))
        await enqueue(sim, file, tmp_path, db, redis_url)
        # slow bulk operations from now on: the shard still runs on the shop when the worker stops
        cast(ShopState, sim.state).engine.seconds_per_line *= 20
        started = asyncio.Event()
        first = await run_worker(sim, db, redis_url, WorkerConfig(worker_id="w1", lane=FAST_LANE),
                                 started=started)
        assert first.statistics().released == 1 and first.statistics().held == 0
        async with open_journal(db) as journal:
            run = await only_run(journal)
            (unit,) = await journal.list_units(run.run_id, state=UnitState.SUBMITTED)
            assert unit.lease_owner is None and unit.remote_id  # adoptable at once, not after the lease
        await run_worker(sim, db, redis_url, WorkerConfig(worker_id="w2", drain=True, lane=FAST_LANE,
                                                          idle_wait_s=0.05))
        async with open_journal(db) as journal:
            run = await only_run(journal)
            assert run.status is RunStatus.DONE and run.counters.applied == rows
        stats = sim.state.statistics()
        assert stats["objects_written_more_than_once"] == 0
        assert stats["bulk_by_status"].get("COMPLETED") == 2  # the catalog export + the one shard


async def test_direct_batches_are_shared_by_workers(sim: SimShop, tmp_path: Path, db: str,
                                                    redis_url: str) -> None:
    from bulk.lanes.direct import direct_units
    from bulk.plan import PlannedLine

    lines = [PlannedLine("variants", {"productId": f"gid://shopify/Product/{p}", "variants": [
        {"id": f"gid://shopify/ProductVariant/{p * 10}", "price": f"{200 + p}.00"}]}, (("in.csv", p + 1),))
        for p in range(1, 61)]
    async with open_journal(db) as journal:
        run, _ = await journal.create_run("direct", input_name="in.csv", input_hash="h", options={})
        await journal.add_units(run.run_id, direct_units("direct", lines, batch=10))
        await journal.set_run_status(run.run_id, RunStatus.RUNNING)
    config = WorkerConfig(drain=True, lane=FAST_LANE, idle_wait_s=0.05, direct_concurrency=4)
    async with asyncio.TaskGroup() as tg:
        for i in range(2):
            tg.create_task(run_worker(sim, db, redis_url, WorkerConfig(**{**config.__dict__,
                                                                          "worker_id": f"d{i}"})))
    async with open_journal(db) as journal:
        run = await only_run(journal)
        assert run.status is RunStatus.DONE and run.counters.applied == 60
        units = await journal.list_units(run.run_id)
        assert {u.kind for u in units} == {UnitKind.DIRECT_BATCH}
    assert sim.state.statistics()["objects_written_more_than_once"] == 0
    assert sim.stats()["concurrency"]["violations"] == 0


async def test_a_fleet_submission_on_the_direct_route_sends_nothing_itself(
        sim: SimShop, tmp_path: Path, db: str, redis_url: str) -> None:
    """With --database-url the submitting process only plans and enqueues: its direct lines become
    journal units that the workers send; the shop sees no request from it."""
    file, rows = price_csv(tmp_path / "prices.csv", range(1, 41))
    first = await enqueue(sim, file, tmp_path, db, redis_url, route="bulk")  # fills the catalog cache
    await run_worker(sim, db, redis_url, WorkerConfig(worker_id="w0", drain=True, lane=FAST_LANE,
                                                      idle_wait_s=0.05))
    file, rows = price_csv(tmp_path / "again.csv", range(41, 81))
    before = sim.stats()["totals"]["requests"]
    request = SubmitRequest(file=file, shop=sim.url, tokens=TOKENS, route="direct", sync_catalog="never",
                            state_dir=tmp_path / "state", database_url=db, redis_url=redis_url,
                            lane=FAST_LANE)
    result = await submit_file(request)
    assert sim.stats()["totals"]["requests"] == before  # the submitter sent nothing
    async with open_journal(db) as journal:
        run = next(r for r in await journal.list_runs() if r.run_key == result.run_key)
        units = await journal.list_units(run.run_id)
        assert units and {u.kind for u in units} == {UnitKind.DIRECT_BATCH}
        assert run.counters.rows_finished == 0  # only enqueued
    await run_worker(sim, db, redis_url, WorkerConfig(worker_id="w1", drain=True, lane=FAST_LANE,
                                                      idle_wait_s=0.05))
    async with open_journal(db) as journal:
        run = next(r for r in await journal.list_runs() if r.run_key == result.run_key)
        assert run.status is RunStatus.DONE and run.counters.applied == rows
        assert first != result.run_key
    assert sim.state.statistics()["objects_written_more_than_once"] == 0


async def test_an_idle_worker_is_woken_by_new_units_not_by_polling(sim: SimShop, db: str,
                                                                  redis_url: str) -> None:
    """The worker's fallback re-check is an hour away: only the journal's notice can wake it."""
    from bulk.journal import PostgresJournal
    from bulk.lanes.direct import direct_units
    from bulk.plan import PlannedLine

    class Watched(PostgresJournal):
        idle = asyncio.Event()

        async def wait_for_work(self, mark: int) -> None:
            self.idle.set()
            await super().wait_for_work(mark)

    lines = [PlannedLine("variants", {"productId": f"gid://shopify/Product/{p}", "variants": [
        {"id": f"gid://shopify/ProductVariant/{p * 10}", "price": f"{300 + p}.00"}]}, (("in.csv", p + 1),))
        for p in range(1, 11)]
    async with shop_session(sim.url, TOKENS, redis_url=redis_url) as shop, \
            aiohttp.ClientSession() as session, Watched(db) as journal, open_journal(db) as writer:
        done = asyncio.Event()
        worker = Worker(journal=journal, port=ShopBulkOps(shop.client, session), requester=shop.client,
                        config=WorkerConfig(worker_id="idle", lane=FAST_LANE, idle_wait_s=3600),
                        on_event=lambda name, _data: done.set() if name == "run_done" else None)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(worker.run())
            await asyncio.wait_for(Watched.idle.wait(), 10)  # nothing to do: it waits
            run, _ = await writer.create_run("late", input_name="in.csv", input_hash="h", options={})
            await writer.add_units(run.run_id, direct_units("late", lines, batch=5))
            await writer.set_run_status(run.run_id, RunStatus.RUNNING)
            try:
                await asyncio.wait_for(done.wait(), 30)
            finally:
                worker.stop()
            await task
        assert (await writer.get_run(run.run_id)).counters.applied == 10
    assert worker.statistics().claimed == 2


async def test_a_worker_claims_its_next_direct_batch_while_the_last_lines_of_one_are_in_flight(
        db: str) -> None:
    """A prefetch of one: once a batch has no line left to start, the next batch's senders queue
    for permits at once, rather than after the batch's last answer and its journal writes."""
    from bulk.lanes.direct import direct_units
    from bulk.plan import PlannedLine

    lines = [PlannedLine("variants", {"productId": f"gid://shopify/Product/{p}", "variants": [
        {"id": f"gid://shopify/ProductVariant/{p * 10}", "price": "1.00"}]}, (("in.csv", p + 1),))
        for p in range(1, 5)]
    last_of_first = "gid://shopify/Product/2"  # batch 1 is products 1-2, batch 2 is products 3-4
    hold = asyncio.Event()
    asked: list[str] = []

    class Gated:
        async def request(self, document: str, variables: Any = None, **_: Any) -> None:
            asked.append(variables["productId"])
            if variables["productId"] == last_of_first:
                await hold.wait()
            elif last_of_first in asked:
                hold.set()  # batch 2 was started while batch 1's last request was still out

    async with open_journal(db) as journal:
        run, _ = await journal.create_run("prefetch", input_name="in.csv", input_hash="h", options={})
        await journal.add_units(run.run_id, direct_units("prefetch", lines, batch=2))
        await journal.set_run_status(run.run_id, RunStatus.RUNNING)
        worker = Worker(journal=journal, port=cast(Any, None), requester=Gated(), config=WorkerConfig(
            worker_id="p", drain=True, lane=FAST_LANE, idle_wait_s=3600, direct_units=1,
            direct_concurrency=2))
        await asyncio.wait_for(worker.run(), 20)  # without the prefetch: batch 1 never ends
        assert hold.is_set()
        assert (await journal.get_run(run.run_id)).status is RunStatus.DONE
        assert worker.statistics().completed == 2


def test_the_metrics_endpoint_reports_the_worker() -> None:
    import urllib.request

    from bulk.fleet.metrics import serve_metrics

    worker = Worker(journal=cast(Journal, None), port=cast(Any, None), requester=cast(Any, None),
                    config=WorkerConfig(worker_id="m1"))
    server = serve_metrics(0, worker)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics") as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'bulk_worker_units_held{worker="m1"} 0.0' in text
    assert 'bulk_worker_claimed_total{worker="m1"} 0.0' in text


def test_bulk_submit_with_a_database_url_only_enqueues(tmp_path: Path, database_url: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from bulk.cli import main

    asyncio.run(upgrade_postgres(database_url))
    file, _ = price_csv(tmp_path / "p.csv", range(1, 31))
    code = main(["submit", str(file), "--shop", "sim://?products=100", "--route", "bulk",
                 "--database-url", database_url, "--state-dir", str(tmp_path / "state")])
    assert code == 0
    assert "enqueued run" in capsys.readouterr().out

    async def check() -> None:
        async with open_journal(database_url) as journal:
            (run,) = await journal.list_runs()
            assert run.status is RunStatus.RUNNING and run.counters.applied == 0
            assert run.counters.units_pending >= 1

    asyncio.run(check())
