"""The follow-up of a run's new images: what is read, how it is batched, when it stops waiting."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from graphql import build_schema, parse, validate

from bulk.catalog import CatalogStore
from bulk.clock import ManualClock
from bulk.journal import Outcome
from bulk.lanes import media_check
from bulk.lanes._media_ids import HEADROOM, MAX_IDS, id_document, id_groups, tail_of
from bulk.lanes._media_products import MAX_ALIASES, QUERY_BUDGET, batches, query_cost, status_document
from bulk.lanes.bulk.reconcile import media_ids
from bulk.lanes.media_check import (
    EXPORT_START_S,
    READS_IN_FLIGHT,
    MediaFollower,
    MediaWatch,
    export_pays,
    export_s,
    follow_media,
    judge,
    watch_of,
)
from bulk.models import Lane, OutcomeStatus
from bulk.plan import PlannedLine
from bulk.submit._media_followup import MediaFollowUp, amend_outcomes

SCHEMA = Path(__file__).resolve().parents[2] / "bulk" / "schema" / "2026-04-admin-schema.graphql"
ROW = ("f.csv", 2)


def node(status: str, *, code: str | None = None, gid: str = "gid://shopify/MediaImage/9") -> dict[str, Any]:
    errors = [] if code is None else [{"code": code, "message": "Media could not be processed."}]
    return {"id": gid, "status": status, "mediaErrors": errors}


def test_a_line_is_watched_for_the_images_it_adds_only() -> None:
    append = PlannedLine("media", {"product": {"id": "P"}, "media": [
        {"originalSource": "https://a/1.jpg"}, {"originalSource": "https://a/2.jpg"}]}, (ROW,), (ROW,))
    assert watch_of(append) == MediaWatch("P", 2, ((0, "https://a/1.jpg"), (1, "https://a/2.jpg")), (ROW,))
    replace = PlannedLine("set", {"identifier": {"id": "P"}, "input": {"files": [
        {"id": "gid://shopify/MediaImage/1"}, {"originalSource": "https://a/3.jpg"}]}}, (ROW,))
    assert watch_of(replace) == MediaWatch("P", 2, ((1, "https://a/3.jpg"),), (ROW,))
    only_kept = PlannedLine("set", {"identifier": {"id": "P"}, "input": {"files": [{"id": "M"}]}}, (ROW,))
    description = PlannedLine("product", {"product": {"id": "P", "descriptionHtml": "x"}}, (ROW,))
    assert watch_of(only_kept) is None and watch_of(description) is None


def test_the_verdict_reads_the_last_images_and_names_shopifys_reason() -> None:
    watch = MediaWatch("P", 2, ((0, "https://a/1.jpg"), (1, "https://bad/2.jpg")), (ROW,))
    older = node("READY", gid="old")
    failed = judge(watch, [older, node("READY"), node("FAILED", code="IMAGE_DOWNLOAD_FAILURE")])
    assert failed.state == "failed"
    assert "https://bad/2.jpg" in failed.reason and "IMAGE_DOWNLOAD_FAILURE" in failed.reason
    assert judge(watch, [node("READY"), node("PROCESSING")]).state == "processing"
    assert judge(watch, [node("READY"), node("READY")]).state == "ready"
    assert judge(watch, [node("READY")]).state == "unread"  # fewer images than the line wrote
    assert judge(watch, None).state == "unread"


def test_batches_stay_under_the_query_budget_and_the_alias_limit() -> None:
    watches = [MediaWatch(f"P{i}", 1 + i % 7, ((0, "u"),), (ROW,)) for i in range(500)]
    groups = batches(watches)
    assert sorted(w.product_id for g in groups for w in g) == sorted(w.product_id for w in watches)
    for group in groups:
        assert len(group) <= MAX_ALIASES
        assert query_cost(max(w.last for w in group), len(group)) <= QUERY_BUDGET
    assert len(groups) < 60  # many products per query, not one query each


def test_the_aliased_query_is_valid_against_the_admin_schema() -> None:
    errors = validate(build_schema(SCHEMA.read_text(encoding="utf-8")), parse(status_document(3)))
    assert not errors, errors


class FakeShop:
    """Answers the follow-up query: product P's last image is PROCESSING until ``ready_at`` (shop
    time), then READY; records each query's cost and priority."""

    def __init__(self, clock: ManualClock, ready_at: float | None) -> None:
        self.clock, self.ready_at = clock, ready_at
        self.asked: list[tuple[float, Lane, Mapping[str, Any]]] = []

    async def request(self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float,
                      priority: Lane, token_index: int | None = None) -> Any:
        assert variables is not None
        self.asked.append((cost, priority, variables))
        done = self.ready_at is not None and self.clock.now() >= self.ready_at
        nodes = [node("READY" if done else "PROCESSING")]
        aliases = [k[2:] for k in variables if k.startswith("id")]
        return SimpleNamespace(data={f"p{i}": {"id": variables[f"id{i}"], "media": {"nodes": nodes}}
                                     for i in aliases})


