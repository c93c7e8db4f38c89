"""``bulk submit`` reads its files in a second process (``bulk.sources.files``): the same outcomes as
reading in this one, several files as one run, the catalog looked up only after its sync, and no child
left behind by a cancelled run."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, cast

import pytest

from bulk.cli._request import SubmitRequest
from bulk.errors import InputError
from bulk.journal import RunStatus, open_journal
from bulk.lanes.bulk import BulkLaneConfig
from bulk.session.shop import Shop
from bulk.sim import SimConfig, SimShop
from bulk.sim._operations import ShopState
from bulk.sources._reader_process import ReaderOptions
from bulk.sources.files import FileInput
from bulk.submit.root import run_submission
from tests.csv_helpers import price_csv

TOKENS = ("tok-a", "tok-b", "tok-c")
FAST_LANE = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1, lease_s=2.0)
# no takeover expected: a lease a loaded machine cannot miss renewing (2 s lapsed under load)
STEADY_LANE = BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1, lease_s=60.0)
FIRST_CHUNK = 5_000  # ReadAhead().first_chunk_rows: rows past it come from the child


def variants(products: Iterable[int]) -> list[tuple[int, str]]:
    """(variant id, SKU) of the simulated catalog, where product p has 1 + p % 3 variants."""
    return [(p * 10 + v, f"SKU-{p:07d}-{v}") for p in products for v in range(1 + p % 3)]


def rounds(products: Iterable[int], count: int) -> list[tuple[str, str]]:
    """``count`` new prices (≥ 100: never the catalog's) for every variant: the last one wins."""
    skus = [sku for _, sku in variants(products)]
    return [(sku, f"{100 + r}.{i % 100:02d}") for r in range(count) for i, sku in enumerate(skus)]


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def shop_state(sim: SimShop) -> ShopState:
    return cast(ShopState, sim.state)


@pytest.fixture
async def sim() -> AsyncIterator[SimShop]:
    async with SimShop(SimConfig(products=400, tokens=TOKENS, seed=7)) as shop:
        yield shop


async def submit(sim: SimShop, files: FileInput, state: Path, *, input_name: str, dry_run: bool = False,
                 on_event: Any = None, report: Path | None = None, lane: BulkLaneConfig = FAST_LANE) -> Any:
    request = SubmitRequest(file=files.paths[0], shop=sim.url, tokens=TOKENS, route="bulk", dry_run=dry_run,
                            state_dir=state, journal=str(state / "journal.sqlite3"), report=report,
                            lane=lane)
    async with Shop.connect(sim.url, TOKENS) as shop:
        return await run_submission(shop, request.run_options(), files, input_name=input_name,
                                    on_event=on_event or (lambda _n, _d: None))


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "applied"])
async def test_reading_in_a_second_process_gives_the_same_outcomes(tmp_path: Path, dry_run: bool,
                                                                  children: list[Any]) -> None:
    rows = rounds(range(1, 401), 8)  # ~6,400 rows: the second chunk comes from the child
    rows[FIRST_CHUNK + 10] = ("SKU-0000001-0", "-3")  # a bad price, read by the child
    rows[FIRST_CHUNK + 20] = ("SKU-0009999-0", "10.00")  # an unknown SKU
    file = price_csv(tmp_path / "prices.csv", rows)
    results = []
    for in_process in (True, False):
        async with SimShop(SimConfig(products=400, tokens=TOKENS, seed=7)) as sim:
            state = tmp_path / f"state-{in_process}"
            result = await submit(sim, FileInput(paths=(file,), in_process=in_process), state,
                                  input_name=str(file), dry_run=dry_run, report=state / "report.csv",
                                  lane=STEADY_LANE)
            results.append((result, None if dry_run else sim.state.statistics()["objects_written"]))
    (here, _), (there, written) = results
    assert len(children) == 1 and children[0].poll() is not None
    assert there.outcomes == here.outcomes and there.plan == here.plan and results[0][1] == written
    bad = there.outcomes[(str(file), FIRST_CHUNK + 12)]  # row index + header + 1-based
    assert bad[0].value == "rejected" and bad[1].startswith("column price:")
    assert "unknown" in there.outcomes[(str(file), FIRST_CHUNK + 22)][1]
    assert there.plan["rejected"] == 2  # the plan's figures count rows refused at reading too
    if not dry_run:
        assert report_rows(there.report_path) == report_rows(here.report_path)
        # each chunk's last row of every variant: the second chunk (the child's) names each again
        assert there.summary["applied"] == 2 * len(variants(range(1, 401))) and there.summary["rejected"] == 2


async def test_the_reading_process_looks_up_the_catalog_after_its_sync(
        sim: SimShop, tmp_path: Path, children: list[Any]) -> None:
    """The cache is empty until the run syncs it: a child that opened and read it before would find no
    variant of the second chunk."""
    file = price_csv(tmp_path / "prices.csv", rounds(range(1, 401), 8))
    order: list[str] = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        order.append(f"{name}:{len(children)}")  # how many children had started by then

    result = await submit(sim, FileInput(paths=(file,), in_process=False), tmp_path / "state",
                          input_name=str(file), dry_run=True, on_event=on_event)
    assert len(children) == 1 and "catalog_synced:0" in order
    assert not any("unknown" in reason for _, reason in result.outcomes.values())
    # a dry run's outcomes are the superseded rows: all but each chunk's last row of every variant
    assert len(result.outcomes) == len(rounds(range(1, 401), 8)) - 2 * len(variants(range(1, 401)))


