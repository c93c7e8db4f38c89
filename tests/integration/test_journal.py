"""The journal's promises, one suite over both backends: SQLite (a real file) and real PostgreSQL.

Time never sleeps here. Each journal handle is made at a fixed point of its backend's clock: a SQLite
handle gets a ManualClock, a Postgres handle a test-only offset added to the server's ``now()``. A
"worker from the future" is simply a handle made ``offset_s`` seconds later.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from bulk.cli import main as cli_main
from bulk.clock import ManualClock
from bulk.errors import JournalError, LeaseLostError, OutcomeConflictError
from bulk.journal import (
    AppliedValue,
    Claim,
    Journal,
    NewUnit,
    Outcome,
    OutcomeStatus,
    PostgresJournal,
    RunStatus,
    SqliteJournal,
    UnitKind,
    UnitState,
    open_journal,
)
from bulk.journal.migrations import latest_version, migrations, queries, upgrade_postgres

T0 = 1_800_000_000.0  # SQLite handles' clocks start here (seconds since the epoch)
SHARD = UnitKind.BULK_SHARD
MakeJournal = Callable[..., Awaitable[Journal]]


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def journal_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, where): a SQLite file in the test's folder, or a fresh Postgres database."""
    if request.param == "pg":
        return "pg", str(request.getfixturevalue("database_url"))
    return "sqlite", str(tmp_path / "journal.sqlite3")


@pytest.fixture
async def make_journal(journal_target: tuple[str, str]) -> AsyncIterator[MakeJournal]:
    """Open journal handles on one shared store; ``offset_s`` places a handle later in time."""
    backend, where = journal_target
    if backend == "pg":
        await upgrade_postgres(where)
    handles: list[Journal] = []

    async def make(offset_s: float = 0.0) -> Journal:
        journal: Journal
        if backend == "pg":
            journal = PostgresJournal(where, time_offset_s=offset_s)
        else:
            journal = SqliteJournal(where, clock=ManualClock(start=T0 + offset_s))
        await journal.open()
        handles.append(journal)
        return journal

    yield make
    for journal in handles:
        await journal.close()


async def _run_with_units(journal: Journal, n: int, *, key: str = "run-1", kind: UnitKind = SHARD) -> int:
    run, _ = await journal.create_run(key, input_name="prices.csv", input_hash="sha256:aa", options={})
    units = [NewUnit(kind, f"{key}-unit-{i}", 100, payload_path=f"/shards/{key}-{i}.jsonl") for i in range(n)]
    await journal.add_units(run.run_id, units)
    return run.run_id


