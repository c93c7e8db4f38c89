"""``bulk status``: runs with progress, workers seen, bulk operations running, buckets and permits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bulk.cli import main
from bulk.fleet.status import collect_status
from bulk.journal import NewUnit, RunStatus, UnitKind, open_journal
from bulk.journal.migrations import upgrade_postgres
from bulk.lanes.bulk import encode_remote
from bulk.scheduler import Scheduler
from bulk.session.runs import cancel_run
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


class NoOperations:
    """A shop port for :func:`cancel_run` of a run with no bulk operation running (never asked)."""

    async def cancel(self, op_id: str, *, token_index: int) -> str:
        raise AssertionError("no operation to cancel")


@pytest.fixture(params=["sqlite", "postgres"])
def journal_args(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """``bulk status`` arguments naming an embedded journal or a PostgreSQL one (migrated)."""
    if request.param == "sqlite":
        return ["--journal", str(tmp_path / "journal.sqlite3")]
    url = request.getfixturevalue("database_url")
    asyncio.run(upgrade_postgres(url))
    return ["--database-url", url]


async def cancelled_and_failed(location: str) -> None:
    """Run 1 cancelled by the operator, run 2 failed with an error quoting a token and a password."""
    async with open_journal(location) as journal:
        first, _ = await journal.create_run("a", input_name="prices.csv", input_hash="a", options={})
        await journal.set_run_status(first.run_id, RunStatus.RUNNING)
        second, _ = await journal.create_run("b", input_name="images.csv", input_hash="b", options={})
        await journal.set_run_status(second.run_id, RunStatus.FAILED,
                                     error="refused: shpat_0123abcdef at postgresql://bulk:hunter2@db/bulk")
        report = await cancel_run(journal, NoOperations(), first.run_id)
    assert report.previous_status == "running"


def test_a_cancelled_run_shows_cancelled_and_a_failed_one_its_error(
        journal_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(cancelled_and_failed(journal_args[1]))
    assert main(["status", *journal_args, "--json"]) == 0
    runs = {r["input_name"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert (runs["prices.csv"]["status"], runs["prices.csv"]["error"]) == ("cancelled", None)
    assert runs["images.csv"]["status"] == "failed"
    assert runs["images.csv"]["error"] == "refused: *** at postgresql://bulk:***@db/bulk"

    assert main(["status", *journal_args]) == 0
    table = capsys.readouterr().out
    assert "cancelled" in table and "refused: *** at postgresql://bulk:***@db/bulk" in table
    assert "shpat_0123abcdef" not in table and "hunter2" not in table
