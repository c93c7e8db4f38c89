"""A run that stops making progress says what it waits for (issue 15): the timer's rule, and a whole
submission on a ManualClock whose bulk operation stops moving while its source waits for more."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bulk.catalog import CatalogStore
from bulk.cli._logs import configure_logging
from bulk.cli._submit_progress import SubmitProgress
from bulk.clock import ManualClock
from bulk.journal import SqliteJournal
from bulk.lanes.bulk import BulkLaneConfig, OpStatus
from bulk.models import PriceUpdate, Source, VariantRef
from bulk.submit._watchdog import StallTimer, Waiting, Watchdog
from bulk.submit.submission import Submission, SubmitOptions
from tests.thread_work import ThreadWork

STALL_S = 300.0
LANE = BulkLaneConfig(tokens=1, ops_per_token=1, poll_initial_s=1.0, poll_max_s=5.0, poll_fine_s=1.0,
                      idle_wait_s=1.0, look_ahead_s=0.0, min_op_lines=1)


def test_the_timer_reports_after_the_quiet_period_and_again_every_period_while_it_lasts() -> None:
    timer = StallTimer(STALL_S, last_progress=0.0)
    assert not timer.check(299.0)
    timer.progress(200.0)  # something moved: the quiet period starts again
    assert not timer.check(499.0)
    assert timer.check(500.0)
    assert not timer.check(799.0)  # reported: not again at once
    assert timer.check(800.0)
    timer.progress(801.0)
    assert timer.due() == 1101.0


async def test_a_period_of_zero_turns_the_watchdog_off() -> None:
    async def describe() -> Waiting:
        raise AssertionError("never asked")

    watchdog = Watchdog(0.0, ManualClock(), describe, lambda _n, _d: None)
    await asyncio.wait_for(watchdog.run(), 1)  # returns at once instead of reporting in a loop


class StuckShop:
    """A BulkOpsPort whose one operation processes a line per poll until ``stop_at``, then nothing."""

    def __init__(self, clock: ManualClock, *, stop_at: float) -> None:
        self.clock = clock
        self.stop_at = stop_at
        self.objects = 0
        self.polls = 0
        self.changed_at = -1.0  # when a poll last saw the operation move

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        return "staged/1"

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        return "gid://shopify/BulkOperation/7"

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        return None

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        self.polls += 1
        if self.clock.now() < self.stop_at or not self.polls - 1:
            self.objects += 1
            self.changed_at = self.clock.now()
        return OpStatus(op_id, "RUNNING", object_count=self.objects)

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        return {op: await self.status(op, token_index=token_index) for op in op_ids}

    def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        raise AssertionError("the operation never ends")


class Records(logging.Handler):
    """The log records of one logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


class NoRequests:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bulk route sends no direct mutation")


@pytest.fixture
def catalog() -> Iterator[CatalogStore]:
    lines: list[dict[str, object]] = [{"id": "gid://shopify/Product/1", "handle": "p-1",
                                       "updatedAt": "2026-01-01"}]
    lines += [{"id": f"gid://shopify/ProductVariant/{10 + v}", "sku": f"S1-{v}", "price": "10.00",
               "compareAtPrice": None, "__parentId": "gid://shopify/Product/1"} for v in range(3)]
    with CatalogStore(":memory:") as store:
        store.load_export(lines)
        yield store


@pytest.mark.parametrize("moving_until", [0.0, 600.0], ids=["stuck-at-once", "moving-for-10-min"])
async def test_a_stalled_run_says_what_it_waits_for(catalog: CatalogStore, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture,
                                                    moving_until: float, thread_work: ThreadWork) -> None:
    clock = ManualClock()
    shop = StuckShop(clock, stop_at=moving_until)
    more = asyncio.Event()  # never set: the source waits for its next batch for ever

    async def source() -> AsyncIterator[list[PriceUpdate]]:
        yield [PriceUpdate(source=Source(file="p.csv", line=2 + v), variant=VariantRef(sku=f"S1-{v}"),
                           price=Decimal("12.50")) for v in range(3)]
        await more.wait()

    events: list[tuple[str, dict[str, Any]]] = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        events.append((name, {**data, "at": clock.now()}))
    async with SqliteJournal(tmp_path / "journal.sqlite3") as journal:
        submission = Submission(requester=NoRequests(), port=shop, catalog=catalog, journal=journal,
                                options=SubmitOptions(state_dir=tmp_path, route="bulk", lane=LANE,
                                                      stall_after_s=STALL_S),
                                on_event=on_event, clock=clock)
        caplog.set_level(logging.WARNING, logger="bulk.submit._watchdog")
        logger = logging.getLogger("bulk.submit._watchdog")
        records, disabled = Records(), logger.disabled
        # directly, and enabled: an earlier test's logging setup may have disabled existing loggers
        logger.addHandler(records)
        logger.disabled = False
        run = asyncio.create_task(submission.run(source(), run_key="rk", input_name="p.csv"))
        try:
            # planning and the journal work in threads (the watchdog reads the journal too): time
            # moves only while none is under way, however slow the box
            await clock.advance_until(lambda: shop.polls > 0, step=0.05, max_s=250, busy=thread_work.busy)
            await clock.advance_until(lambda: any(name == "stalled" for name, _ in events), step=1.0,
                                      max_s=3_600, busy=thread_work.busy)
        finally:
            logger.removeHandler(records)
            logger.disabled = disabled
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    ((_, data),) = [(n, d) for n, d in events if n == "stalled"]
    # quiet since the operation last moved, and reported once the quiet period had passed
    assert data["since"] == shop.changed_at >= moving_until - LANE.poll_max_s
    assert STALL_S <= data["stalled_s"] <= STALL_S + 1
    assert shop.polls > 10  # polls that change nothing are not progress
    op = f"gid://shopify/BulkOperation/7 (token #0, RUNNING, {shop.objects} objects)"
    assert data["operations"] == [op]
    (unit,) = data["units"]
    assert unit.startswith("rk/variants-") and "submitted" in unit
    assert data["source"] == "waiting for chunk 2 (3 rows read)"
    assert data["held"] == 0 and data["pooled"] == 0
    message = data["message"]
    assert message.startswith("no progress for 5 min; waiting for 1 bulk operation(s) [gid://shopify/")
    assert "\n" not in message
    (record,) = [r for r in records.seen if getattr(r, "action", None) == "submit.stalled"]
    assert record.getMessage() == message


def test_the_cli_prints_a_stall_as_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    waiting = Waiting(operations=[f"gid://shopify/BulkOperation/{n} (token #0, RUNNING, 5 objects)"
                                  for n in range(7)], units=["rk/variants-ab submitted by local"], held=12,
                      source="read to the end (50000 rows)")
    message = waiting.message(900.0)
    configure_logging(0, "plain")  # off a terminal, progress is log records (bulk/cli/_logs.py)
    with SubmitProgress(Console(file=io.StringIO(), force_terminal=False, width=80)) as progress:
        progress.event("stalled", {"message": message, **waiting.fields()})
    (line,) = capsys.readouterr().err.splitlines()  # one line, however long
    assert line.endswith(f" WARNING bulk.progress: stalled: {message}")
    assert message.startswith("no progress for 15 min; waiting for 7 bulk operation(s) "
                              "[gid://shopify/BulkOperation/0 (token #0, RUNNING, 5 objects), ")
    assert "… 2 more]; 1 open unit(s) [rk/variants-ab submitted by local]; 12 held line(s)" in message
    assert message.endswith("source: read to the end (50000 rows)")
