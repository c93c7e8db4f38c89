"""Stopping a run: ``RunHandle.cancel()`` in the library and ``bulk cancel RUN`` from another process
both send ``bulkOperationCancel`` for the run's running bulk operations (the shop shows them
CANCELING/CANCELED), leave the rows not applied without an outcome, and say how to resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest

from bulk.cli import main
from bulk.journal import OutcomeStatus, RunStatus, open_journal
from bulk.session.runs import RunHandle
from bulk.session.shop import Shop
from bulk.sim import SimConfig, SimShop
from bulk.sim._operations import ShopState
from bulk.sources.files import FileInput
from bulk.submit.options import CANCELLED_REASON
from tests.csv_helpers import price_csv

TOKENS = ("tok-a", "tok-b")
STOPPED = {"CANCELING", "CANCELED"}


def prices(tmp_path: Path) -> Path:
    """40 price changes: one bulk operation."""
    return price_csv(tmp_path / "prices.csv", [(f"SKU-{p:07d}-0", f"{200 + p}.00") for p in range(1, 41)])


async def first_operation(handle: RunHandle, sim: Any, timeout_s: float = 30.0) -> None:
    """Until the run has started a bulk operation; then the shop slows down to a line every 5 s, so
    the operation is still running when it is cancelled. (Not before: the catalog export the run
    starts with is a bulk operation too. An operation runs its first line a second after its start,
    and reads the pace at every line: slowing it right after the start holds.)"""
    async with asyncio.timeout(timeout_s):
        while handle.progress().shards_started == 0:
            assert not handle.done, await handle.wait()
            await asyncio.sleep(0.01)
    engine = cast(ShopState, sim.state).engine
    engine.seconds_per_line, engine.chunk = 5.0, 1


def op_status(sim: Any, gid: str) -> str:
    return str(cast(ShopState, sim.state).engine.find(gid).status)


async def test_run_handle_cancel_cancels_the_bulk_operations_it_started(tmp_path: Path) -> None:
    async with Shop.connect("sim://?products=50", None) as shop:
        handle = shop.submit(FileInput(paths=(prices(tmp_path),)), route="bulk", state_dir=tmp_path / "s")
        await first_operation(handle, shop.sim)
        report = await handle.cancel()
        assert handle.done
        assert report.operations and {op.status for op in report.operations} <= STOPPED
        for op in report.operations:
            assert op_status(shop.sim, op.operation) in STOPPED  # the shop itself says so


async def test_bulk_cancel_stops_a_run_from_another_process_and_the_same_submission_resumes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    config = SimConfig(products=50, tokens=TOKENS)
    async with SimShop(config) as sim:
        async with Shop.connect(sim.url, TOKENS) as shop:
            await cancel_from_the_command_line(shop, sim, tmp_path, journal, capsys)
        engine = cast(ShopState, sim.state).engine
        engine.seconds_per_line, engine.chunk = 0.0005, 200  # the shop's usual pace again
        async with Shop.connect(sim.url, TOKENS) as shop:
            again = shop.submit(FileInput(paths=(tmp_path / "prices.csv",)), route="bulk",
                                run_key="cancel-me", journal=journal, state_dir=tmp_path / "s",
                                name="prices.csv")
            result = await asyncio.wait_for(again.wait(), 60)
    assert result.summary == {"applied": 40, "unchanged": 0, "rejected": 0, "rows": 40}
    async with open_journal(journal) as j:
        (run,) = await j.list_runs()
        assert run.status is RunStatus.DONE and run.counters.applied == 40  # each row once


async def cancel_from_the_command_line(shop: Shop, sim: SimShop, tmp_path: Path, journal: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Start the run here; cancel it with `bulk cancel` as another process would; stop this one."""
    handle = shop.submit(FileInput(paths=(prices(tmp_path),)), route="bulk", run_key="cancel-me",
                         journal=journal, state_dir=tmp_path / "s", name="prices.csv")
    await first_operation(handle, sim)
    code = await asyncio.to_thread(main, ["cancel", "cancel-me", "--journal", journal, "--shop", sim.url,
                                          "--tokens", ",".join(TOKENS), "--json"])
    out = json.loads(capsys.readouterr().out)
    try:
        assert code == 0
        assert out["operations"] and {op["status"] for op in out["operations"]} <= STOPPED
        assert all(op_status(sim, op["operation"]) in STOPPED for op in out["operations"])
        assert "run the same `bulk submit prices.csv …` command again" in out["resume"]
        async with open_journal(journal) as j:
            run = await j.get_run(out["run_id"])
            assert (run.status, run.error) == (RunStatus.FAILED, CANCELLED_REASON)  # resumable
            outcomes = await j.list_outcomes(run.run_id)
            assert all(o.status is not OutcomeStatus.REJECTED for o in outcomes)  # not applied: pending
    finally:
        await handle.cancel()


async def test_bulk_cancel_in_words_and_a_finished_run(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    async with open_journal(journal) as j:
        idle, _ = await j.create_run("idle-run", input_name="idle.csv", input_hash="h", options={})
        done, _ = await j.create_run("done-run", input_name="done.csv", input_hash="h", options={})
        await j.set_run_status(done.run_id, RunStatus.RUNNING)
        await j.set_run_status(done.run_id, RunStatus.DONE)
    code = await asyncio.to_thread(main, ["cancel", "idle", "--journal", journal])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == f"run {idle.run_id} (idle.csv) cancelled by the operator"
    assert "no bulk operation was running on the shop" in out and "to resume: run the same" in out
    code = await asyncio.to_thread(main, ["cancel", "idle", "--journal", journal])  # once more
    out = capsys.readouterr().out
    assert code == 0 and "had already ended (cancelled): nothing to cancel" in out
    async with open_journal(journal) as j:  # still resumable: the same submission takes it up again
        assert (await j.get_run(idle.run_id)).error == CANCELLED_REASON
    code = await asyncio.to_thread(main, ["cancel", str(done.run_id), "--journal", journal])
    assert code == 0 and "had already ended (done): nothing to cancel" in capsys.readouterr().out
    code = await asyncio.to_thread(main, ["cancel", "nosuch", "--journal", journal])
    assert code == 2 and "no run 'nosuch' in this journal" in capsys.readouterr().err


async def test_a_bulk_submit_at_work_stops_when_its_run_is_cancelled_elsewhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    file = prices(tmp_path)
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim:
        engine = cast(ShopState, sim.state).engine
        shop_args = ["--shop", sim.url, "--tokens", ",".join(TOKENS), "--journal", journal]
        submitting = asyncio.create_task(asyncio.to_thread(
            main, ["submit", str(file), "--route", "bulk", "--state-dir", str(tmp_path / "s"), *shop_args]))
        async with asyncio.timeout(30):
            while not [op for t in range(len(TOKENS)) for op in engine.of_token(t) if op.type == "MUTATION"]:
                assert not submitting.done(), submitting.result()
                await asyncio.sleep(0.01)
        engine.seconds_per_line, engine.chunk = 5.0, 1  # still running when it is cancelled (see above)
        cancelled = await asyncio.to_thread(main, ["cancel", "1", *shop_args])
        code = await asyncio.wait_for(submitting, 30)
    err = capsys.readouterr().err
    assert cancelled == 0
    assert code == 130
    assert f"bulk: run 1 was cancelled by the operator (`bulk cancel`): nothing more is sent; run the same " \
           f"`bulk submit {file} …` command again to resume it" in err