async def test_several_files_are_one_submission_read_one_after_the_other(
        sim: SimShop, tmp_path: Path, children: list[Any]) -> None:
    """A price CSV, an images JSONL and a second price CSV whose late rows (read by its own child) set
    some prices of the first file back: the child of a later file must not take them for variants
    the run never named (the planner would then compare with the catalog and find nothing to do)."""
    first = price_csv(tmp_path / "prices.csv", rounds(range(1, 101), 1))
    images = tmp_path / "images.jsonl"
    images.write_text("".join(json.dumps({"kind": "image", "handle": f"product-{p}",
                                          "image_src": f"https://cdn.example/{p}.jpg"}) + "\n"
                              for p in range(101, 131)))
    back = variants(range(1, 21))
    catalog_price = {sku: f"{shop_state(sim).catalog.price_cents(vid) / 100:.2f}" for vid, sku in back}
    filler = rounds(range(200, 401), 1 + FIRST_CHUNK // len(variants(range(200, 401))))
    second = price_csv(tmp_path / "later.csv", [*filler, *((sku, catalog_price[sku]) for _, sku in back)])
    files = FileInput(paths=(first, images, second), in_process=False)
    result = await submit(sim, files, tmp_path / "state", input_name="black-friday")
    assert len(children) == 3 and all(c.poll() is not None for c in children)
    rows = len(rounds(range(1, 101), 1)) + 30 + len(filler) + len(back)
    assert result.summary["rows"] == rows and result.summary.get("rejected", 0) == 0
    for n in range(1, len(back) + 1):  # the second file's last rows: applied, not "unchanged"
        assert result.outcomes[(str(second), len(filler) + 1 + n)][0].value == "applied"
    for vid, sku in back:
        assert f"{shop_state(sim).catalog.price_cents(vid) / 100:.2f}" == catalog_price[sku]
    assert all(shop_state(sim).catalog.media(p)[-1].url.endswith(f"/{p}.jpg") for p in range(101, 131))
    assert {result.outcomes[(str(images), n)][0].value for n in range(1, 31)} == {"applied"}


async def test_too_many_bad_rows_stop_the_run_after_what_was_read_before(
        sim: SimShop, tmp_path: Path, children: list[Any]) -> None:
    rows = rounds(range(1, 401), 8)
    for n in (1, 2, 3):
        rows[FIRST_CHUNK + 100 * n] = ("SKU-0000001-0", "abc")
    file = price_csv(tmp_path / "prices.csv", rows)
    files = FileInput(paths=(file,), options=ReaderOptions(max_errors=2), in_process=False)
    with pytest.raises(InputError) as error:  # no takeover expected: a lease load cannot make lapse
        await submit(sim, files, tmp_path / "state", input_name=str(file), lane=STEADY_LANE)
    assert (error.value.file, error.value.line, error.value.column) == (str(file), FIRST_CHUNK + 302, "price")
    assert children and all(c.poll() is not None for c in children)
    async with open_journal(tmp_path / "state" / "journal.sqlite3") as journal:
        (run,) = await journal.list_runs()
        assert run.status is RunStatus.FAILED
        outcomes = {(o.line): o for o in await journal.list_outcomes(run.run_id)}
    assert all(line in outcomes for line in range(2, FIRST_CHUNK + 2))  # the first chunk, planned and sent
    for line in (FIRST_CHUNK + 102, FIRST_CHUNK + 202):  # the bad rows before the limit, with their column
        assert outcomes[line].status.value == "rejected"
        assert (outcomes[line].reason or "").startswith("column price")


class Crash(Exception):
    """Stands for a kill in the middle of a run."""


async def test_a_crashed_run_resumes_without_applying_twice(
        sim: SimShop, tmp_path: Path, children: list[Any]) -> None:
    unknown = [(f"SKU-{9_000_000 + i:07d}-0", "1.00") for i in range(FIRST_CHUNK)]
    file = price_csv(tmp_path / "prices.csv", [*unknown, *rounds(range(1, 401), 1)])  # known: the child's
    files = FileInput(paths=(file,), in_process=False)

    def crash(name: str, data: dict[str, Any]) -> None:
        if name == "shard_started":
            raise Crash

    with pytest.raises(ExceptionGroup) as info:
        await submit(sim, files, tmp_path / "state", input_name=str(file), on_event=crash)
    assert info.group_contains(Crash)
    result = await submit(sim, files, tmp_path / "state", input_name=str(file))  # the same run again
    assert result.summary["applied"] == len(variants(range(1, 401)))
    assert result.summary["rejected"] == FIRST_CHUNK
    assert shop_state(sim).statistics()["objects_written_more_than_once"] == 0
    assert children and all(c.poll() is not None for c in children)


async def test_cancelling_a_run_ends_its_reading_process(
        sim: SimShop, tmp_path: Path, children: list[Any]) -> None:
    file = price_csv(tmp_path / "prices.csv", rounds(range(1, 401), 300))  # ~240k rows, 7 chunks
    planned = asyncio.Event()
    alive: list[bool] = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "planned" and not planned.is_set():
            alive.extend(c.poll() is None for c in children)  # blocked on a full pipe, chunks ahead
            planned.set()

    task = asyncio.create_task(submit(sim, FileInput(paths=(file,), in_process=False), tmp_path / "state",
                                      input_name=str(file), on_event=on_event))
    await planned.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert alive == [True]
    assert [c.poll() is not None for c in children] == [True]