async def follow(ready_at: float | None, wait_s: float) -> tuple[Any, FakeShop, ManualClock]:
    clock = ManualClock()
    shop = FakeShop(clock, ready_at)
    watch = MediaWatch("P", 1, ((0, "https://a/1.jpg"),), (ROW,))
    task = asyncio.create_task(follow_media(shop, [watch], clock=clock, wait_s=wait_s, poll_s=2.0))
    await clock.advance_until(task.done, step=1.0)
    return task.result(), shop, clock


async def test_images_are_read_again_until_ready_at_the_lowest_priority() -> None:
    report, shop, clock = await follow(ready_at=5.0, wait_s=60.0)
    assert report.counts() == {"ready": 1, "failed": 0, "processing": 0, "unread": 0}
    assert len(shop.asked) == 4 and clock.now() == 6.0  # read at 0, 2, 4 (processing) and 6
    assert {priority for _, priority, _ in shop.asked} == {Lane.BACKGROUND}


async def test_the_wait_is_bounded_and_what_still_processes_says_so() -> None:
    report, shop, clock = await follow(ready_at=None, wait_s=10.0)
    (verdict,) = report.verdicts.values()
    assert verdict.state == "processing" and "still processing" in verdict.reason
    assert clock.now() == 10.0 and len(shop.asked) == 5  # read at 0, 2, 4, 6, 8; at 10 it stops


async def test_the_follower_reads_while_the_run_goes_on_backing_off() -> None:
    clock = ManualClock()
    shop = FakeShop(clock, ready_at=7.0)
    follower = MediaFollower(shop, clock=clock, first_read_s=2.0, poll_s=2.0)
    task = asyncio.create_task(follower.run(wait_s=60.0))
    follower.add([MediaWatch("P", 1, ((0, "https://a/1.jpg"),), (ROW,))])
    await clock.advance_until(lambda: len(shop.asked) == 3, step=0.5)
    assert clock.now() == 8.0  # read 2 s after the line was done, then 2 and 4 s later: 2, 4, 8
    assert follower.report.counts()["ready"] == 1 and not task.done()  # the run is not over yet
    follower.finish()
    await clock.run_until_idle()
    assert task.done() and len(shop.asked) == 3


async def test_each_watch_is_read_when_it_comes_due_and_not_before() -> None:
    # What is due is taken from a heap by time (200,000 watches pend at Black Friday's end): each read
    # holds exactly the watches due by then, whatever order they were added and read again in.
    clock = ManualClock()
    shop = FakeShop(clock, ready_at=3.5)
    follower = MediaFollower(shop, clock=clock, first_read_s=2.0, poll_s=2.0)
    task = asyncio.create_task(follower.run(wait_s=60.0))
    follower.add([MediaWatch("A", 1, ((0, "https://a/1.jpg"),), (ROW,))])
    await clock.advance_until(lambda: clock.now() >= 1.0, step=0.5)
    follower.add([MediaWatch("B", 1, ((0, "https://b/1.jpg"),), (ROW,))])
    await clock.advance_until(lambda: len(shop.asked) == 4, step=0.5)
    read = [sorted(v for k, v in variables.items() if k.startswith("id")) for _, _, variables in shop.asked]
    assert read == [["A"], ["B"], ["A"], ["B"]]  # A at 2 and 4 (ready), B at 3 and 5 (ready)
    assert clock.now() == 5.0 and follower.report.counts()["ready"] == 2
    follower.finish()
    await clock.run_until_idle()
    assert task.done() and len(shop.asked) == 4


