"""Graceful shutdown, deterministically: requests in flight when SIGTERM arrives finish and their rows
get their outcome; nothing new is sent; the batch goes back to ``pending`` for the next worker."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from bulk.fleet.worker import Worker, WorkerConfig
from bulk.journal import OutcomeStatus, RunStatus, UnitState, open_journal
from bulk.lanes.direct import direct_units
from bulk.models import Lane
from bulk.plan import PlannedLine


class GatedShop:
    """A requester whose answers wait for ``gate``; counts what was sent and what finished."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.sent = 0
        self.finished = 0
        self.two_in_flight = asyncio.Event()

    async def request(self, document: str, variables: Mapping[str, Any] | None = None, *, cost: float,
                      priority: Lane, token_index: int | None = None) -> Any:
        self.sent += 1
        self.in_flight += 1
        if self.in_flight == 2:
            self.two_in_flight.set()
        await self.gate.wait()
        self.in_flight -= 1
        self.finished += 1
        return SimpleNamespace(data={"productVariantsBulkUpdate": {"userErrors": []}})


async def test_stop_lets_requests_in_flight_finish_and_gives_the_batch_back(tmp_path: Path) -> None:
    lines = [PlannedLine("variants", {"productId": f"gid://shopify/Product/{p}", "variants": []},
                         (("in.csv", p),)) for p in range(1, 11)]
    shop = GatedShop()
    async with open_journal(tmp_path / "j.sqlite3") as journal:
        run, _ = await journal.create_run("k", input_name="in.csv", input_hash="h", options={})
        await journal.add_units(run.run_id, direct_units("k", lines, batch=10))
        await journal.set_run_status(run.run_id, RunStatus.RUNNING)
        worker = Worker(journal=journal, port=cast(Any, None), requester=shop,
                        config=WorkerConfig(worker_id="w", direct_concurrency=2, idle_wait_s=0.01))
        async with asyncio.TaskGroup() as tg:
            running = tg.create_task(worker.run())
            await shop.two_in_flight.wait()
            worker.stop()  # what SIGTERM does
            await asyncio.sleep(0)  # let the stop reach the senders while both requests still wait
            assert not running.done()  # it waits for the requests in flight
            shop.gate.set()
        assert (shop.sent, shop.finished) == (2, 2)  # both finished, nothing new was sent
        outcomes = await journal.list_outcomes(run.run_id)
        assert sorted(o.line for o in outcomes) == [1, 2]
        assert {o.status for o in outcomes} == {OutcomeStatus.APPLIED}
        (unit,) = await journal.list_units(run.run_id)
        assert unit.state is UnitState.PENDING and unit.lease_owner is None
        assert worker.statistics().released == 1 and worker.statistics().held == 0
