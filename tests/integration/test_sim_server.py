"""The simulated shop over real HTTP: auth, validation, cost, throttling, cap, faults, files, stats.

These tests use a tiny fake shop state (a couple of resolvers) so they pin the HTTP/GraphQL front
alone; the real catalog is exercised by the shop state's own tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiohttp
import pytest

from bulk.clock import ManualClock
from bulk.sim import SimConfig, SimShop
from bulk.sim._faults import Fault, FaultPlan
from bulk.sim._gateway import THROTTLED_DOCS
from bulk.sim._stats import InFlight

TOKENS = ("tok-a", "tok-b")
SHOP_QUERY = "{ shop { name } }"
TAGS_ADD = """mutation($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
PVBU = """mutation($pid: ID!, $v: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $pid, variants: $v) { userErrors { field message } }
}"""


class FakeFiles:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.data[key] = data

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)


class FakeState:
    """Resolves ``shop { name }``, ``products`` (3 of them) and two mutations; records writes."""

    SUPPORTED_FIELDS: ClassVar[dict[str, frozenset[str]]] = {
        "QueryRoot": frozenset({"shop", "products"}),
        "Shop": frozenset({"name"}),
        "ProductConnection": frozenset({"edges", "nodes", "pageInfo"}),
        "ProductEdge": frozenset({"node", "cursor"}),
        "Product": frozenset({"id", "title"}),
        "Mutation": frozenset({"tagsAdd", "productVariantsBulkUpdate"}),
        "TagsAddPayload": frozenset({"node", "userErrors"}),
        "ProductVariantsBulkUpdatePayload": frozenset({"userErrors"}),
        "UserError": frozenset({"field", "message"}),
        "ProductVariantsBulkUpdateUserError": frozenset({"field", "message"}),
    }

    def __init__(self) -> None:
        self.files = FakeFiles()
        self.applied: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None  # when set, `shop` waits on it
        self.entered = 0
        self.entered_changed = asyncio.Event()
        self.closed = False

    def resolvers(self) -> dict[str, dict[str, Callable[..., Any]]]:
        return {
            "QueryRoot": {"shop": self._shop, "products": self._products},
            "Mutation": {"tagsAdd": self._tags_add, "productVariantsBulkUpdate": self._pvbu},
        }

    async def _shop(self, parent: Any, info: Any) -> dict[str, Any]:
        self.entered += 1
        self.entered_changed.set()
        if self.gate is not None:
            await self.gate.wait()
        return {"name": f"Sim shop (token {info.context.token_index})"}

    def _products(self, parent: Any, info: Any, **args: Any) -> dict[str, Any]:
        nodes = [{"id": f"gid://shopify/Product/{i}", "title": f"P{i}"} for i in range(3)]
        return {"nodes": nodes, "edges": [{"node": n, "cursor": str(i)} for i, n in enumerate(nodes)]}

    def _tags_add(self, parent: Any, info: Any, id: str, tags: list[str]) -> dict[str, Any]:
        self.applied.append({"id": id, "tags": tags})
        return {"node": {"__typename": "Product", "id": id}, "userErrors": []}

    def _pvbu(self, parent: Any, info: Any, **args: Any) -> dict[str, Any]:
        return {"userErrors": []}

    def statistics(self) -> dict[str, Any]:
        return {"writes": len(self.applied)}

    async def aclose(self) -> None:
        self.closed = True