async def test_watches_due_together_are_read_in_rounds_of_at_most_round_most(monkeypatch: Any) -> None:
    # A round's bookkeeping runs on the loop the urgent lane shares: fifteen image operations' watches
    # coming due together are read a few thousand at a time, the earliest added first, all of them.
    monkeypatch.setattr(media_check, "ROUND_MOST", 3)
    clock = ManualClock()
    shop = FakeShop(clock, ready_at=0.0)
    follower = MediaFollower(shop, clock=clock, first_read_s=2.0, poll_s=2.0)
    task = asyncio.create_task(follower.run(wait_s=60.0))
    follower.add([MediaWatch(f"P{n}", 1, ((0, f"https://a/{n}.jpg"),), (("f.csv", n),)) for n in range(7)])
    await clock.advance_until(lambda: follower.report.counts()["ready"] == 7, step=0.5)
    read = [sorted(v for k, v in variables.items() if k.startswith("id")) for _, _, variables in shop.asked]
    assert read == [["P0", "P1", "P2"], ["P3", "P4", "P5"], ["P6"]]
    follower.finish()
    await clock.run_until_idle()
    assert task.done()


def test_amended_rows_are_applied_to_the_report(tmp_path: Path) -> None:
    outcomes = {ROW: (OutcomeStatus.APPLIED, ""), ("f.csv", 3): (OutcomeStatus.APPLIED, "")}
    assert amend_outcomes(outcomes, tmp_path) is outcomes
    (tmp_path / "media.json").write_text('[["f.csv", 2, "rejected", "image FAILED"]]')
    assert amend_outcomes(outcomes, tmp_path) == {ROW: (OutcomeStatus.REJECTED, "image FAILED"),
                                                 ("f.csv", 3): (OutcomeStatus.APPLIED, "")}


class FakeExport:
    """A bulk query port whose export holds products P0..P2 (one READY image each) and finishes
    after ``polls`` status calls (never, for None)."""

    def __init__(self, polls: int | None) -> None:
        self.polls, self.queries = polls, []  # type: ignore[var-annotated]

    async def start_query(self, query: str, *, token_index: int) -> str:
        self.queries.append(query)
        return "op"

    async def status(self, op_id: str, *, token_index: int) -> Any:
        self.polls = None if self.polls is None else self.polls - 1
        done = self.polls is not None and self.polls <= 0
        return SimpleNamespace(status="COMPLETED" if done else "RUNNING", url="u" if done else None,
                               error_code=None)

    async def results(self, url: str) -> Any:
        for i in range(3):
            yield {"id": f"P{i}"}
            yield {**node("READY"), "__parentId": f"P{i}"}


def test_the_bulk_query_at_the_end_only_when_it_ends_in_time_and_before_the_direct_reads() -> None:
    # 1/5 Black Friday: 20,000 images due, 112,000 lines written (prices too): ~173 s of export
    assert not export_pays(20_000, 112_000, wait_left_s=30.0)
    assert not export_pays(10_000, 112_000, wait_left_s=1_000.0)  # in time, but the reads are sooner
    # a run of images only: 10,000 products, 10,000 images by id (100 s at 100 points/s) vs a 20 s export
    assert export_pays(10_000, 10_000, wait_left_s=60.0)
    assert not export_pays(10_000, 10_000, wait_left_s=30.0)  # it would not end within half the wait left
    assert not export_pays(1_000, 10_000, wait_left_s=60.0)  # 10 s of direct reads
    assert export_s(0) == EXPORT_START_S


async def test_many_products_due_at_the_end_are_read_with_one_bulk_query(monkeypatch: Any) -> None:
    monkeypatch.setattr("bulk.lanes._media_rules.READ_POINTS_PER_S", 1.0)  # reads slower than the export
    clock = ManualClock()
    shop, export = FakeShop(clock, ready_at=None), FakeExport(polls=3)
    follower = MediaFollower(shop, clock=clock, export=export, since="2026-12-06T08:00:00Z")
    follower.add([MediaWatch(f"P{i}", 1, ((0, "https://a/1.jpg"),), (ROW,)) for i in range(3)])
    follower.finish()
    task = asyncio.create_task(follower.run(wait_s=60.0))
    await clock.advance_until(task.done, step=0.5)
    assert task.result().counts()["ready"] == 3 and task.result().exports == 1
    assert shop.asked == []  # no direct query: no bucket points
    assert "updated_at:>='2026-12-06T08:00:00Z'" in export.queries[0]


