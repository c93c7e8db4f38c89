"""One run, one process: a second ``bulk submit`` of an input whose run a live process is applying is
refused at once with one line that names the holder (and the first one is unaffected); a process killed
with SIGKILL leaves no lock behind, so the same submission resumes its run; ``bulk status`` says what the
holder does (``syncing catalog`` while it exports the shop's catalog before planning).

Against a served simulated shop, with one state directory and its embedded SQLite journal (the default
a merchant runs on)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from bulk.cli import main
from bulk.journal import OutcomeStatus, RunStatus, open_journal
from bulk.sim import SimConfig, SimShop
from bulk.sim._operations import ShopState
from bulk.submit import runlock
from tests.csv_helpers import price_csv

TOKENS = ("tok-a", "tok-b")
ROWS = 40


def prices(tmp_path: Path) -> Path:
    """40 price changes: one bulk operation."""
    rows = [(f"SKU-{p:07d}-0", f"{300 + p}.00") for p in range(1, ROWS + 1)]
    return price_csv(tmp_path / "prices.csv", rows)


def submit_args(file: Path, sim: SimShop, tmp_path: Path) -> list[str]:
    return ["submit", str(file), "--route", "bulk", "--shop", sim.url, "--tokens", ",".join(TOKENS),
            "--state-dir", str(tmp_path / "s")]


def holders(tmp_path: Path) -> list[runlock.Holder]:
    """The live holders of every run of the test's state directory."""
    runs = tmp_path / "s" / "runs"
    found = [runlock.holder_of(runs, d.name) for d in runs.iterdir()] if runs.is_dir() else []
    return [h for h in found if h is not None]


async def mutation_started(sim: SimShop, waiting: asyncio.Future[int] | asyncio.subprocess.Process) -> None:
    """Until a bulk mutation runs on the shop; then the shop slows to a line every 5 s, so that the run
    is still being applied when the second submission comes."""
    engine = cast(ShopState, sim.state).engine
    async with asyncio.timeout(30):
        while not [op for t in range(len(TOKENS)) for op in engine.of_token(t) if op.type == "MUTATION"]:
            if isinstance(waiting, asyncio.subprocess.Process):
                assert waiting.returncode is None, waiting.returncode
            else:
                assert not waiting.done(), waiting.result()
            await asyncio.sleep(0.01)
    engine.seconds_per_line, engine.chunk = 5.0, 1


def usual_pace(sim: SimShop) -> None:
    engine = cast(ShopState, sim.state).engine
    engine.seconds_per_line, engine.chunk = 0.0005, 200


async def applied_once(tmp_path: Path) -> None:
    async with open_journal(str(tmp_path / "s" / "journal.sqlite3")) as j:
        (run,) = await j.list_runs()
        assert run.status is RunStatus.DONE
        outcomes = await j.list_outcomes(run.run_id)
        assert len(outcomes) == ROWS and {o.status for o in outcomes} == {OutcomeStatus.APPLIED}


async def test_a_second_submit_of_a_run_being_applied_is_refused_and_the_first_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = prices(tmp_path)
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim:
        args = submit_args(file, sim, tmp_path)
        first = asyncio.ensure_future(asyncio.to_thread(main, args))
        try:
            await mutation_started(sim, first)
            capsys.readouterr()
            code = await asyncio.to_thread(main, args)  # the same input again: the same run
            err = capsys.readouterr().err
            assert code == 2 and "Traceback" not in err and "tok-" not in err
            (line,) = [e for e in err.splitlines() if e.startswith("bulk: error:")]
            assert re.fullmatch(
                rf"bulk: error: run 1 is being applied by another bulk process \(pid {os.getpid()} on host "
                rf"{re.escape(socket.gethostname())}, since \d\d:\d\d:\d\d\); wait for it to end \(bulk "
                r"status shows it\) or stop it \(bulk cancel 1\)", line), line
            code = await asyncio.to_thread(main, ["status", "--state-dir", str(tmp_path / "s"), "--json"])
            (shown,) = json.loads(capsys.readouterr().out)["runs"]
            assert code == 0 and shown["status"] in ("planning", "running")
            assert f"pid {os.getpid()} " in shown["held_by"]
        finally:
            usual_pace(sim)
            code = await asyncio.wait_for(first, 60)
        assert code == 0  # unaffected: it finishes the run alone
    await applied_once(tmp_path)
    assert holders(tmp_path) == []  # released when it ended