# -- runs ----------------------------------------------------------------------------------------
async def test_same_run_key_resumes_the_same_run(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    first, created = await journal.create_run(
        "prices-2026-11-24", input_name="prices.csv", input_hash="sha256:aa", options={"lane": "bulk"}
    )
    again, created_again = await journal.create_run(
        "prices-2026-11-24", input_name="prices.csv", input_hash="sha256:aa", options={"lane": "bulk"}
    )
    assert (created, created_again) == (True, False)
    assert again.run_id == first.run_id
    assert again.options == {"lane": "bulk"}
    assert first.status is RunStatus.PLANNING
    with pytest.raises(JournalError, match="already names an input"):
        await journal.create_run("prices-2026-11-24", input_name="x.csv", input_hash="sha256:bb", options={})
    other, _ = await journal.create_run(
        "other", input_name="x.csv", input_hash="sha256:bb", options={"tokens": 2, "token": "shpat_123"}
    )
    assert other.options == {"tokens": 2, "token": "***"}  # secrets are never stored
    assert [r.run_id for r in await journal.list_runs()] == [other.run_id, first.run_id]
    # the next run's id follows on: meeting an existing key took no id (a merchant saw 1, 6, 10)
    assert other.run_id == first.run_id + 1


async def test_run_status_follows_the_allowed_transitions(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run, _ = await journal.create_run("r", input_name="a.csv", input_hash="h", options={})
    assert (await journal.set_run_status(run.run_id, RunStatus.RUNNING)).status is RunStatus.RUNNING
    failed = await journal.set_run_status(run.run_id, RunStatus.FAILED, error="token revoked")
    assert (failed.status, failed.error) == (RunStatus.FAILED, "token revoked")
    await journal.set_run_status(run.run_id, RunStatus.RUNNING)  # a failed run may be resumed
    await journal.set_run_status(run.run_id, RunStatus.DONE)
    with pytest.raises(JournalError, match="cannot go from done to running"):
        await journal.set_run_status(run.run_id, RunStatus.RUNNING)
    with pytest.raises(JournalError, match="no run 999"):
        await journal.get_run(999)


# -- work units ----------------------------------------------------------------------------------
async def test_adding_units_is_idempotent_by_client_identifier(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run_id = await _run_with_units(journal, 3)
    again = await journal.add_units(run_id, [NewUnit(SHARD, "run-1-unit-1", 100, payload_path="/other")])
    assert [u.client_identifier for u in again] == ["run-1-unit-1"]
    assert again[0].payload_path == "/shards/run-1-1.jsonl"  # kept as first written
    assert len(await journal.list_units(run_id)) == 3
    inline = await journal.add_units(
        run_id, [NewUnit(UnitKind.DIRECT_BATCH, "direct-1", 2, payload={"lines": [{"sku": "A"}]})]
    )
    assert inline[0].payload == {"lines": [{"sku": "A"}]}
    other_run, _ = await journal.create_run("run-2", input_name="b.csv", input_hash="h2", options={})
    with pytest.raises(JournalError, match="already belongs to run"):
        await journal.add_units(other_run.run_id, [NewUnit(SHARD, "run-1-unit-0", 1, payload_path="/x")])


async def test_claim_takes_each_pending_unit_once_and_only_asked_kinds(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run_id = await _run_with_units(journal, 3)
    await journal.add_units(run_id, [NewUnit(UnitKind.DIRECT_BATCH, "direct-0", 5, payload={"rows": []})])
    first = await journal.claim("w1", [SHARD], lease_s=30, limit=2)
    second = await journal.claim("w2", [SHARD], lease_s=30, limit=2)
    assert [c.unit.client_identifier for c in first] == ["run-1-unit-0", "run-1-unit-1"]
    assert [c.unit.client_identifier for c in second] == ["run-1-unit-2"]
    assert await journal.claim("w3", [SHARD], lease_s=30, limit=2) == []
    direct = await journal.claim("w3", [UnitKind.DIRECT_BATCH], lease_s=30)
    assert [c.unit.kind for c in direct] == [UnitKind.DIRECT_BATCH]
    claim = first[0]
    assert (claim.unit.state, claim.unit.attempt, claim.fence, claim.unit.lease_owner) == (
        UnitState.CLAIMED, 1, 1, "w1",
    )  # fmt: skip
    assert claim.lease_expires_at == claim.unit.lease_expires_at
    stats = journal.statistics()
    assert (stats.claims, stats.units_claimed) == (4, 4)


async def test_units_of_cancelled_runs_are_not_claimed(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run_id = await _run_with_units(journal, 2)
    await journal.set_run_status(run_id, RunStatus.CANCELLED)
    assert await journal.claim("w1", [SHARD], lease_s=30, limit=5) == []


async def test_expired_lease_is_reclaimed_and_the_stale_holder_is_fenced(make_journal: MakeJournal) -> None:
    now, later, after_lease = await make_journal(), await make_journal(10), await make_journal(31)
    await _run_with_units(now, 1)
    [old] = await now.claim("w-old", [SHARD], lease_s=30)
    assert await later.claim("w-new", [SHARD], lease_s=30) == []  # lease still running
    [new] = await after_lease.claim("w-new", [SHARD], lease_s=30)
    assert (new.unit_id, new.fence, new.unit.attempt) == (old.unit_id, old.fence + 1, 2)

    writes: list[Callable[[], Awaitable[object]]] = [
        lambda: now.heartbeat(old, lease_s=30),
        lambda: now.mark_submitted(old, "gid://shopify/BulkOperation/1"),
        lambda: now.complete(old),
        lambda: now.fail(old, "boom", retry=True),
        lambda: now.release(old),
    ]
    for write in writes:
        with pytest.raises(LeaseLostError) as lost:
            await write()
        assert (lost.value.unit_id, lost.value.fence) == (old.unit_id, old.fence)
    assert now.statistics().leases_lost == len(writes)
    done = await after_lease.complete(new)
    assert (done.state, done.lease_owner) == (UnitState.DONE, None)


async def test_heartbeat_extends_the_lease(make_journal: MakeJournal) -> None:
    now = await make_journal()
    await _run_with_units(now, 1)
    [claim] = await now.claim("w1", [SHARD], lease_s=30)
    renewed = await now.heartbeat(claim, lease_s=60)
    assert (renewed.lease_expires_at - claim.lease_expires_at).total_seconds() == pytest.approx(30, abs=1)
    assert await (await make_journal(45)).claim("w2", [SHARD], lease_s=30) == []
    assert len(await (await make_journal(61)).claim("w2", [SHARD], lease_s=30)) == 1


async def test_a_submitted_unit_is_adopted_with_its_bulk_operation(make_journal: MakeJournal) -> None:
    now = await make_journal()
    await _run_with_units(now, 1)
    [claim] = await now.claim("w-dead", [SHARD], lease_s=30)
    assert not claim.adopted
    submitted = await now.mark_submitted(claim, "gid://shopify/BulkOperation/7")
    assert submitted.unit.state is UnitState.SUBMITTED
    [adopted] = await (await make_journal(31)).claim("w-new", [SHARD], lease_s=30)
    assert adopted.adopted
    assert (adopted.unit.state, adopted.unit.remote_id) == (
        UnitState.SUBMITTED,
        "gid://shopify/BulkOperation/7",
    )
    assert adopted.unit.client_identifier == "run-1-unit-0"


async def test_release_and_fail_give_units_back(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run_id = await _run_with_units(journal, 3)
    a, b, c = await journal.claim("w1", [SHARD], lease_s=300, limit=3)
    assert (await journal.release(a)).state is UnitState.PENDING
    b = await journal.mark_submitted(b, "gid://shopify/BulkOperation/2")
    released = await journal.release(b)  # still running on Shopify: the next claimer adopts it at once
    assert (released.state, released.remote_id) == (UnitState.SUBMITTED, "gid://shopify/BulkOperation/2")
    failed = await journal.fail(c, "LIMIT_REACHED", retry=True)
    assert (failed.state, failed.error) == (UnitState.PENDING, "LIMIT_REACHED")
    again = await journal.claim("w2", [SHARD], lease_s=300, limit=5)
    assert sorted(x.unit_id for x in again) == sorted([a.unit_id, b.unit_id, c.unit_id])
    final = await journal.fail(again[0], "file rejected", retry=False)
    assert final.state is UnitState.FAILED
    counters = (await journal.get_run(run_id)).counters
    assert (counters.units_failed, counters.units_active, counters.units_pending) == (1, 2, 0)


async def test_a_dead_holders_units_of_one_run_are_given_back_at_once(make_journal: MakeJournal) -> None:
    """A process that took over a run from a killed one (bulk.submit.runlock) adopts its units without
    waiting for their leases; other runs' units, and other owners', keep theirs."""
    journal = await make_journal()
    run_id = await _run_with_units(journal, 3)
    other = await _run_with_units(journal, 1, key="run-2")
    a, b = await journal.claim("local", [SHARD], lease_s=300, limit=2, run_id=run_id)
    (c,) = await journal.claim("w9", [SHARD], lease_s=300, run_id=run_id)
    (kept,) = await journal.claim("local", [SHARD], lease_s=300, run_id=other)
    b = await journal.mark_submitted(b, "gid://shopify/BulkOperation/3")
    assert await journal.release_run_leases(run_id, "local") == 2
    again = await journal.claim("next", [SHARD], lease_s=300, limit=5)
    assert sorted(x.unit_id for x in again) == sorted([a.unit_id, b.unit_id])
    adopted = next(x for x in again if x.unit_id == b.unit_id)
    assert adopted.unit.remote_id == "gid://shopify/BulkOperation/3" and adopted.fence > b.fence
    assert (await journal.get_unit(c.unit_id)).lease_owner == "w9"
    assert (await journal.get_unit(kept.unit_id)).state is UnitState.CLAIMED


async def test_concurrent_claims_from_many_connections_take_each_unit_once(make_journal: MakeJournal) -> None:
    """Eight handles (eight connections) claim in parallel until nothing is left."""
    handles = [await make_journal() for _ in range(8)]
    await _run_with_units(handles[0], 120)
    start = asyncio.Event()

    async def worker(index: int, journal: Journal) -> list[Claim]:
        await start.wait()
        taken: list[Claim] = []
        while batch := await journal.claim(f"w{index}", [SHARD], lease_s=60, limit=3):
            taken.extend(batch)
        return taken

    tasks = [asyncio.create_task(worker(i, j)) for i, j in enumerate(handles)]
    start.set()
    results = await asyncio.gather(*tasks)
    claimed = Counter(c.unit_id for taken in results for c in taken)
    assert len(claimed) == 120
    assert set(claimed.values()) == {1}
    assert all(c.fence == 1 for taken in results for c in taken)
    assert sum(1 for taken in results if taken) >= 2  # the claims really did interleave


async def test_racing_takeovers_of_an_expired_unit_have_exactly_one_winner(make_journal: MakeJournal) -> None:
    now = await make_journal()
    await _run_with_units(now, 1)
    [dead] = await now.claim("w-dead", [SHARD], lease_s=30)
    rivals = [await make_journal(31) for _ in range(8)]
    start = asyncio.Event()

    async def take(index: int, journal: Journal) -> list[Claim]:
        await start.wait()
        return await journal.claim(f"w{index}", [SHARD], lease_s=30)

    tasks = [asyncio.create_task(take(i, j)) for i, j in enumerate(rivals)]
    start.set()
    winners = [c for got in await asyncio.gather(*tasks) for c in got]
    assert len(winners) == 1
    assert (winners[0].unit_id, winners[0].fence) == (dead.unit_id, dead.fence + 1)


# -- outcomes and applied values -----------------------------------------------------------------
async def test_each_row_has_exactly_one_outcome(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run_id = await _run_with_units(journal, 0)
    outcomes = [
        Outcome("prices.csv", 2, OutcomeStatus.APPLIED, object_id="gid://shopify/ProductVariant/1"),
        Outcome("prices.csv", 3, OutcomeStatus.UNCHANGED),
        Outcome("prices.csv", 4, OutcomeStatus.REJECTED, reason="unknown SKU 'X-1'"),
    ]
    assert await journal.record_outcomes(run_id, outcomes) == 3
    assert await journal.record_outcomes(run_id, outcomes) == 0  # the same outcome again: a no-op
    with pytest.raises(OutcomeConflictError) as conflict:
        await journal.record_outcomes(
            run_id,
            [
                Outcome("prices.csv", 5, OutcomeStatus.APPLIED),
                Outcome("prices.csv", 3, OutcomeStatus.APPLIED),
            ],
        )
    assert (conflict.value.file, conflict.value.line) == ("prices.csv", 3)
    assert (conflict.value.existing, conflict.value.new) == ("unchanged", "applied")
    with pytest.raises(OutcomeConflictError):  # two different outcomes for one row in one batch
        await journal.record_outcomes(
            run_id,
            [
                Outcome("prices.csv", 9, OutcomeStatus.APPLIED),
                Outcome("prices.csv", 9, OutcomeStatus.UNCHANGED),
            ],
        )
    stored = await journal.list_outcomes(run_id)
    assert stored == outcomes  # neither failed batch left anything behind
    with pytest.raises(JournalError):  # outcomes belong to a run the journal knows
        await journal.record_outcomes(run_id + 1, [Outcome("prices.csv", 2, OutcomeStatus.APPLIED)])
    rejected = await journal.list_outcomes(run_id, status=OutcomeStatus.REJECTED)
    assert [(o.line, o.reason) for o in rejected] == [(4, "unknown SKU 'X-1'")]
    counters = (await journal.get_run(run_id)).counters
    assert (counters.applied, counters.unchanged, counters.rejected) == (1, 1, 1)


async def test_100k_outcomes_are_recorded_in_seconds(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    run_id = await _run_with_units(journal, 0)
    rows = [
        Outcome("big.csv", line, OutcomeStatus.APPLIED, object_id=f"gid://shopify/ProductVariant/{line}")
        for line in range(2, 100_002)
    ]
    started = time.perf_counter()
    assert await journal.record_outcomes(run_id, rows) == 100_000
    elapsed = time.perf_counter() - started
    print(f"\n{journal.statistics().backend}: 100k outcomes recorded in {elapsed:.2f} s")
    assert elapsed < 30  # a few seconds normally; generous for a loaded 2-core CI machine
    assert (await journal.get_run(run_id)).counters.applied == 100_000
    assert journal.statistics().outcomes_recorded == 100_000


async def test_applied_values_let_a_rerun_skip_what_already_applied(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    first = await _run_with_units(journal, 0, key="run-1")
    second = await _run_with_units(journal, 0, key="run-2")
    v1, v2 = "gid://shopify/ProductVariant/1", "gid://shopify/ProductVariant/2"
    await journal.record_applied(
        first, [AppliedValue(v1, "price", "10.00"), AppliedValue(v2, "price", "5.00")]
    )
    await journal.record_applied(second, [AppliedValue(v1, "price", "12.00")])
    await journal.record_applied(first, [AppliedValue(v2, "compare_at_price", "6.00")])
    assert await journal.applied_values(first, [v1, v2, "gid://none"]) == {
        v1: {"price": "10.00"},
        v2: {"price": "5.00", "compare_at_price": "6.00"},
    }
    assert await journal.applied_values(None, [v1, v2]) == {
        v1: {"price": "12.00"},  # the latest run's value wins
        v2: {"price": "5.00", "compare_at_price": "6.00"},
    }
    await journal.record_applied(first, [AppliedValue(v1, "price", "11.00")])  # re-applied later
    assert (await journal.applied_values(None, [v1]))[v1] == {"price": "11.00"}
    written = await journal.record_applied(
        second, [AppliedValue(v2, "price", "7.00"), AppliedValue(v2, "price", "8.00")]
    )
    assert written == 1  # one value per field and batch: the last one
    assert await journal.applied_values(second, [v1, v2]) == {v1: {"price": "12.00"}, v2: {"price": "8.00"}}


async def test_workers_seen_recently(make_journal: MakeJournal) -> None:
    await (await make_journal()).touch_worker("w-old", host="box-a", pid=11)
    later = await make_journal(120)
    await later.touch_worker("w-new", host="box-b", pid=22)
    assert [(w.worker_id, w.host, w.pid) for w in await later.list_workers(seen_within_s=60)] == [
        ("w-new", "box-b", 22)
    ]
    assert {w.worker_id for w in await later.list_workers(seen_within_s=600)} == {"w-new", "w-old"}


# -- lifecycle and migrations --------------------------------------------------------------------
async def test_statistics_and_repr_report_the_handle(make_journal: MakeJournal) -> None:
    journal = await make_journal()
    stats = journal.statistics()
    expected = latest_version("sqlite") if stats.backend == "sqlite" else latest_version("pg")
    assert (stats.is_open, stats.schema_version) == (True, expected)
    assert "open" in repr(journal)
    await journal.close()
    assert not journal.statistics().is_open
    with pytest.raises(JournalError, match="not open"):
        await journal.list_runs()


@pytest.mark.postgres
def test_postgres_is_migrated_only_by_bulk_db_upgrade(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker never migrates the shared journal: it is told to run `bulk db upgrade`, which does."""
    with pytest.raises(JournalError, match="run `bulk db upgrade"):
        asyncio.run(PostgresJournal(database_url).open())
    assert cli_main(["db", "upgrade", "--database-url", database_url]) == 0
    assert "schema version 0 -> 1" in capsys.readouterr().out
    monkeypatch.setenv("BULK_DATABASE_URL", database_url)
    assert cli_main(["db", "upgrade"]) == 0
    assert "schema version 1 (already current)" in capsys.readouterr().out

    async def schema_version() -> int:
        async with open_journal(database_url) as journal:
            return journal.statistics().schema_version

    assert asyncio.run(schema_version()) == 1
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO bulk_schema_version (version) VALUES (99)")
    with pytest.raises(JournalError, match="newer than this version of bulk"):
        asyncio.run(PostgresJournal(database_url).open())


@pytest.mark.postgres
def test_bulk_db_upgrade_reports_a_bad_database_without_its_password(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base, name = database_url.rsplit("/", 1)
    url = base.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@") + "/missing_" + name
    assert cli_main(["db", "upgrade", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "cannot upgrade the journal at postgresql://postgres:***@" in err
    assert "s3cret-pw" not in err


def test_bulk_db_upgrade_needs_a_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BULK_DATABASE_URL", raising=False)
    assert cli_main(["db", "upgrade"]) == 2
    assert "needs --database-url or BULK_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.postgres
async def test_connection_errors_never_show_the_password(database_url: str) -> None:
    base, name = database_url.rsplit("/", 1)
    url = base.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@") + "/no_such_db_" + name
    journal = PostgresJournal(url)
    assert "s3cret-pw" not in repr(journal)
    with pytest.raises(JournalError) as failed:
        await journal.open()
    assert "s3cret-pw" not in str(failed.value)
    assert "no_such_db_" in str(failed.value)


def test_sqlite_journal_migrates_itself_and_db_upgrade_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nested" / "journal.sqlite3"

    async def create_then_reopen() -> str:
        async with open_journal(f"sqlite:///{path}") as journal:
            assert journal.statistics().schema_version == 2
            run, _ = await journal.create_run("k", input_name="a.csv", input_hash="h", options={})
        async with open_journal(path) as reopened:  # state survives a restart
            return (await reopened.get_run(run.run_id)).run_key

    assert asyncio.run(create_then_reopen()) == "k"
    assert cli_main(["db", "upgrade", "--database-url", str(path)]) == 0
    assert "schema version 2 (already current)" in capsys.readouterr().out


def test_a_sqlite_journal_of_version_1_keeps_its_runs_counts_when_it_is_migrated(tmp_path: Path) -> None:
    """Version 2 keeps a run's outcome counts as they are recorded: a file written by version 1 gets
    them counted once when it is opened, and they grow from there."""
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(migrations("sqlite")[0].sql)
        old.execute(queries("sqlite")["version_table"])
        old.execute("INSERT INTO bulk_schema_version VALUES (1, 0)")
        old.execute("INSERT INTO bulk_runs (run_key, input_name, input_hash, options, created_at, updated_at)"
                    " VALUES ('k', 'a.csv', 'h', '{}', 0, 0)")
        old.executemany("INSERT INTO bulk_outcomes (run_id, source_file, line, status, reason, recorded_at)"
                        " VALUES (1, 'a.csv', ?, ?, ?, 0)",
                        [(2, "applied", None), (3, "applied", None), (4, "unchanged", None),
                         (5, "rejected", "unknown SKU")])
    old.close()

    async def counts() -> tuple[int, int, int, int]:
        async with open_journal(path) as journal:
            await journal.record_outcomes(1, [Outcome("a.csv", 5, OutcomeStatus.REJECTED, "unknown SKU"),
                                              Outcome("a.csv", 6, OutcomeStatus.APPLIED)])
            c = (await journal.get_run(1)).counters
            return journal.statistics().schema_version, c.applied, c.unchanged, c.rejected

    assert asyncio.run(counts()) == (2, 3, 1, 1)


async def _listening(journal: Journal, backend: str) -> int:
    """The handle's notice count once it listens (Postgres: its own LISTEN counts as a notice)."""
    mark = await journal.work_mark()
    if backend == "pg":
        await asyncio.wait_for(journal.wait_for_work(mark), 10)
    return await journal.work_mark()


async def test_an_idle_handle_is_woken_when_units_are_added_released_or_retried(
    make_journal: MakeJournal, journal_target: tuple[str, str]
) -> None:
    """Idle workers wait for notices instead of polling: every write that makes a unit claimable
    wakes a waiting handle (another handle, as another worker would be)."""
    idle, writer = await make_journal(), await make_journal()
    mark = await _listening(idle, journal_target[0])
    woken = asyncio.create_task(idle.wait_for_work(mark))
    await asyncio.sleep(0)
    assert not woken.done()
    run_id = await _run_with_units(writer, 2)  # added
    await asyncio.wait_for(woken, 10)
    claims = await writer.claim("w", [SHARD], lease_s=60, limit=2)
    for give_back in (writer.release(claims[0]), writer.fail(claims[1], "5xx", retry=True)):
        mark = await idle.work_mark()
        woken = asyncio.create_task(idle.wait_for_work(mark))
        await give_back
        await asyncio.wait_for(woken, 10)
    (again,) = await idle.claim("idle", [SHARD], lease_s=60, run_id=run_id)  # the two are claimable
    assert again.unit.attempt == 2


async def test_a_notice_between_the_mark_and_the_wait_is_not_missed(
    make_journal: MakeJournal, journal_target: tuple[str, str]
) -> None:
    idle, writer = await make_journal(), await make_journal()
    mark = await _listening(idle, journal_target[0])
    await _run_with_units(writer, 1)  # lands after the mark, before the wait starts
    async def counted() -> bool:
        return await idle.work_mark() != mark
    deadline = time.monotonic() + 10
    while not await counted():  # Postgres delivers asynchronously; SQLite at once
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await asyncio.wait_for(idle.wait_for_work(mark), 1)  # returns at once
