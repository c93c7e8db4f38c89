"""One run, one process across machines: on a PostgreSQL journal shared by several machines, a second
submitter of the same input is refused however its state directory differs (each machine has its own),
with the line that names the holder, and ``bulk status`` names it too; a killed holder's lock is freed
by the server at once.

Two state directories stand for two machines (the ``flock`` in each excludes nothing of the other)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import psycopg
import pytest

from bulk.errors import RunHeldError
from bulk.fleet.status import collect_status
from bulk.journal import PostgresJournal
from bulk.journal.migrations import upgrade_postgres
from bulk.submit._run_choice import run_to_plan
from bulk.submit.options import RunOptions

pytestmark = pytest.mark.postgres

HOLD = """
import asyncio, sys
from bulk.fleet.status import collect_status
from bulk.journal import PostgresJournal
async def main():
    journal = PostgresJournal(sys.argv[1])
    await journal.open()
    await journal.hold_run(int(sys.argv[2]), holder="pid 4242 on host far-away, since 10:00:00")
    print("held", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


async def _plan(url: str, machine: Path) -> tuple[PostgresJournal, str]:
    journal = PostgresJournal(url)
    await journal.open()
    try:
        key, _anew, _lock = await run_to_plan(journal, "prices-key", RunOptions(), "prices.csv",
                                              lambda _n, _d: None, runs_dir=machine / "runs")
    except BaseException:
        await journal.close()
        raise
    return journal, key


async def test_a_second_machine_is_refused_the_run_until_the_first_lets_go(database_url: str,
                                                                          tmp_path: Path) -> None:
    await upgrade_postgres(database_url)
    first, key = await _plan(database_url, tmp_path / "machine-a")
    try:
        with pytest.raises(RunHeldError) as refused:
            await _plan(database_url, tmp_path / "machine-b")
        # the state directories differ: only the journal's lock can have refused it, and it names us
        assert f"pid {os.getpid()} on host" in str(refused.value)
        assert "bulk cancel" in str(refused.value)
    finally:
        await first.close()  # the run ended: its lock goes with the journal handle
    second, again = await _plan(database_url, tmp_path / "machine-b")
    try:
        # bulk status on machine A names machine B's process (no lock file of it in A's state directory)
        observer = await _opened(database_url)
        try:
            status = await collect_status(observer, runs_dir=tmp_path / "machine-a" / "runs")
        finally:
            await observer.close()
        (shown,) = status.runs
        assert shown.held_by is not None and f"pid {os.getpid()} on host" in shown.held_by
    finally:
        await second.close()
    assert again == key


async def _opened(url: str) -> PostgresJournal:
    journal = PostgresJournal(url)
    await journal.open()
    return journal


async def test_the_holder_named_is_this_journals_not_another_databases(database_url: str) -> None:
    """Advisory locks are per database, but PostgreSQL lists every database's: a cluster that keeps two
    journals (two shops) holds a run 1 in each."""
    other_url = await _another_database(database_url)
    for url in (database_url, other_url):
        await upgrade_postgres(url)
    ours, theirs = PostgresJournal(database_url), PostgresJournal(other_url)
    second = PostgresJournal(database_url)
    for journal in (ours, theirs, second):
        await journal.open()
    try:
        for journal in (ours, theirs):
            run, _ = await journal.create_run("k", input_name="p.csv", input_hash="k", options={})
            assert run.run_id == 1
        await theirs.hold_run(1, holder="pid 1 on host other-shop, since 09:00:00")
        await ours.hold_run(1, holder="pid 2 on host this-shop, since 09:00:01")
        with pytest.raises(RunHeldError, match="pid 2 on host this-shop"):
            await second.hold_run(1, holder="pid 3 on host this-shop, since 09:00:02")
        # each journal names its own holder of run 1, whichever row PostgreSQL lists first
        assert (await second.run_holders())[1].startswith("pid 2 on host this-shop")
        assert (await theirs.run_holders())[1].startswith("pid 1 on host other-shop")
    finally:
        for journal in (ours, theirs, second):
            await journal.close()
        await _drop(other_url)


async def _another_database(url: str) -> str:
    name = url.rsplit("/", 1)[1] + "_other"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


async def _drop(url: str) -> None:
    base, name = url.rsplit("/", 1)
    async with await psycopg.AsyncConnection.connect(base + "/postgres", autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_killed_holder_frees_the_run_at_once(database_url: str) -> None:
    await upgrade_postgres(database_url)
    journal = PostgresJournal(database_url)
    await journal.open()
    try:
        run, _ = await journal.create_run("k", input_name="p.csv", input_hash="k", options={})
        holder = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLD, database_url,
                                                      str(run.run_id), stdout=asyncio.subprocess.PIPE)
        try:
            assert holder.stdout is not None
            assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"held\n"
            with pytest.raises(RunHeldError, match="pid 4242 on host far-away"):
                await journal.hold_run(run.run_id, holder="pid 1 on host here, since 10:00:01")
            holder.send_signal(signal.SIGKILL)  # no chance to let go of anything
            await holder.wait()
        finally:
            if holder.returncode is None:
                holder.kill()
                await holder.wait()
        async with asyncio.timeout(30):  # the server ends the dead process's session as its socket closes
            while True:
                try:
                    await journal.hold_run(run.run_id, holder="pid 1 on host here, since 10:00:01")
                    break
                except RunHeldError:
                    await asyncio.sleep(0.05)
    finally:
        await journal.close()
