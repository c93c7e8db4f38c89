"""Lines cut into shards just in time (``bulk.lanes.bulk.feed``), per-kind ordering, and the outcome book."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.journal import Journal, Outcome, SqliteJournal, UnitState
from bulk.lanes.bulk import shard_data
from bulk.lanes.bulk.feed import MEDIA_STAGGER, LinePool, ResumeIndex, digest, media_cap, pick_kind, root_of
from bulk.models import OutcomeStatus
from bulk.plan import PlannedLine
from bulk.plan.ordering import KindAdmission
from bulk.submit._outcome_book import OutcomeBook


def price(product: int, row: int) -> PlannedLine:
    return PlannedLine("variants", {"productId": f"gid://shopify/Product/{product}",
                                    "variants": [{"id": f"gid://shopify/ProductVariant/{product * 10}",
                                                  "price": "1.00"}]}, (("prices.csv", row),))


def image(product: int, row: int) -> PlannedLine:
    return PlannedLine("product", {"product": {"id": f"gid://shopify/Product/{product}"},
                                   "media": [{"originalSource": "https://cdn/x.jpg"}]}, (("img.jsonl", row),))


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with SqliteJournal(tmp_path / "journal.sqlite3", clock=ManualClock(1_000.0)) as j:
        yield j


async def new_pool(journal: Journal, tmp_path: Path,
                   units: dict[str, list[PlannedLine]]) -> tuple[LinePool, int]:
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    pool = LinePool(journal, run.run_id, run_key="rk", directory=tmp_path / "shards", inline=False,
                    on_unit=units.__setitem__)
    return pool, run.run_id


async def test_cuts_take_image_lines_first_then_first_planned_first_cut_one_kind_per_shard(
        journal: Journal, tmp_path: Path) -> None:
    units: dict[str, list[PlannedLine]] = {}
    pool, run_id = await new_pool(journal, tmp_path, units)
    prices = [price(p, p) for p in range(1, 8)]
    images = [image(p, p) for p in range(1, 4)]
    pool.add(prices[:4])
    pool.add(images)
    pool.add(prices[4:])
    assert pool.pooled == 10
    assert await pool.cut([3, 3]) == 2
    # the images first, though planned after the first prices; then the oldest kind
    assert [units[u] for u in units] == [images, prices[:3]]
    assert await pool.cut([3, 3]) == 2
    assert list(units.values())[-2:] == [prices[3:6], prices[6:]]
    assert await pool.cut([3]) == 0 and pool.pooled == 0  # the pool ran dry
    stored = await journal.list_units(run_id)
    assert [u.client_identifier for u in stored] == list(units)
    assert all(u.client_identifier.startswith(("rk/variants-", "rk/product-")) for u in stored)
    for unit in stored:  # each shard holds exactly its lines, in order
        assert shard_data.load(unit).rows == [list(line.rows) for line in units[unit.client_identifier]]


async def test_one_add_of_mixed_kinds_keeps_each_kinds_order_and_arrival(journal: Journal,
                                                                        tmp_path: Path) -> None:
    units: dict[str, list[PlannedLine]] = {}
    pool, _ = await new_pool(journal, tmp_path, units)
    lines = [price(1, 1), price(2, 2), image(3, 3), price(4, 4), image(5, 5), price(6, 6)]
    pool.add(iter(lines))  # any iterable, kinds interleaved as a chunk's released and admitted lines are
    pool.add([price(7, 7)])
    assert pool.pooled == 7
    assert await pool.cut([2, 3, 9]) == 3
    assert list(units.values()) == [[lines[2], lines[4]], [lines[0], lines[1], lines[3]],
                                    [lines[5], price(7, 7)]]
    assert pool.pooled == 0


async def test_a_kinds_rest_too_small_for_an_operation_goes_with_the_cut_before_it(
        journal: Journal, tmp_path: Path) -> None:
    units: dict[str, list[PlannedLine]] = {}
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    pool = LinePool(journal, run.run_id, run_key="rk", directory=tmp_path / "shards", inline=False,
                    on_unit=units.__setitem__, min_lines=3)
    pool.add([price(p, p) for p in range(1, 6)])
    assert await pool.cut([3]) == 1 and pool.pooled == 0  # 3 of 5 would leave 2 < 3 behind
    assert [len(lines) for lines in units.values()] == [5]


def test_image_kinds_are_cut_first_unless_too_few_for_an_operation() -> None:
    """The pure choice: (lines queued, arrival of the oldest) per kind."""
    queued = {"variants": (5_000, 0), "set": (3_000, 10)}
    assert pick_kind(queued, 2_000, min_lines=100) == "set"  # planned later, cut first
    assert pick_kind({"variants": (5_000, 0), "set": (150, 10)}, 2_000, min_lines=100) == "set"  # short
    assert pick_kind({"variants": (5_000, 0), "set": (50, 10)}, 2_000, min_lines=100) == "variants"
    assert pick_kind({"variants": (5, 0), "set": (50, 10)}, 2_000, min_lines=100) == "set"  # the end
    assert pick_kind({"variants": (5_000, 3), "product": (10, 1), "media": (900, 2)}, 500,
                     min_lines=100) == "media"  # the oldest image kind that can make an operation
    assert pick_kind({}, 10, min_lines=1) is None


async def test_image_shards_are_short_so_their_images_come_back_early(journal: Journal,
                                                                      tmp_path: Path) -> None:
    units: dict[str, list[PlannedLine]] = {}
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    pool = LinePool(journal, run.run_id, run_key="rk", directory=tmp_path / "shards", inline=False,
                    on_unit=units.__setitem__, min_lines=2, media_lines=4, slots=3)
    pool.add([price(p, p) for p in range(1, 11)] + [image(p, 100 + p) for p in range(1, 11)])
    assert await pool.cut([10, 10, 10]) == 3  # one round of the three slots
    # 10 image lines in shards of at most 4, staggered (the rest still makes an operation); then prices
    first, second = media_cap(0, 3, 4), media_cap(1, 3, 4)
    assert (first, second) == (4, 2)
    assert [len(lines) for lines in units.values()] == [first, second, 10 - first - second]
    assert await pool.cut([10]) == 1 and pool.pooled == 0
    assert [lines[0].kind for lines in units.values()] == ["product", "product", "product", "variants"]


async def test_image_shards_grow_a_round_at_a_time(journal: Journal, tmp_path: Path) -> None:
    """Short image shards first (their images come back early), then each round of the lane's slots as
    long as every image line cut before it, a slot's share: fewer operations, each with the shop's
    CREATED delay, and the follow-up still has the last round's images to read when the next ends."""
    units: dict[str, list[PlannedLine]] = {}
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    pool = LinePool(journal, run.run_id, run_key="rk", directory=tmp_path / "shards", inline=False,
                    on_unit=units.__setitem__, media_lines=4, slots=2)
    pool.add([image(p, 100 + p) for p in range(1, 61)])
    for _ in range(4):  # four rounds of the two slots, each asking for more than any cap
        await pool.cut([100, 100])
    sizes = [len(lines) for lines in units.values()]  # 4, 2, 10, 7, 24, then what is left
    assert sizes[:5] == [media_cap(n, 2, 4) for n in range(5)] and sum(sizes) == 60
    assert sizes[5:] == [60 - sum(sizes[:5])]  # the last round's cap is more than the rest