async def test_an_export_not_finished_by_the_deadline_gives_way_to_direct_reads(monkeypatch: Any) -> None:
    monkeypatch.setattr("bulk.lanes._media_rules.READ_POINTS_PER_S", 1.0)
    clock = ManualClock()
    shop, export = FakeShop(clock, ready_at=0.0), FakeExport(polls=None)
    follower = MediaFollower(shop, clock=clock, export=export)
    follower.add([MediaWatch(f"P{i}", 1, ((0, "https://a/1.jpg"),), (ROW,)) for i in range(3)])
    follower.finish()
    task = asyncio.create_task(follower.run(wait_s=20.0))
    await clock.advance_until(task.done, step=0.5)
    assert task.result().counts()["ready"] == 3 and task.result().exports == 1
    assert clock.now() == 12.0 and len(shop.asked) == 1  # export given up at 10 (half the wait), read at 12


class IdShop:
    """Answers by-id queries: image m-bad FAILED, the others READY; records (fragment, cost)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []

    async def request(self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float,
                      priority: Lane, token_index: int | None = None) -> Any:
        assert variables is not None and priority is Lane.BACKGROUND
        detail = "mediaErrors" in document
        self.asked.append(("MediaFailure" if detail else "MediaStatus", cost))
        data = {}
        for alias, mid in variables.items():
            failed = mid == "m-bad"
            data[alias] = {"id": mid, "status": "FAILED" if failed else "READY"}
            if detail:
                data[alias]["mediaErrors"] = [{"code": "IMAGE_DOWNLOAD_FAILURE", "message": "no"}]
        return SimpleNamespace(data=data)


async def test_images_named_by_the_bulk_results_are_read_by_id_at_one_point_each() -> None:
    shop = IdShop()
    follow_up = MediaFollowUp(shop, clock=ManualClock(), wait_s=10.0)
    append = PlannedLine("media", {"product": {"id": "P"}, "media": [
        {"originalSource": "https://a/1.jpg"}, {"originalSource": "https://bad/2.jpg"}]}, (ROW,), (ROW,))
    replace = PlannedLine("set", {"identifier": {"id": "Q"}, "input": {"files": [
        {"originalSource": "https://a/3.jpg"}, {"id": "m-kept"}]}}, (("f.csv", 3),))
    follow_up.note_outcomes([Outcome("f.csv", 3, OutcomeStatus.APPLIED, object_id="m-new m-kept")])
    follow_up.lines_done([append, replace])  # the results of the first line come after it is done
    follow_up.note_outcomes([Outcome("f.csv", 2, OutcomeStatus.APPLIED, object_id="m-old m-ok m-bad")])
    outcomes = {ROW: (OutcomeStatus.APPLIED, ""), ("f.csv", 3): (OutcomeStatus.APPLIED, "")}
    with CatalogStore(":memory:") as catalog, tempfile.TemporaryDirectory() as tmp:
        counts = await follow_up.finish(outcomes, Path(tmp), lambda _n, _d: None)
        await follow_up.store(catalog)
        amended = amend_outcomes(outcomes, Path(tmp))
    assert counts == {"ready": 1, "failed": 1, "processing": 0, "unread": 0}
    assert amended[ROW][0] is OutcomeStatus.REJECTED and "https://bad/2.jpg" in amended[ROW][1]
    # m-ok, m-bad, m-new; then m-bad: a point an image (two with mediaErrors), and the headroom asked
    # on top (refunded with the answer) that keeps an urgent burst's points in the buckets
    assert shop.asked == [("MediaStatus", 3 + HEADROOM), ("MediaFailure", 2 + HEADROOM)]


async def test_a_big_shards_watches_made_in_a_thread_meet_results_read_before_and_after_them(
        monkeypatch: Any) -> None:
    monkeypatch.setattr("bulk.submit._media_followup.WATCHES_ON_LOOP", 1)  # two lines are "big"
    shop = IdShop()
    follow_up = MediaFollowUp(shop, clock=ManualClock(), wait_s=10.0)
    lines = [PlannedLine("media", {"product": {"id": f"P{i}"}, "media": [
        {"originalSource": f"https://a/{i}.jpg"}]}, (("f.csv", i),), (("f.csv", i),)) for i in range(4)]
    follow_up.note_outcomes([Outcome("f.csv", 0, OutcomeStatus.APPLIED, object_id="m-0")])
    follow_up.lines_done(lines[:2])
    follow_up.lines_done(lines[2:])
    assert follow_up._follower.watches == []  # not made on the loop: in a worker thread
    # results read while the watches are being made: each still reaches its watch
    follow_up.note_outcomes([Outcome("f.csv", i, OutcomeStatus.APPLIED, object_id=f"m-{i}")
                             for i in (1, 2)])
    await asyncio.gather(*follow_up._adding)  # the watches are made
    assert list(follow_up._waiting) == [("f.csv", 3)]  # its results come after its watch
    follow_up.note_outcomes([Outcome("f.csv", 3, OutcomeStatus.APPLIED, object_id="m-3")])
    outcomes = {("f.csv", i): (OutcomeStatus.APPLIED, "") for i in range(4)}
    with tempfile.TemporaryDirectory() as tmp:
        counts = await follow_up.finish(outcomes, Path(tmp), lambda _n, _d: None)
    assert counts == {"ready": 4, "failed": 0, "processing": 0, "unread": 0}
    assert sorted(w.media_ids for w in follow_up._follower.watches) == [(f"m-{i}",) for i in range(4)]


def test_a_bulk_result_line_names_the_products_media() -> None:
    line = {"__lineNumber": 0, "data": {"productSet": {"product": {"id": "P", "media": {"nodes": [
        {"id": "gid://shopify/MediaImage/1"}, {"id": "gid://shopify/MediaImage/2"}]}}, "userErrors": []}}}
    assert media_ids(line) == "gid://shopify/MediaImage/1 gid://shopify/MediaImage/2"
    assert media_ids({"__lineNumber": 0, "data": {"productVariantsBulkUpdate": {"userErrors": []}}}) is None


def test_by_id_queries_hold_at_most_max_ids_images_and_are_valid() -> None:
    watches = [MediaWatch(f"P{i}", 3, ((0, "u"), (1, "v")), (ROW,), (f"a{i}", f"b{i}")) for i in range(400)]
    groups = id_groups(watches)
    assert all(sum(len(w.media_ids) for w in g) <= MAX_IDS for g in groups)
    assert len(groups) == -(-800 // MAX_IDS)
    schema = build_schema(SCHEMA.read_text(encoding="utf-8"))
    for fragment in ("MediaStatus", "MediaFailure"):
        assert not validate(schema, parse(id_document(3, fragment)))
    assert tail_of(watches[0], {"a0": {"status": "READY"}}) is None  # b0 not read
    assert tail_of(watches[0], {"a0": {"status": "READY"}, "b0": {}}) == [{"status": "READY"}, {}, {}]


class SlowShop(FakeShop):
    """Each query takes a second of shop time (a busy shop, or a bucket paying for many images)."""

    async def request(self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float,
                      priority: Lane, token_index: int | None = None) -> Any:
        await self.clock.sleep(1.0)
        return await super().request(document, variables, cost=cost, priority=priority)


async def test_the_bound_holds_inside_a_round_of_reads() -> None:
    """Many images due when the run ends: the reads stop at the bound, the rest is 'not verified' —
    the end of a run never waits for every image of a big run to be read."""
    clock = ManualClock()
    shop = SlowShop(clock, ready_at=None)
    watches = [MediaWatch(f"P{p}", 1, ((0, f"https://a/{p}.jpg"),), (("in.csv", p + 2),))
               for p in range(1_000)]
    follower = MediaFollower(shop, clock=clock, first_read_s=0.0, poll_s=2.0)
    follower.add(watches)
    follower.finish()
    task = asyncio.create_task(follower.run(wait_s=3.0))
    await clock.advance_until(task.done, step=0.5)
    assert clock.now() <= 3.0 + 1.0  # at most one query (of those in flight) past the bound
    assert len(task.result().verdicts) < len(watches) and len(shop.asked) < len(batches(watches))


class GatedShop:
    """By-id queries held until released, all READY; counts the queries in flight at once."""

    def __init__(self) -> None:
        self.in_flight = self.peak = self.asked = 0
        self.gate = asyncio.Event()

    async def request(self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float,
                      priority: Lane, token_index: int | None = None) -> Any:
        assert variables is not None and priority is Lane.BACKGROUND
        self.asked += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await self.gate.wait()
        self.in_flight -= 1
        return SimpleNamespace(data={a: {"id": m, "status": "READY"} for a, m in variables.items()})


def id_watches(count: int, images: int) -> list[MediaWatch]:
    return [MediaWatch(f"P{p}", images, tuple((i, f"u{p}-{i}") for i in range(images)), (("in.csv", p),),
                       tuple(f"m{p}-{i}" for i in range(images))) for p in range(count)]


async def test_follow_up_reads_go_a_few_at_a_time_never_more() -> None:
    """Several queries in flight (one waits for points while another's answer comes), never more than
    READS_IN_FLIGHT: every follow-up query asks the buckets for its points."""
    clock = ManualClock()
    shop = GatedShop()
    follower = MediaFollower(shop, clock=clock, first_read_s=0.0)
    follower.add(id_watches(5 * MAX_IDS, 1))  # five queries' worth
    task = asyncio.create_task(follower.run(wait_s=60.0))
    await clock.run_until_idle()
    assert shop.in_flight == READS_IN_FLIGHT == shop.peak > 1
    shop.gate.set()
    await clock.run_until_idle()
    follower.finish()
    await clock.run_until_idle()
    assert task.done() and shop.peak == READS_IN_FLIGHT and shop.asked == 5
    assert task.result().counts()["ready"] == 5 * MAX_IDS and task.result().settled_in_run == 5 * MAX_IDS


async def test_a_round_begun_during_the_run_stops_at_the_bound_after_it() -> None:
    """Reads queued while the run went on do not hold its end past ``wait_s`` (measured: a round of
    40,000 images begun 2 s before the last line held the end 166 s)."""
    clock = ManualClock()
    shop = SlowShop(clock, ready_at=0.0)
    follower = MediaFollower(shop, clock=clock, first_read_s=0.0)
    follower.add(id_watches(50 * MAX_IDS, 1))  # 50 queries of a second each
    task = asyncio.create_task(follower.run(wait_s=5.0))
    await clock.advance_until(lambda: bool(shop.asked), step=0.5)
    follower.finish()
    await clock.advance_until(task.done, step=0.5)
    assert clock.now() <= 5.0 + 1.5 and len(shop.asked) < 50


async def test_images_settled_while_the_run_goes_on_reach_the_catalog_before_its_end(
        monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setattr("bulk.submit._media_followup.FLUSH_IMAGES", 2)
    clock = ManualClock()
    path = tmp_path / "catalog.sqlite3"
    with CatalogStore(path) as catalog:
        assert catalog.content.descriptions([]) == {}  # the catalog and its tables exist, as a run's do
    follow_up = MediaFollowUp(IdShop(), clock=clock, wait_s=10.0, catalog_path=str(path))
    lines = [PlannedLine("media", {"product": {"id": f"P{i}"}, "media": [
        {"originalSource": f"https://a/{i}.jpg"}]}, (("f.csv", i),), (("f.csv", i),)) for i in range(3)]
    follow_up.note_outcomes([Outcome("f.csv", i, OutcomeStatus.APPLIED, object_id=f"m-{i}")
                             for i in range(3)])
    follow_up.lines_done(lines)

    def remembered() -> int:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return int(db.execute("SELECT count(*) FROM media_sources").fetchone()[0])

    # read FIRST_READ_S after the lines are done, then written in a thread: the manual clock moves
    # until the write starts, then the test waits for the thread itself (a loaded box is slower)
    writes = follow_up._writes
    await clock.advance_until(lambda: writes.started, step=1.0, max_s=60.0)
    await writes.flushed()
    assert remembered() == 2  # two written while the run goes on; the third waits for the next two
    outcomes = {("f.csv", i): (OutcomeStatus.APPLIED, "") for i in range(3)}
    counts = await follow_up.finish(outcomes, tmp_path, lambda _n, _d: None)
    with CatalogStore(path) as catalog:
        await follow_up.store(catalog)
    assert counts["ready"] == 3 and remembered() == 3  # each image written once, none lost
