"""A run interrupted at any point, then the same input again: it completes, every row has exactly one
outcome and no object is written twice (invariant 5; issue 15, "resume never hangs").

The reported hang: a re-run adopts the operations the first run had started; when one of them ends
*before* the re-run has planned its lines again (they had ended on the shop while the user restarted,
or the file is big), those lines were counted in flight for ever, so every later line of their
products was held for ever and the run never left ``planning``. The second run's source here waits
for the first adopted operation to end before it yields anything, which makes that order certain.

The input: variant 0 of every product with two or more variants, then (a later batch, so a later
chunk) variant 1 of the same products — lines of the same products and kind, held behind the first
ones, but no variant written twice — then variant 0 of the one-variant products.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bulk.cli._request import SubmitRequest
from bulk.journal import RunStatus, UnitState, open_journal
from bulk.lanes.bulk import BulkLaneConfig
from bulk.models import PriceUpdate, Source, VariantRef
from bulk.session.shop import Shop
from bulk.submit.root import run_submission

# embedded, ten times faster than real time (the lane polls on the shop's clock), slow operations
SHOP = "sim://?products=300&seed=11&speed=10&bulk_lines_per_s=200"
# small, quick operations: several shards per batch, each running long enough to be interrupted
LANE = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.05, poll_fine_s=0.02, lease_s=2.0, lines_per_s=100,
                      op_overhead_s=0.1, look_ahead_s=0.2, min_op_lines=20, idle_wait_s=0.05)
PRODUCTS = range(1, 241)


def batch(products: list[int], variant: int, first_line: int) -> list[PriceUpdate]:
    return [PriceUpdate(source=Source(file="gen", line=first_line + i),
                        variant=VariantRef(sku=f"SKU-{p:07d}-{variant}"), price=Decimal(500 + i % 97))
            for i, p in enumerate(products)]


MULTI = [p for p in PRODUCTS if p % 3]  # products with 2 or 3 variants
SINGLE = [p for p in PRODUCTS if not p % 3]
BATCHES = [batch(MULTI, 0, 1), batch(MULTI, 1, 10_001), batch(SINGLE, 0, 20_001)]
ROWS = sum(len(b) for b in BATCHES)


async def source(gate: asyncio.Event | None = None) -> AsyncIterator[list[PriceUpdate]]:
    if gate is not None:
        await gate.wait()
    for updates in BATCHES:
        yield updates


async def submit(shop: Shop, tmp_path: Path, src: AsyncIterator[list[PriceUpdate]], on_event: Any) -> Any:
    request = SubmitRequest(file=Path("gen"), shop=None, route="bulk", state_dir=tmp_path / "state",
                            journal=str(tmp_path / "journal.sqlite3"), run_key="resume-test", lane=LANE,
                            report=tmp_path / "report.csv")
    return await run_submission(shop, request.run_options(), src, input_name="gen", on_event=on_event)


async def open_shards(tmp_path: Path) -> int:
    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        (run,) = await journal.list_runs()
        assert run.status is RunStatus.PLANNING  # interrupted before planning finished
        return sum(1 for u in await journal.list_units(run.run_id)
                   if u.state not in (UnitState.DONE, UnitState.FAILED))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("point", "nth"), [("planned", 1), ("shard_started", 3), ("op_finished", 2)],
                         ids=["during-planning", "operations-running", "results-being-read"])
async def test_an_interrupted_run_resumes_to_one_outcome_per_row(tmp_path: Path, point: str,
                                                                 nth: int) -> None:
    async with Shop.connect(SHOP) as shop:
        seen = 0
        reached = asyncio.Event()

        def interrupt(name: str, _data: dict[str, Any]) -> None:
            nonlocal seen
            if name == point:
                seen += 1
                if seen == nth:
                    reached.set()

        first = asyncio.create_task(submit(shop, tmp_path, source(), interrupt))
        await reached.wait()
        first.cancel()  # what Ctrl-C does: the task group unwinds, shards are handed back
        with pytest.raises(asyncio.CancelledError):
            await first

        gate = asyncio.Event()
        if not await open_shards(tmp_path):
            gate.set()  # nothing to adopt: read at once

        def adopted_ended(name: str, _data: dict[str, Any]) -> None:
            if name == "shard_done":
                gate.set()

        # a hang shows as a timeout here, not as a test that never ends
        result = await asyncio.wait_for(submit(shop, tmp_path, source(gate), adopted_ended), 20)
        stats = shop.sim.state.statistics()

    assert result.summary == {"applied": ROWS, "unchanged": 0, "rejected": 0, "rows": ROWS}
    with (tmp_path / "report.csv").open(newline="") as f:
        lines = [(r["file"], r["line"], r["status"]) for r in csv.DictReader(f)]
    assert len(lines) == len({(file, line) for file, line, _ in lines}) == ROWS
    assert stats["objects_written_more_than_once"] == 0
    assert stats["objects_written"] == ROWS
    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        (run,) = await journal.list_runs()
        assert run.status is RunStatus.DONE


@pytest.mark.timeout(60)
async def test_a_run_interrupted_during_its_catalog_sync_syncs_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while a big shop's catalog is exported: the run exists in the journal but planned
    nothing. The same input again must bring the cache up to date and apply every row — not plan
    against the empty cache (every row "unknown SKU") as if it resumed a planned run."""
    import bulk.submit.root as root

    syncing = asyncio.Event()

    async def hangs(*_args: Any, **_kwargs: Any) -> Any:
        syncing.set()
        await asyncio.Event().wait()

    async with Shop.connect(SHOP) as shop:
        with monkeypatch.context() as patched:
            patched.setattr(root, "sync_catalog", hangs)
            first = asyncio.create_task(submit(shop, tmp_path, source(), lambda _n, _d: None))
            await syncing.wait()
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
        result = await asyncio.wait_for(submit(shop, tmp_path, source(), lambda _n, _d: None), 20)

    assert result.summary == {"applied": ROWS, "unchanged": 0, "rejected": 0, "rows": ROWS}