def test_image_shards_double_each_round_staggered_within_it() -> None:
    """Fifteen shards of one size would end together, their images handed to the follow-up at once."""
    for round_, size in enumerate((1_000, 2_000, 4_000, 8_000)):
        caps = [media_cap(cuts, 15) for cuts in range(15 * round_, 15 * round_ + 15)]
        assert all(size * (1 - MEDIA_STAGGER) <= cap <= size * (1 + MEDIA_STAGGER) for cap in caps)
        assert len(set(caps)) == 15  # no two end together
        assert sum(caps) / 15 == pytest.approx(size, rel=0.1)  # each round as long as all before it


async def test_while_the_input_is_read_no_shard_is_long(journal: Journal, tmp_path: Path) -> None:
    """Lines planned later (images after a file of prices) must not wait for long operations cut to
    end with the lines known so far."""
    units: dict[str, list[PlannedLine]] = {}
    read = asyncio.Event()
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    pool = LinePool(journal, run.run_id, run_key="rk", directory=tmp_path / "shards", inline=False,
                    on_unit=units.__setitem__, open_lines=3, all_known=read)
    pool.add([price(p, p) for p in range(1, 11)])
    await pool.cut([5])
    read.set()  # every line known: cuts are the lane's sizes again
    await pool.cut([7])
    assert [len(lines) for lines in units.values()] == [3, 7]