async def test_a_run_whose_process_was_killed_is_resumed_by_the_same_submission(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = prices(tmp_path)
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim:
        args = submit_args(file, sim, tmp_path)
        child = await asyncio.create_subprocess_exec(sys.executable, "-m", "bulk", *args,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await mutation_started(sim, child)
            assert [h.pid for h in holders(tmp_path)] == [child.pid]
            code = await asyncio.to_thread(main, args)
            assert code == 2 and f"(pid {child.pid} on host" in capsys.readouterr().err
            child.send_signal(signal.SIGKILL)  # no chance to release anything
            await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert holders(tmp_path) == []  # a dead process holds nothing
        usual_pace(sim)
        code = await asyncio.to_thread(main, args)  # resumes the run (adopts its running operation)
        assert code == 0, capsys.readouterr().err
    await applied_once(tmp_path)


async def test_status_says_syncing_catalog_while_the_run_exports_the_catalog(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = prices(tmp_path)
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim:
        engine = cast(ShopState, sim.state).engine
        engine.seconds_per_line, engine.chunk = 0.5, 1  # the export takes a while
        first = asyncio.ensure_future(asyncio.to_thread(main, submit_args(file, sim, tmp_path)))
        try:
            async with asyncio.timeout(30):
                # the export's progress, once a poll has seen objects exported
                while not [h for h in holders(tmp_path) if h.phase == runlock.SYNCING and h.detail
                           and not h.detail.startswith("0 ")]:
                    assert not first.done(), first.result()
                    await asyncio.sleep(0.01)
            capsys.readouterr()
            code = await asyncio.to_thread(main, ["status", "--state-dir", str(tmp_path / "s")])
            out = capsys.readouterr().out
            row = next(line for line in out.splitlines() if "prices.csv" in line)
            assert code == 0 and "syncing catalog" in row and "0%" not in row and f"pid {os.getpid()}" in row
            code = await asyncio.to_thread(main, ["status", "--state-dir", str(tmp_path / "s"), "--json"])
            (syncing,) = json.loads(capsys.readouterr().out)["runs"]
            # it moves: how far the export got, not a bare "syncing catalog"
            assert re.fullmatch(r"[1-9][\d,]* objects exported", syncing["phase_detail"]), syncing
        finally:
            usual_pace(sim)
            code = await asyncio.wait_for(first, 60)
        assert code == 0
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["status", "--state-dir", str(tmp_path / "s"), "--json"])
        (shown,) = json.loads(capsys.readouterr().out)["runs"]
        assert (shown["status"], shown["held_by"]) == ("done", None)


async def test_status_says_running_once_the_input_is_planned_and_its_operations_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The journal keeps the run ``planning`` until every line is done (a restart plans again against the
    same picture); the operator sees ``running`` once the holder has read and planned the whole input."""
    file = prices(tmp_path)
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim:
        first = asyncio.ensure_future(asyncio.to_thread(main, submit_args(file, sim, tmp_path)))
        try:
            await mutation_started(sim, first)  # the shop slows down: the operation runs a while
            async with asyncio.timeout(30):
                while not [h for h in holders(tmp_path) if h.phase == runlock.SENDING]:
                    assert not first.done(), first.result()
                    await asyncio.sleep(0.01)
            capsys.readouterr()
            code = await asyncio.to_thread(main, ["status", "--state-dir", str(tmp_path / "s"), "--json"])
            (shown,) = json.loads(capsys.readouterr().out)["runs"]
            assert code == 0 and shown["status"] == "running" and f"pid {os.getpid()}" in shown["held_by"]
            async with open_journal(str(tmp_path / "s" / "journal.sqlite3")) as j:
                (run,) = await j.list_runs()
            assert run.status is RunStatus.PLANNING  # what a restart goes by is unchanged
        finally:
            usual_pace(sim)
            code = await asyncio.wait_for(first, 60)
        assert code == 0
