"""Mass changes from Python: slow sources overlap with sending, backpressure, failures, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bulk.cli._request import SubmitRequest
from bulk.errors import BulkError
from bulk.journal import RunStatus, open_journal
from bulk.lanes.bulk import BulkLaneConfig
from bulk.models import PriceUpdate, Source, VariantRef
from bulk.session.runs import start_run
from bulk.session.shop import Shop
from bulk.sim import SimConfig, SimShop
from bulk.sources.readahead import ReadAhead, chunks
from bulk.submit.root import run_submission

TOKENS = ("tok-a", "tok-b", "tok-c")
FAST_LANE = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.05, lease_s=2.0)


def prices(products: range, *, start_line: int = 1) -> list[PriceUpdate]:
    """A new price (≥ 100, never the simulated catalog's current one) for every variant."""
    out: list[PriceUpdate] = []
    for p in products:
        for v in range(1 + p % 3):
            out.append(PriceUpdate(source=Source(file="gen", line=start_line + len(out)),
                                   variant=VariantRef(sku=f"SKU-{p:07d}-{v}"), price=Decimal(100 + p % 50)))
    return out


@pytest.fixture
async def sim() -> AsyncIterator[SimShop]:
    async with SimShop(SimConfig(products=600, tokens=TOKENS, seed=5)) as shop:
        yield shop


async def submit(shop: Shop, source: Any, tmp_path: Path, *, run_key: str = "lib-test",
                 on_event: Any = None) -> Any:
    request = SubmitRequest(file=Path("gen"), shop=None, route="bulk", state_dir=tmp_path / "state",
                            journal=str(tmp_path / "journal.sqlite3"), run_key=run_key, lane=FAST_LANE)
    return await run_submission(shop, request.run_options(), source, input_name="gen",
                                on_event=on_event or (lambda _n, _d: None))


async def test_a_list_of_updates_is_applied(sim: SimShop, tmp_path: Path) -> None:
    updates = prices(range(1, 101))
    async with Shop.connect(sim.url, TOKENS) as shop:
        run = start_run(shop, updates, state_dir=tmp_path, journal=str(tmp_path / "j.sqlite3"))
        result = await run.wait()
    assert result.summary["applied"] == len(updates) == result.summary["rows"]
    progress = run.progress()
    assert run.done and progress.shards_done + progress.direct_lines_done >= 1
    assert sim.state.statistics()["objects_written_more_than_once"] == 0


async def test_a_slow_source_overlaps_with_sending(sim: SimShop, tmp_path: Path) -> None:
    """The source will not yield its second batch until the first batch's bulk operation finished:
    a pipeline that read everything before sending would never finish (the test would time out)."""
    first_done = asyncio.Event()

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "shard_done":
            first_done.set()

    async def slow() -> AsyncIterator[list[PriceUpdate]]:
        yield prices(range(1, 201))
        await first_done.wait()  # stands for a slow query behind the next batch
        yield prices(range(201, 401), start_line=10_000)

    async with Shop.connect(sim.url, TOKENS) as shop:
        result = await asyncio.wait_for(submit(shop, slow(), tmp_path, on_event=on_event), 60)
    assert result.summary["applied"] == result.summary["rows"] == len(prices(range(1, 401)))


async def test_read_ahead_is_bounded() -> None:
    produced = 0

    def endless() -> Iterator[PriceUpdate]:
        nonlocal produced
        while True:
            produced += 1
            yield PriceUpdate(source=Source(file="gen", line=produced), variant=VariantRef(sku="S"),
                              price=Decimal(1))

    config = ReadAhead(chunk_rows=100, read_ahead=2)
    stream = chunks(endless(), config)
    first = await anext(stream)
    for _ in range(200):  # let the producer run as far as it can
        await asyncio.sleep(0)
    assert len(first) == 100
    # one chunk taken, two buffered, one being filled: never the whole (endless) source
    assert produced <= 100 * (1 + config.read_ahead + 1)
    await stream.aclose()


async def test_a_failing_source_keeps_what_it_yielded(sim: SimShop, tmp_path: Path) -> None:
    first = prices(range(1, 51))

    async def failing() -> AsyncIterator[list[PriceUpdate]]:
        yield first
        raise RuntimeError("the warehouse database went away")

    async with Shop.connect(sim.url, TOKENS) as shop:
        with pytest.raises(BulkError, match=f"the source failed after {len(first)} items: RuntimeError: the"):
            await submit(shop, failing(), tmp_path)
    async with open_journal(tmp_path / "journal.sqlite3") as journal:
        (run,) = await journal.list_runs()
        assert run.status is RunStatus.FAILED
        outcomes = await journal.list_outcomes(run.run_id)
    assert len(outcomes) == len(first) and {o.status.value for o in outcomes} == {"applied"}


async def test_cancelling_mid_run_leaves_the_journal_resumable(sim: SimShop, tmp_path: Path) -> None:
    updates = prices(range(1, 301))
    started = asyncio.Event()

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "shard_started":
            started.set()

    async with Shop.connect(sim.url, TOKENS) as shop:
        task = asyncio.create_task(submit(shop, updates, tmp_path, run_key="cancel-me", on_event=on_event))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with open_journal(tmp_path / "journal.sqlite3") as journal:
            (run,) = await journal.list_runs()
            units = await journal.list_units(run.run_id)
            assert units and all(u.lease_owner is None or u.state.value in ("pending", "submitted", "done")
                                 for u in units)
        # the same run key again: finishes the run, adopting the operation that was running
        result = await submit(shop, updates, tmp_path, run_key="cancel-me")
    assert result.summary["applied"] == len(updates)
    assert sim.state.statistics()["objects_written_more_than_once"] == 0
