"""Never resend a mutation that may have applied when a second one would apply it again, against the
simulated shop, which applies a request and then answers 502 or drops the connection
(docs/simulator.md): a safe mutation (prices) is still retried after a 502; an image append sent
directly under a dropped connection is not resent — the product has its images once and the row says
what to do; a bulk shard whose ``bulkOperationRunMutation`` met a 502 after the shop started it ends
with one operation on the shop, adopted by its next attempt, and every line applied once."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiohttp

from bulk.clock import ManualClock
from bulk.errors import NetworkError
from bulk.journal import NewUnit, SqliteJournal, UnitKind
from bulk.lanes.bulk import BulkLane, BulkLaneConfig
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.lanes.direct import send_line
from bulk.models import Lane, OutcomeStatus
from bulk.scheduler import Scheduler
from bulk.session.shop import Shop
from bulk.shopify import documents
from bulk.shopify._resend import resend_after
from bulk.shopify.client import ShopifyClient
from bulk.shopify.transport import Transport
from bulk.sim import SimConfig, SimShop
from bulk.sim._faults import Fault
from bulk.sim._operations import ShopState
from tests.client_doubles import JumpClock, ScriptedFaults

TOKENS = ("resend-a", "resend-b", "resend-c")
FAST = BulkLaneConfig(tokens=3, ops_per_token=1, poll_initial_s=0.01, poll_max_s=0.02, poll_fine_s=0.01,
                      idle_wait_s=0.02, look_ahead_s=0.0, min_op_lines=1)


@asynccontextmanager
async def client_on_sim() -> AsyncIterator[tuple[SimShop, ShopifyClient, JumpClock]]:
    async with SimShop(SimConfig(products=30, tokens=TOKENS)) as sim:
        transport = Transport(sim.graphql_url, TOKENS)
        clock = JumpClock()  # tenacity's back-off sleeps on it: nothing here sleeps
        async with transport, Scheduler.in_process(token_count=len(TOKENS), max_in_flight=4) as sched:
            yield sim, ShopifyClient(transport, sched, clock=clock), clock


def state(sim: SimShop) -> ShopState:
    return cast(ShopState, sim.state)


async def test_a_price_update_is_still_retried_after_a_502_and_ends_applied() -> None:
    async with client_on_sim() as (sim, client, clock):
        sim.app.faults = ScriptedFaults(Fault.FAIL_502)  # type: ignore[assignment]
        variables = {"productId": "gid://shopify/Product/7",
                     "variants": [{"id": "gid://shopify/ProductVariant/71", "price": "123.45"}]}
        response = await client.request(documents.document(documents.PRODUCT_VARIANTS_BULK_UPDATE), variables,
                                        cost=11, priority=Lane.NORMAL)
        assert response.data["productVariantsBulkUpdate"]["userErrors"] == []
        assert client.statistics().retried == 1 and len(clock.sleeps) == 1
        # applied by the 502'd try and again by the retry: the same value, the shop as one apply leaves it
        assert state(sim).catalog.write_count("gid://shopify/ProductVariant/71") == 2
        assert state(sim).catalog.price_cents(71) == 12345
        assert sim.stats()["totals"]["server_errors"] == 1


async def test_an_image_append_under_a_dropped_connection_is_not_resent_and_its_row_says_so() -> None:
    async with client_on_sim() as (sim, client, clock):
        before = len(state(sim).catalog.media(5))
        sim.app.faults = ScriptedFaults(Fault.DROP)  # type: ignore[assignment]
        url = "https://cdn.example.com/resend/new-front.png"
        variables = {"product": {"id": "gid://shopify/Product/5"},
                     "media": [{"originalSource": url, "alt": "front", "mediaContentType": "IMAGE"}]}
        status, reason = await send_line(client, "media", variables, cost=10.0)
        assert status is OutcomeStatus.REJECTED
        assert reason.startswith(
            "network fault after sending: the images may have been added, and Shopify does not give back "
            "an image's source to tell; check the product, or send its whole image set in replace mode, "
            "which cannot add an image twice")
        media = state(sim).catalog.media(5)
        assert len(media) == before + 1 and [m.url for m in media].count(url) == 1  # added once
        assert sim.stats()["totals"]["dropped"] == 1
        assert client.statistics().retried == 0 and clock.sleeps == []  # never sent a second time


async def test_a_bulk_start_answered_502_after_it_ran_is_adopted_never_started_twice(tmp_path: Path) -> None:
    products = [1, 2, 4, 5, 7, 8, 10, 11]  # products with a variant …1 (p*10 + 1)
    lines = [json.dumps({"productId": f"gid://shopify/Product/{p}",
                         "variants": [{"id": f"gid://shopify/ProductVariant/{p * 10 + 1}",
                                       "price": f"{p}.99"}]}) for p in products]
    shard = NewUnit(UnitKind.BULK_SHARD, "rk/0", len(lines),
                    payload={"kind": "variants", "lines": lines, "rows": [[["f", p]] for p in products]})
    config = SimConfig(products=30, tokens=TOKENS, bulk_lines_per_s=1000.0)
    async with SimShop(config) as sim, Shop.connect(sim.url, TOKENS) as shop, \
            aiohttp.ClientSession() as session, \
            SqliteJournal(tmp_path / "journal.sqlite3", clock=ManualClock(1_000.0)) as journal:
        run, _ = await journal.create_run("rk", input_name="x", input_hash="rk", options={})
        await journal.add_units(run.run_id, [shard])
        events: list[tuple[str, dict[str, Any]]] = []
        lane = BulkLane(ShopBulkOps(shop.client, session), journal, FAST, worker_id="w", workdir=tmp_path,
                        on_event=lambda name, data: events.append((name, data)))
        # the shard's GraphQL requests: stagedUploadsCreate, then bulkOperationRunMutation — which the
        # shop runs (the operation starts), then answers 502
        sim.app.faults = ScriptedFaults(Fault.NONE, Fault.FAIL_502)  # type: ignore[assignment]
        await lane.drain(run.run_id)
        outcomes = await journal.list_outcomes(run.run_id)
        operations = [op for t in range(len(TOKENS)) for op in state(sim).engine.of_token(t)
                      if op.type == "MUTATION"]
        stats = sim.stats()
    assert len(operations) == 1 and operations[0].client_identifier == "rk/0"  # exactly one, never two
    assert operations[0].status == "COMPLETED"
    assert stats["totals"]["server_errors"] == 1  # the 502 met the start
    names = [name for name, _ in events]
    assert ("shard_released", {"unit": 1, "error": "MaybeAppliedError"}) in events
    assert "shard_adopted" in names and "shard_started" not in names  # the next attempt adopted it
    assert sorted(o.line for o in outcomes) == products
    assert {o.status for o in outcomes} == {OutcomeStatus.APPLIED}, [o.reason for o in outcomes]
    for p in products:  # every line applied once
        assert state(sim).catalog.write_count(f"gid://shopify/ProductVariant/{p * 10 + 1}") == 1
        assert state(sim).catalog.price_cents(p * 10 + 1) == p * 100 + 99


async def test_a_connection_that_never_opened_ran_nothing_so_even_a_bulk_start_goes_again() -> None:
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Transport(f"http://127.0.0.1:{port}/admin/api/2026-04/graphql.json", TOKENS) as transport:
        try:
            await transport.execute(documents.document(documents.LOCATIONS), {"first": 1}, token_index=1)
        except NetworkError as exc:
            assert exc.maybe_sent is False and exc.token_index == 1
            assert resend_after(exc, documents.document(documents.BULK_OPERATION_RUN_MUTATION), {})
        else:
            raise AssertionError("a refused connection answered")