def test_a_shards_identity_is_a_hash_of_its_rows() -> None:
    assert digest([price(1, 1), price(2, 2)]) == digest([price(1, 1), price(2, 2)])
    assert digest([price(1, 1), price(2, 2)]) != digest([price(1, 1), price(2, 3)])
    assert root_of("rk/variants-ab/retry/retry") == "rk/variants-ab"


async def test_planned_again_a_line_goes_to_its_open_shard_or_is_finished_or_is_new(
        journal: Journal, tmp_path: Path) -> None:
    units: dict[str, list[PlannedLine]] = {}
    pool, run_id = await new_pool(journal, tmp_path, units)
    pool.add([price(1, 1), price(2, 2), price(3, 3), price(4, 4)])
    await pool.cut([2, 2])
    first, second = await journal.list_units(run_id)
    (claim,) = await journal.claim("w", [first.kind], lease_s=60, limit=1, run_id=run_id)
    await journal.record_outcomes(run_id, [Outcome("prices.csv", r, OutcomeStatus.APPLIED) for r in (1, 2)])
    await journal.complete(claim)
    index = await ResumeIndex.load(journal, run_id)
    fresh, held, finished = index.sort([price(1, 1), price(3, 3), price(4, 4), price(5, 5)])
    assert finished == [price(1, 1)]  # its shard is done: the row has its outcome
    assert held == {second.client_identifier: [price(3, 3), price(4, 4)]}  # its shard will run
    assert fresh == [price(5, 5)]  # never cut
    assert (await journal.get_unit(first.unit_id)).state is UnitState.DONE


def test_a_products_image_is_not_held_behind_its_price_but_a_second_price_is() -> None:
    admission = KindAdmission()
    assert admission.admit([price(1, 1)]) == [price(1, 1)]
    # a later chunk: an image of the same product writes other fields — sent side by side
    assert admission.admit([image(1, 2), price(1, 3)]) == [image(1, 2)]
    assert admission.held == 1  # the second price waits for the first
    assert admission.release_held() == []
    admission.done([price(1, 1)])
    assert admission.release_held() == [price(1, 3)] and admission.held == 0


async def test_the_book_serves_the_report_from_memory_unless_the_journal_knows_more(
        journal: Journal) -> None:
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    book = OutcomeBook(journal, run.run_id)
    await book.record([Outcome("f", 2, OutcomeStatus.APPLIED),
                       Outcome("f", 1, OutcomeStatus.UNCHANGED, "same")])
    await book.record([Outcome("f", 1, OutcomeStatus.UNCHANGED, "another reason")])
    expected: dict[Any, Any] = {("f", 1): (OutcomeStatus.UNCHANGED, "same"),
                                ("f", 2): (OutcomeStatus.APPLIED, "")}
    assert await book.all() == expected
    # another process recorded a row of this run: the journal is read back
    await journal.record_outcomes(run.run_id, [Outcome("f", 3, OutcomeStatus.REJECTED, "bad")])
    assert (await book.all())[("f", 3)] == (OutcomeStatus.REJECTED, "bad")
