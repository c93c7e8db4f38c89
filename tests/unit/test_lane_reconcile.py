"""Reconciling a finished operation's results (``bulk.lanes.bulk.reconcile``): by line number, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.journal import NewUnit, Outcome, SqliteJournal, UnitKind, UnitState
from bulk.lanes.bulk.reconcile import reconcile
from bulk.lanes.bulk.shard_data import ShardData


def shard(file: str, lines: int) -> ShardData:
    return ShardData("variants", [b"{}\n"] * lines, [[(file, n)] for n in range(lines)])


async def results_of(lines: list[int]) -> Any:
    async def results(_url: str) -> AsyncIterator[dict[str, Any]]:
        for n in lines:
            yield {"data": {"productVariantsBulkUpdate": {"userErrors": []}}, "__lineNumber": n}
    return results


async def test_lines_an_operation_never_ran_are_retried_then_rejected_and_then_not_counted_as_retried(
        tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.sqlite3", clock=ManualClock(1_000.0)) as journal:
        run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
        await journal.add_units(run.run_id, [
            NewUnit(UnitKind.BULK_SHARD, "rk/a", 3, payload={"kind": "variants", "lines": ["{}"] * 3,
                                                              "rows": [[["f", n]] for n in range(3)]}),
            NewUnit(UnitKind.BULK_SHARD, "rk/b/retry/retry", 3, payload={
                "kind": "variants", "lines": ["{}"] * 3, "rows": [[["g", n]] for n in range(3)]})])
        first, last = await journal.claim("w", [UnitKind.BULK_SHARD], lease_s=60, limit=2, run_id=run.run_id)
        # a first attempt that ran lines 2 and 0 (in that order): line 1 goes round again
        retried = await reconcile(await results_of([2, 0]), journal, first, status="FAILED", error_code="X",
                                  urls=("u",), shard=shard("f", 3), max_attempts=3)
        assert retried == 1
        units = {u.client_identifier: u for u in await journal.list_units(run.run_id)}
        assert units["rk/a/retry"].state is UnitState.PENDING and units["rk/a/retry"].line_count == 1
        # a third attempt that ran nothing: its lines are rejected, and nothing is left in flight
        retried = await reconcile(await results_of([]), journal, last, status="FAILED", error_code="X",
                                  urls=(None,), shard=shard("g", 3), max_attempts=3)
        assert retried == 0
        outcomes = {(o.file, o.line): o for o in await journal.list_outcomes(run.run_id)}
        assert {outcomes[("f", n)].status.value for n in (0, 2)} == {"applied"} and ("f", 1) not in outcomes
        reason = "not applied after 3 bulk operations (FAILED X)"
        assert [outcomes[("g", n)].reason for n in range(3)] == [reason] * 3


@pytest.mark.parametrize("objects", [3, 2], ids=["counted-every-line", "counted-fewer"])
async def test_a_completed_operation_retries_a_missing_line_only_if_it_did_not_count_every_line(
        tmp_path: Path, objects: int) -> None:
    """COMPLETED with every line counted released the product's later lines at once: a retry of a line
    missing from its results could land after them and undo a newer price, so it is rejected instead."""
    async with SqliteJournal(tmp_path / "j.sqlite3", clock=ManualClock(1_000.0)) as journal:
        run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
        await journal.add_units(run.run_id, [
            NewUnit(UnitKind.BULK_SHARD, "rk/a", 3, payload={"kind": "variants", "lines": ["{}"] * 3,
                                                              "rows": [[["f", n]] for n in range(3)]})])
        [claim] = await journal.claim("w", [UnitKind.BULK_SHARD], lease_s=60, limit=1, run_id=run.run_id)
        retried = await reconcile(await results_of([0, 2]), journal, claim, status="COMPLETED",
                                  error_code=None, urls=("u",), shard=shard("f", 3), max_attempts=3,
                                  objects=objects)
        units = [u.client_identifier for u in await journal.list_units(run.run_id)]
        outcomes = {(o.file, o.line): o for o in await journal.list_outcomes(run.run_id)}
        assert {outcomes[("f", n)].status.value for n in (0, 2)} == {"applied"}
        if objects == 3:
            assert retried == 0 and units == ["rk/a"]
            assert outcomes[("f", 1)].status.value == "rejected"
            assert "not retried" in (outcomes[("f", 1)].reason or "")
        else:
            assert retried == 1 and units == ["rk/a", "rk/a/retry"] and ("f", 1) not in outcomes


async def test_the_outcomes_are_heard_a_thousand_at_a_time_with_the_loop_free_between(tmp_path: Path) -> None:
    """A shard's thousands of outcomes reach the listener (the run's book, the image follow-up: Python
    on the event loop) in slices, so an urgent change waiting for the loop runs between them."""
    async with SqliteJournal(tmp_path / "j.sqlite3", clock=ManualClock(1_000.0)) as journal:
        run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
        lines = 2_500
        await journal.add_units(run.run_id, [
            NewUnit(UnitKind.BULK_SHARD, "rk/a", lines, payload={
                "kind": "variants", "lines": ["{}"] * lines, "rows": [[["f", n]] for n in range(lines)]})])
        [claim] = await journal.claim("w", [UnitKind.BULK_SHARD], lease_s=60, limit=1, run_id=run.run_id)
        heard: list[object] = []
        other = asyncio.Event()

        def someone_else() -> None:
            heard.append("other")
            other.set()

        def listen(outcomes: Sequence[Outcome]) -> None:
            heard.append([o.line for o in outcomes])
            if len(heard) == 1:  # someone else wants the loop now
                asyncio.get_running_loop().call_soon(someone_else)

        await reconcile(await results_of(list(range(lines))), journal, claim, status="COMPLETED",
                        error_code=None, urls=("u",), shard=shard("f", lines), max_attempts=3,
                        objects=lines, on_outcomes=listen)
        assert other.is_set()
        assert [len(h) if isinstance(h, list) else h for h in heard] == [1_000, "other", 1_000, 500]
        assert [n for h in heard if isinstance(h, list) for n in h] == list(range(lines))  # all, in order