async def test_a_staged_file_is_parsed_while_the_shop_answers_other_requests(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A staged file of bulk variables is parsed whole (25k lines: ~0.5 s) from its upload on, and the
    start waits for that; other apps' requests — an urgent inventory change — are answered meanwhile,
    as a real shop's would be."""
    from bulk.sim import _bulk_input
    from bulk.sim._bulk_input import parse_staged_jsonl as parse

    parsing, answered = threading.Event(), threading.Event()

    def slow_parse(data: bytes) -> Any:
        parsing.set()
        assert answered.wait(10), "the shop answered nothing while it parsed the file"
        return parse(data)

    monkeypatch.setattr(_bulk_input, "parse_staged_jsonl", slow_parse)
    async with SimShop(SimConfig(products=20, tokens=TOKENS)) as shop, aiohttp.ClientSession() as session:
        stage = {"resource": "BULK_MUTATION_VARIABLES", "filename": "v.jsonl", "mimeType": "text/jsonl",
                 "httpMethod": "POST"}
        _, body = await post(session, shop, STAGE, {"input": [stage]})
        (target,) = body["data"]["stagedUploadsCreate"]["stagedTargets"]
        form = aiohttp.FormData()
        for param in target["parameters"]:
            form.add_field(param["name"], param["value"])
        line = {"pid": "gid://shopify/Product/1",
                "v": [{"id": "gid://shopify/ProductVariant/10", "price": "1"}]}
        form.add_field("file", json.dumps(line).encode() + b"\n", filename="v.jsonl",
                       content_type="text/jsonl")
        async with session.post(target["url"], data=form) as resp:
            assert resp.status == 201
        key = next(p["value"] for p in target["parameters"] if p["name"] == "key")
        start = asyncio.create_task(post(session, shop, RUN_BULK, {"m": PRICE, "path": key}))
        assert await asyncio.to_thread(parsing.wait, 10)
        status, other = await post(session, shop, SHOP_QUERY, token=TOKENS[1])  # another app, meanwhile
        answered.set()
        _, started = await start
    assert status == 200 and other["data"]["shop"]["name"]
    assert started["data"]["bulkOperationRunMutation"]["bulkOperation"]["status"] in ("CREATED", "RUNNING")


async def test_a_new_document_is_checked_while_its_request_waits_out_the_latency(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop's check of a document it has not seen runs during the latency it draws for the request,
    so its own work overlaps the time it models instead of adding to it (the answer is the same)."""
    from bulk.sim._schema import prepare

    asked = threading.Event()

    def noted_prepare(text: str) -> Any:
        asked.set()
        return prepare.__wrapped__(text)  # not the cache another test may have filled

    monkeypatch.setattr("bulk.sim._first_sight.prepare", noted_prepare)
    async with running(latency_ms=50) as (shop, _, clock, session):
        answer = asyncio.create_task(post(session, shop, SHOP_QUERY))
        assert await asyncio.to_thread(asked.wait, 10), "the document was not checked during the latency"
        assert not answer.done() and clock.sleepers == 1  # the request still waits out its latency
        await clock.advance_until(answer.done, step=0.05)
        status, body = await answer
    assert status == 200 and body["data"] == {"shop": {"name": "Sim shop (token 0)"}}


@asynccontextmanager
async def running(
    **config: Any,
) -> AsyncIterator[tuple[SimShop, FakeState, ManualClock, aiohttp.ClientSession]]:
    state, clock = FakeState(), ManualClock()
    async with (
        SimShop(SimConfig(tokens=TOKENS, **config), state=state, clock=clock) as shop,
        aiohttp.ClientSession() as session,
    ):
        yield shop, state, clock, session
    assert state.closed


async def post(
    session: aiohttp.ClientSession,
    shop: SimShop,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str = TOKENS[0],
) -> tuple[int, Any]:
    async with session.post(
        shop.graphql_url,
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": token},
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_query_answers_data_and_cost_extension() -> None:
    async with running() as (shop, _, _, session):
        status, body = await post(session, shop, SHOP_QUERY, token=TOKENS[1])
    assert status == 200
    assert body["data"] == {"shop": {"name": "Sim shop (token 1)"}}
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 1,
        "actualQueryCost": 1,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1999.0, "restoreRate": 100.0},
    }


async def test_refund_of_unreturned_nodes() -> None:
    async with running() as (shop, _, _, session):
        _, body = await post(session, shop, "{ products(first: 10) { edges { node { title } } } }")
    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (12, 5)
    assert cost["throttleStatus"]["currentlyAvailable"] == 1995.0  # 2000 - 12 + 7 refunded


@pytest.mark.parametrize("headers", [{}, {"X-Shopify-Access-Token": "shpat_wrong"}])
async def test_unknown_or_missing_token_is_401_with_shopify_body(headers: dict[str, str]) -> None:
    async with (
        running() as (shop, _, _, session),
        session.post(shop.graphql_url, json={"query": SHOP_QUERY}, headers=headers) as resp,
    ):
        assert resp.status == 401
        body = await resp.json()
    assert body == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


async def test_other_api_version_is_404() -> None:
    async with running() as (shop, _, _, session):
        url = shop.url + "/admin/api/2025-01/graphql.json"
        async with session.post(
            url, json={"query": SHOP_QUERY}, headers={"X-Shopify-Access-Token": TOKENS[0]}
        ) as r:
            assert r.status == 404


async def test_invalid_document_gets_errors_and_is_not_charged() -> None:
    async with running() as (shop, _, _, session):
        status, body = await post(session, shop, "{ shop { name nmae } }")
        stats = shop.stats()
    assert status == 200
    (error,) = body["errors"]
    assert error["message"] == "Field 'nmae' doesn't exist on type 'Shop'"
    assert error["locations"] == [{"line": 1, "column": 15}]
    assert error["extensions"]["code"] == "undefinedField"
    assert stats["tokens"][0]["currently_available"] == 2000


async def test_unsupported_field_is_an_error_not_a_null() -> None:
    async with running() as (shop, _, _, session):
        _, body = await post(session, shop, "{ shop { name email } }")
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "NOT_IMPLEMENTED_IN_SIMULATOR",
        "typeName": "Shop",
        "fieldName": "email",
    }


async def test_mutation_costs_ten_and_runs() -> None:
    async with running() as (shop, state, _, session):
        _, body = await post(session, shop, TAGS_ADD, {"id": "gid://shopify/Product/7", "tags": ["x"]})
    assert body["data"]["tagsAdd"] == {"node": {"id": "gid://shopify/Product/7"}, "userErrors": []}
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10
    assert body["extensions"]["cost"]["actualQueryCost"] == 10
    assert state.applied == [{"id": "gid://shopify/Product/7", "tags": ["x"]}]


def _expensive_variants() -> dict[str, Any]:
    # 10 + 250 × (0.2 + 9 × 0.4) = 960 points
    metafields = [
        {"namespace": "n", "key": f"k{j}", "value": "v", "type": "single_line_text_field"} for j in range(9)
    ]
    variants = [{"id": f"gid://shopify/ProductVariant/{i}", "metafields": metafields} for i in range(250)]
    return {"pid": "gid://shopify/Product/1", "v": variants}


async def test_throttled_shape_is_exact_and_bucket_refills_with_time() -> None:
    async with running() as (shop, _, clock, session):
        for _ in range(2):
            _, body = await post(session, shop, PVBU, _expensive_variants())
            assert body["extensions"]["cost"]["requestedQueryCost"] == 960
        status, body = await post(session, shop, PVBU, _expensive_variants())
        assert status == 200
        assert body == {
            "errors": [
                {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": THROTTLED_DOCS}}
            ],
            "extensions": {
                "cost": {
                    "requestedQueryCost": 960,
                    "actualQueryCost": None,
                    "throttleStatus": {
                        "maximumAvailable": 2000.0,
                        "currentlyAvailable": 80.0,
                        "restoreRate": 100.0,
                    },
                }
            },
        }
        _, other = await post(session, shop, SHOP_QUERY, token=TOKENS[1])  # its own bucket
        assert "errors" not in other
        clock.advance(8.81)  # 80 + 881 ≥ 960
        _, body = await post(session, shop, PVBU, _expensive_variants())
        assert "errors" not in body
        assert shop.stats()["tokens"][0]["throttled"] == 1


async def test_max_cost_exceeded_is_not_charged() -> None:
    four_pages = " ".join(f"p{i}: products(first: 250) {{ nodes {{ id }} }}" for i in range(4))
    doc = f"{{ {four_pages} }}"  # 4 × 252 = 1008 > 1000
    async with running() as (shop, _, _, session):
        _, body = await post(session, shop, doc)
        assert shop.stats()["tokens"][0]["currently_available"] == 2000
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


async def test_requests_beyond_the_concurrency_cap_are_refused_and_counted() -> None:
    async with running(max_concurrency=2) as (shop, state, _, session):
        state.gate = asyncio.Event()
        held = [asyncio.create_task(post(session, shop, SHOP_QUERY)) for _ in range(2)]
        while state.entered < 2:
            state.entered_changed.clear()
            await state.entered_changed.wait()
        async with session.post(
            shop.graphql_url, json={"query": SHOP_QUERY}, headers={"X-Shopify-Access-Token": TOKENS[0]}
        ) as resp:
            assert resp.status == 503
            assert "hard cap is 2" in (await resp.json())["errors"]
        state.gate.set()
        assert [status for status, _ in await asyncio.gather(*held)] == [200, 200]
        stats = shop.stats()["concurrency"]
    assert (stats["violations"], stats["max_in_flight"], stats["in_flight"]) == (1, 2, 0)


async def test_stats_endpoint_and_reset() -> None:
    async with running() as (shop, _, clock, session):
        await post(session, shop, SHOP_QUERY)
        await post(session, shop, TAGS_ADD, {"id": "gid://shopify/Product/1", "tags": ["a"]}, token=TOKENS[1])
        clock.advance(1.0)
        async with session.get(shop.url + "/_sim/stats") as resp:
            stats = await resp.json()
        async with session.post(shop.url + "/_sim/reset-stats") as resp:
            assert resp.status == 200
        after = shop.stats()
    assert stats["simulated"] is True
    assert [t["requests"] for t in stats["tokens"]] == [1, 1]
    assert [t["cost_spent"] for t in stats["tokens"]] == [1, 10]
    assert stats["tokens"][1]["currently_available"] == 2000  # refilled 100/s for 1 s
    assert stats["totals"]["requests"] == 2
    assert stats["shop"] == {"writes": 1}
    assert stats["concurrency"]["max_in_flight"] == 1
    assert "tok-a" not in str(stats) and "tok-b" not in str(stats)
    assert after["totals"]["requests"] == 0


async def test_dropped_connection_after_the_mutation_was_applied() -> None:
    async with running(drop_rate=1.0) as (shop, state, _, session):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(session, shop, TAGS_ADD, {"id": "gid://shopify/Product/3", "tags": ["y"]})
        assert state.applied == [{"id": "gid://shopify/Product/3", "tags": ["y"]}]  # applied, then dropped
        assert shop.stats()["tokens"][0]["dropped"] == 1


async def test_injected_5xx_have_json_bodies() -> None:
    async with running(fault_rate=1.0, seed=3) as (shop, _, _, session):
        statuses = set()
        for _ in range(12):
            status, body = await post(session, shop, SHOP_QUERY)
            statuses.add(status)
            assert isinstance(body["errors"], str)
        assert statuses == {502, 503}
        assert shop.stats()["tokens"][0]["server_errors"] == 12


async def test_staged_upload_then_download() -> None:
    async with running() as (shop, state, _, session):
        form = aiohttp.FormData()
        form.add_field("key", "tmp/1/bulk.jsonl")
        form.add_field("success_action_status", "201")
        form.add_field("file", b'{"a":1}\n', filename="bulk.jsonl", content_type="text/jsonl")
        async with session.post(shop.url + "/_sim/uploads", data=form) as resp:
            assert resp.status == 201
            assert "<Key>tmp/1/bulk.jsonl</Key>" in await resp.text()
        assert state.files.data["tmp/1/bulk.jsonl"] == b'{"a":1}\n'
        async with session.get(shop.url + "/_sim/files/tmp/1/bulk.jsonl") as resp:
            assert (resp.status, await resp.read()) == (200, b'{"a":1}\n')
        async with session.get(shop.url + "/_sim/files/nope") as resp:
            assert resp.status == 404


async def test_a_result_of_many_pieces_downloads_whole() -> None:
    # Written a piece at a time (the shop's loop serves others between): the file still arrives
    # whole, with its length and type, as one answer.
    async with running() as (shop, state, _, session):
        result = b"".join(b'{"line":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(40_000))
        state.files.put("bulk/1/result.jsonl", result)
        async with session.get(shop.url + "/_sim/files/bulk/1/result.jsonl") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/jsonl"
            assert resp.content_length == len(result) > 2_000_000
            assert await resp.read() == result


async def test_upload_over_the_limit_is_entity_too_large() -> None:
    async with running() as (shop, state, _, session):
        shop.app.max_upload_bytes = 1000
        form = aiohttp.FormData()
        form.add_field("key", "big")
        form.add_field("file", b"x" * 1001, filename="big.jsonl")
        async with session.post(shop.url + "/_sim/uploads", data=form) as resp:
            assert resp.status == 400
            assert "<Code>EntityTooLarge</Code>" in await resp.text()
        assert "big" not in state.files.data


async def test_execute_unmetered_charges_nothing() -> None:
    async with running() as (shop, _, _, _):
        result = await shop.app.gateway.execute_unmetered(
            TAGS_ADD, {"id": "gid://shopify/Product/9", "tags": ["z"]}, token_index=0
        )
        assert result == {"data": {"tagsAdd": {"node": {"id": "gid://shopify/Product/9"}, "userErrors": []}}}
        assert shop.stats()["tokens"][0]["currently_available"] == 2000
        bad = await shop.app.gateway.execute_unmetered("mutation { nope }", {}, token_index=0)
        assert bad["data"] is None and bad["errors"]


# -- with the real shop state -------------------------------------------------------------------

STAGE = """mutation($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url parameters { name value } }
    userErrors { field message }
  }
}"""
RUN_BULK = """mutation($m: String!, $path: String!) {
  bulkOperationRunMutation(mutation: $m, stagedUploadPath: $path) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""
PRICE = """mutation($pid: ID!, $v: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $pid, variants: $v) {
    productVariants { id price }
    userErrors { message }
  }
}"""


async def test_bulk_mutation_round_trip_through_uploads_and_files() -> None:
    """stagedUploadsCreate → multipart upload → bulkOperationRunMutation → result file, over HTTP."""
    config = SimConfig(products=20, tokens=TOKENS, speed=1_000_000.0)  # bulk pacing takes no real time
    async with SimShop(config) as shop, aiohttp.ClientSession() as session:
        stage_input = {
            "resource": "BULK_MUTATION_VARIABLES",
            "filename": "v.jsonl",
            "mimeType": "text/jsonl",
            "httpMethod": "POST",
        }
        _, body = await post(session, shop, STAGE, {"input": [stage_input]})
        (target,) = body["data"]["stagedUploadsCreate"]["stagedTargets"]
        assert target["url"] == shop.url + "/_sim/uploads"
        form = aiohttp.FormData()
        for param in target["parameters"]:
            form.add_field(param["name"], param["value"])
        lines = [
            {
                "pid": f"gid://shopify/Product/{p}",
                "v": [{"id": f"gid://shopify/ProductVariant/{p * 10}", "price": f"{p}.50"}],
            }
            for p in (1, 2, 3)
        ]
        jsonl = "".join(json.dumps(line) + "\n" for line in lines).encode()
        form.add_field("file", jsonl, filename="v.jsonl", content_type="text/jsonl")
        async with session.post(target["url"], data=form) as resp:
            assert resp.status == 201
        key = next(p["value"] for p in target["parameters"] if p["name"] == "key")
        _, body = await post(session, shop, RUN_BULK, {"m": PRICE, "path": key})
        op = body["data"]["bulkOperationRunMutation"]["bulkOperation"]
        assert body["extensions"]["cost"]["requestedQueryCost"] == 10  # the lines themselves are free
        await shop.state.engine.wait(op["id"])  # type: ignore[attr-defined]
        _, body = await post(session, shop, f'{{ bulkOperation(id: "{op["id"]}") {{ status url }} }}')
        result = body["data"]["bulkOperation"]
        assert result["status"] == "COMPLETED"
        async with session.get(result["url"]) as resp:
            out = [json.loads(line) for line in (await resp.read()).splitlines()]
        _, body = await post(
            session, shop, '{ productVariant(id: "gid://shopify/ProductVariant/20") { price } }'
        )
    assert sorted(line["__lineNumber"] for line in out) == [0, 1, 2]
    assert body["data"]["productVariant"]["price"] == "2.50"
    # stage 10 + run 10 + two 1-point reads: the three JSONL lines were never charged
    assert shop.app.gateway.statistics()["totals"]["cost_spent"] == 22


async def test_sim_url_starts_an_embedded_shop() -> None:
    async with (
        SimShop.from_url("sim://?products=5&plan=plus&tokens=u1") as shop,
        aiohttp.ClientSession() as s,
    ):
        status, body = await post(s, shop, "{ shop { name } }", token="u1")
        assert shop.graphql_url.startswith("http://127.0.0.1:")
    assert status == 200
    assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 20000.0
    assert "u1" not in repr(shop)


def test_cli_demo_shows_a_query_a_mutation_and_throttling(capsys: pytest.CaptureFixture[str]) -> None:
    from bulk.cli import main

    assert main(["sim", "--demo", "--products", "10", "--tokens", "shpat_demo_secret"]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out
    assert "productVariantsBulkUpdate" in out
    assert '"code": "THROTTLED"' in out
    assert "shpat_demo_secret" not in out


# -- pure parts of the front ----------------------------------------------------------------------


def test_in_flight_time_average_and_cap() -> None:
    clock = ManualClock()
    inflight = InFlight(cap=2, now=clock.now())
    assert inflight.enter(clock.now())
    clock.advance(1.0)  # 1 in flight for 1 s
    assert inflight.enter(clock.now())
    assert not inflight.enter(clock.now())  # the cap: refused and counted
    clock.advance(1.0)  # 2 in flight for 1 s
    inflight.leave(clock.now())
    inflight.leave(clock.now())
    clock.advance(2.0)  # 0 in flight for 2 s
    stats = inflight.statistics(clock.now())
    assert stats["avg_in_flight"] == pytest.approx((1 + 2 + 0) / 4)
    assert (stats["max_in_flight"], stats["violations"], stats["in_flight"]) == (2, 1, 0)


def test_fault_plan_is_seeded_and_latency_has_the_configured_mean() -> None:
    a = FaultPlan(latency_ms=40, fault_rate=0.1, drop_rate=0.05, seed=7)
    b = FaultPlan(latency_ms=40, fault_rate=0.1, drop_rate=0.05, seed=7)
    faults = [a.fault() for _ in range(4000)]
    assert faults == [b.fault() for _ in range(4000)]  # replayable
    assert faults.count(Fault.DROP) / len(faults) == pytest.approx(0.05, abs=0.015)
    assert (faults.count(Fault.FAIL_502) + faults.count(Fault.REFUSE_503)) / len(faults) == pytest.approx(
        0.1, abs=0.02
    )
    samples = [a.latency_s() for _ in range(4000)]
    assert sum(samples) / len(samples) == pytest.approx(0.040, rel=0.05)
    assert FaultPlan().latency_s() == 0.0 and FaultPlan().fault() is Fault.NONE


async def test_body_without_a_query_is_400() -> None:
    async with running() as (shop, _, _, session):
        headers = {"X-Shopify-Access-Token": TOKENS[0]}
        async with session.post(shop.graphql_url, data=b"not json", headers=headers) as resp:
            assert resp.status == 400
            assert (await resp.json())["errors"] == {"query": "Required parameter missing or invalid"}
