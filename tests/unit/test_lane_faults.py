"""The bulk lane's answers to the shop's refusals (docs/errors.md): a run stopper ends ``drain`` with
that one error (not an exception group) and every held shard given back; a refused token is out of the
lane's slots and its shard goes again on another token; a file over the upload policy is cut into
parts that fit; a storage refusal rejects the shard's rows with the storage's own code and message."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.errors import MaybeAppliedError, ShopUnavailableError, StorageRefusedError, TokenRefusedError
from bulk.journal import Journal, NewUnit, SqliteJournal, UnitKind, UnitState
from bulk.lanes.bulk import BulkLane, BulkLaneConfig, OpStatus
from bulk.lanes.bulk._operation import split_to_fit
from bulk.lanes.bulk._sizing import Pace, cut_sizes

FAST = BulkLaneConfig(tokens=2, ops_per_token=1, poll_initial_s=0.01, poll_max_s=0.02, poll_fine_s=0.01,
                      idle_wait_s=0.02, look_ahead_s=0.0, min_op_lines=1)


class RefusingShop:
    """A BulkOpsPort that answers with ``refuse(token, step)`` (an error to raise, or None)."""

    def __init__(self, refuse: Any) -> None:
        self.refuse = refuse
        self.ops: dict[str, int] = {}
        self.calls: list[tuple[str, int]] = []
        self.upload_limit: int | None = None

    def _check(self, step: str, token: int, path: Path | None = None) -> None:
        self.calls.append((step, token))
        error = self.refuse(token, step, path)
        if error is not None:
            raise error

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        self._check("upload", token_index, path)
        lines = (await asyncio.to_thread(path.read_bytes)).count(b"\n")
        return f"staged/{lines}"

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        self._check("start", token_index)
        op = f"gid://shopify/BulkOperation/{len(self.ops) + 1}"
        self.ops[op] = int(staged_path.split("/")[1])
        return op

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        self._check("find", token_index)
        return None

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        self._check("status", token_index)
        return OpStatus(op_id, "COMPLETED", url=op_id, object_count=self.ops[op_id])

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        return {op: await self.status(op, token_index=token_index) for op in op_ids}

    async def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        for n in range(self.ops[url]):
            yield {"data": {"productVariantsBulkUpdate": {"userErrors": []}}, "__lineNumber": n}


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with SqliteJournal(tmp_path / "journal.sqlite3", clock=ManualClock(1_000.0)) as j:
        yield j


def unit(ident: str, rows: range) -> NewUnit:
    return NewUnit(UnitKind.BULK_SHARD, ident, len(rows), payload={
        "kind": "variants",
        "lines": [json.dumps({"productId": f"gid://shopify/Product/{n}", "variants": []}) for n in rows],
        "rows": [[["f", n]] for n in rows]})


async def test_a_run_stopper_ends_drain_with_that_error_and_gives_every_shard_back(
        journal: Journal, tmp_path: Path) -> None:
    locked = ShopUnavailableError("the shop is locked (HTTP 423 Locked)", status=423, cause="locked",
                                  shop_message="This store is unavailable", hint="ask Shopify")
    shop = RefusingShop(lambda _t, step, _p: locked if step == "status" else None)
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    await journal.add_units(run.run_id, [unit("rk/0", range(3)), unit("rk/1", range(3, 6))])
    events: list[str] = []
    lane = BulkLane(shop, journal, FAST, worker_id="w", workdir=tmp_path,
                    on_event=lambda name, _d: events.append(name))
    with pytest.raises(ShopUnavailableError) as caught:  # the error itself, not an ExceptionGroup
        await lane.drain(run.run_id)
    assert caught.value is locked and lane.stopped is locked
    units = await journal.list_units(run.run_id)
    assert {u.state for u in units} <= {UnitState.SUBMITTED, UnitState.PENDING}
    assert all(u.lease_owner is None for u in units), units  # given back: the next run adopts them at once
    assert events.count("run_stopped") == 1
    assert not await journal.list_outcomes(run.run_id)  # nothing rejected for a shop-wide refusal


async def test_a_refused_token_is_out_and_its_shard_runs_on_the_other(
        journal: Journal, tmp_path: Path) -> None:
    refused = TokenRefusedError("HTTP 401: access token #0 was refused", token_index=0, status=401)
    shop = RefusingShop(lambda token, step, _p: refused if token == 0 and step == "status" else None)
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    await journal.add_units(run.run_id, [unit("rk/0", range(4))])
    events: list[tuple[str, dict[str, Any]]] = []
    lane = BulkLane(shop, journal, FAST, worker_id="w", workdir=tmp_path,
                    on_event=lambda name, data: events.append((name, data)))
    await lane.drain(run.run_id)
    assert lane.refused_tokens == [0]
    assert [d for n, d in events if n == "token_refused"] == [{"token": 0, "status": 401, "left": 1}]
    assert ("start", 1) in shop.calls and shop.calls.count(("status", 0)) == 1  # found out once
    outcomes = await journal.list_outcomes(run.run_id)
    assert len(outcomes) == 4 and {o.status.value for o in outcomes} == {"applied"}


class StartsThenFails(RefusingShop):
    """The shop starts the first operation, then the answer is lost (a 502 after it ran: the client
    raises MaybeAppliedError, never resends); ``find`` sees the operation by its client identifier."""

    def __init__(self) -> None:
        super().__init__(lambda _t, _s, _p: None)
        self.idents: dict[str, str] = {}

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        op = await super().start(kind, staged_path, client_identifier=client_identifier,
                                 token_index=token_index)
        self.idents[client_identifier] = op
        if len(self.ops) == 1:
            raise MaybeAppliedError("HTTP 502 — may have applied it", fault="HTTP 502", status=502,
                                    token_index=token_index)
        return op

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        self._check("find", token_index)
        return self.idents.get(client_identifier) if token_index == 0 else None


async def test_a_start_that_may_have_applied_is_adopted_even_past_max_claims(
        journal: Journal, tmp_path: Path) -> None:
    shop = StartsThenFails()
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    await journal.add_units(run.run_id, [unit("rk/0", range(4))])
    events: list[str] = []
    config = dataclasses.replace(FAST, max_claims=1)  # a second claim would give a never-started shard up
    lane = BulkLane(shop, journal, config, worker_id="w", workdir=tmp_path,
                    on_event=lambda name, _d: events.append(name))
    await lane.drain(run.run_id)
    assert len(shop.ops) == 1  # never started twice
    assert events.count("shard_released") == 1 and "shard_adopted" in events
    outcomes = await journal.list_outcomes(run.run_id)
    assert len(outcomes) == 4 and {o.status.value for o in outcomes} == {"applied"}  # never given up


async def test_a_file_over_the_upload_policy_is_cut_into_parts_that_fit(
        journal: Journal, tmp_path: Path) -> None:
    limit = 200

    def too_large(_token: int, step: str, path: Path | None) -> Exception | None:
        if step == "upload" and path is not None and path.stat().st_size > limit:
            return StorageRefusedError("too large", status=0, code="EntityTooLarge", storage_message=None,
                                       max_bytes=limit)
        return None

    shop = RefusingShop(too_large)
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    await journal.add_units(run.run_id, [unit("rk/0", range(8))])  # ~50 bytes a line: ~400 bytes
    lane = BulkLane(shop, journal, FAST, worker_id="w", workdir=tmp_path)
    await lane.drain(run.run_id)
    outcomes = await journal.list_outcomes(run.run_id)
    assert len(outcomes) == 8 and {o.status.value for o in outcomes} == {"applied"}
    parts = [u for u in await journal.list_units(run.run_id) if "/retry-part" in u.client_identifier]
    assert len(parts) >= 2 and all(u.state is UnitState.DONE for u in parts)


async def test_a_storage_refusal_rejects_the_rows_with_the_storage_words(journal: Journal,
                                                                          tmp_path: Path) -> None:
    denied = StorageRefusedError("staged upload refused by storage: HTTP 403 AccessDenied: Invalid according "
                                 "to Policy", status=403, code="AccessDenied",
                                 storage_message="Invalid according to Policy")
    shop = RefusingShop(lambda _t, step, _p: denied if step == "upload" else None)
    run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
    await journal.add_units(run.run_id, [unit("rk/0", range(3))])
    lane = BulkLane(shop, journal, FAST, worker_id="w", workdir=tmp_path)
    await lane.drain(run.run_id)
    outcomes = await journal.list_outcomes(run.run_id)
    assert [o.status.value for o in outcomes] == ["rejected"] * 3
    assert all("HTTP 403 AccessDenied: Invalid according to Policy" in (o.reason or "") for o in outcomes)
    assert shop.calls.count(("upload", 0)) + shop.calls.count(("upload", 1)) == 1  # final: not resent


def test_split_to_fit_keeps_order_and_each_part_within_the_limit() -> None:
    assert split_to_fit([40, 40, 40, 40, 40], 100) == [[0, 1], [2, 3], [4]]
    assert split_to_fit([150, 10], 100) == [[0], [1]]  # a line too large alone: its own part


def test_cuts_never_exceed_max_lines_and_the_rest_stays_pooled() -> None:
    pace = Pace(lines_per_s=100.0, overhead_s=0.0)
    sizes = cut_sizes([], [0.0, 0.0], now=0.0, pooled=1000, pace=pace, min_lines=1, max_lines=300)
    assert sizes == [300, 300]
