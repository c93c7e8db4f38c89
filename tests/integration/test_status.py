"""``bulk status``: runs with progress, workers seen, bulk operations running, buckets and permits."""

from __future__ import annotations

import asyncio
import json

import pytest

from bulk.cli import main
from bulk.fleet.status import collect_status
from bulk.journal import NewUnit, RunStatus, UnitKind, open_journal
from bulk.journal.migrations import upgrade_postgres
from bulk.lanes.bulk import encode_remote
from bulk.scheduler import Scheduler
from bulk.submit.options import shop_id

SHOP = "http://127.0.0.1:9/"


async def fill(url: str) -> None:
    """A running run of 4 shards: one done, one running on the shop (token #2), two pending."""
    await upgrade_postgres(url)
    async with open_journal(url) as journal:
        run, _ = await journal.create_run("k", input_name="prices.csv", input_hash="h",
                                          options={"token": "shpat_secret"})
        await journal.add_units(run.run_id, [
            NewUnit(UnitKind.BULK_SHARD, f"k/{i}", 10, payload={"n": i}) for i in range(4)])
        await journal.set_run_status(run.run_id, RunStatus.RUNNING)
        done, running = await journal.claim("w1", [UnitKind.BULK_SHARD], lease_s=60, limit=2)
        await journal.complete(done)
        await journal.mark_submitted(running, encode_remote(2, "gid://shopify/BulkOperation/7"))
        await journal.touch_worker("w1", host="h1", pid=42)


async def test_the_snapshot_shows_progress_workers_operations_and_buckets(
        database_url: str, redis_url: str) -> None:
    await fill(database_url)
    scheduler = Scheduler.redis(redis_url, shop=shop_id(SHOP), token_count=3, max_in_flight=8)
    async with scheduler, scheduler.acquire(10):
        stats = await scheduler.backend.snapshot()
        async with open_journal(database_url) as journal:
            status = await collect_status(journal, stats)
    (run,) = status.runs
    assert (run.status, run.units_pending, run.units_active, run.units_done) == ("running", 2, 1, 1)
    assert run.progress == 0.25
    assert [w.worker_id for w in status.workers] == ["w1"]
    (op,) = status.operations
    assert (op.token_index, op.operation, op.holder) == (2, "gid://shopify/BulkOperation/7", "w1")
    assert status.scheduler is not None and status.scheduler.in_flight == 1
    assert len(status.scheduler.tokens) == 3
    assert "shpat_secret" not in json.dumps(status.to_json())


def test_bulk_status_json(database_url: str, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(fill(database_url))
    code = main(["status", "--database-url", database_url, "--redis-url", redis_url, "--shop", SHOP,
                 "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"][0]["progress"] == 0.25
    assert doc["operations"][0]["token_index"] == 2
    assert doc["workers"][0]["worker_id"] == "w1"
    assert doc["scheduler"]["max_in_flight"] == 8 and len(doc["scheduler"]["tokens"]) == 3
