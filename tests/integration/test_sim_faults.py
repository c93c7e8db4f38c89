"""Every fault the simulated shop learned (``--fault`` / ``sim://?fault=``), over real HTTP: the exact
status, body shape and headers Shopify documents, what ran and what was charged, and the counters of
``/_sim/stats`` that client tests will assert on (attempts, answers by status, faults by kind).

The shop runs on a ManualClock: windows open and close when the test advances it, never on real time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bulk.clock import ManualClock
from bulk.sim import SimConfig, SimShop

TOKENS = ("tok-a", "tok-b", "tok-c")
SHOP = "{ shop { name } }"
PRICE = """mutation($pid: ID!, $v: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $pid, variants: $v) {
    productVariants { id price }
    userErrors { message }
  }
}"""
PRICE_VARS = {
    "pid": "gid://shopify/Product/1",
    "v": [{"id": "gid://shopify/ProductVariant/10", "price": "7.25"}],
}
READ_PRICE = '{ productVariant(id: "gid://shopify/ProductVariant/10") { price } }'
STAGE = """mutation($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url parameters { name value } }
    userErrors { message }
  }
}"""
STAGE_INPUT = {
    "input": [
        {
            "resource": "BULK_MUTATION_VARIABLES",
            "filename": "v.jsonl",
            "mimeType": "text/jsonl",
            "httpMethod": "POST",
        }
    ]
}
RUN_BULK = """mutation($m: String!, $path: String!) {
  bulkOperationRunMutation(mutation: $m, stagedUploadPath: $path) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""
RUN_QUERY = """mutation($q: String!) {
  bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { field message code } }
}"""


@asynccontextmanager
async def shop_with(
    *faults: str, **config: Any
) -> AsyncIterator[tuple[SimShop, ManualClock, aiohttp.ClientSession]]:
    clock = ManualClock()
    settings = SimConfig(products=5, tokens=TOKENS, faults=faults, **config)
    async with SimShop(settings, clock=clock) as shop, aiohttp.ClientSession() as session:
        yield shop, clock, session


async def post(
    session: aiohttp.ClientSession,
    shop: SimShop,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: int = 0,
) -> tuple[int, Any, Mapping[str, str]]:
    async with session.post(
        shop.graphql_url,
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": TOKENS[token]},
    ) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers.copy()  # case-insensitive


async def give_up_once_held(session: aiohttp.ClientSession, shop: SimShop) -> None:
    """Send a price write and give up on it once the shop holds it. (Giving up after a fixed time
    raced a loaded box: the client could give up before the request reached the shop at all.)"""
    sending = asyncio.create_task(post(session, shop, PRICE, PRICE_VARS))
    await until(lambda: shop.stats()["concurrency"]["in_flight"] == 1, "the request to arrive")
    sending.cancel()  # the client gives up: its connection closes
    with pytest.raises(asyncio.CancelledError):
        await sending


def token_stats(shop: SimShop, token: int) -> dict[str, Any]:
    stats: dict[str, Any] = shop.stats()["tokens"][token]
    return stats


async def price(session: aiohttp.ClientSession, shop: SimShop) -> str:
    status, body, _ = await post(session, shop, READ_PRICE, token=2)
    assert status == 200, body
    return str(body["data"]["productVariant"]["price"])


async def until(condition: Any, what: str) -> None:
    """Wait (bounded) for something the server does on its own when a client's socket closes."""
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# -- INTERNAL_SERVER_ERROR on HTTP 200 ------------------------------------------------------------


async def test_internal_server_error_is_http_200_with_a_request_id_after_running() -> None:
    async with shop_with("ise:rate=1,token=0") as (shop, _, session):
        status, body, headers = await post(session, shop, PRICE, PRICE_VARS)
        applied = await price(session, shop)
        stats = token_stats(shop, 0)
    assert status == 200
    assert set(body) == {"errors"}  # the documented sample: no data, no extensions.cost
    (error,) = body["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", request_id)
    assert error["message"] == (
        "Internal error. Looks like something went wrong on our end.\n"
        f"Request ID: {request_id} (include this in support requests)."
    )
    assert headers["X-Request-Id"] == request_id
    assert applied == "7.25"  # it ran: a retry must be idempotent
    assert stats["cost_spent"] == 11  # and was charged (10 + 0.2 per variant, rounded up)
    assert (stats["attempts"], stats["statuses"], stats["faults"]) == (1, {"200": 1}, {"ise": 1})


# -- 5xx bursts -----------------------------------------------------------------------------------


async def test_a_5xx_burst_hits_every_token_for_its_window_only() -> None:
    async with shop_with("5xx:at=10,for=3") as (shop, clock, session):
        before = [(await post(session, shop, SHOP, token=t))[0] for t in range(3)]
        clock.advance(10.0)
        during = [await post(session, shop, SHOP, token=t) for t in range(3)]
        clock.advance(2.9)
        late = (await post(session, shop, SHOP, token=1))[0]
        clock.advance(0.1)
        after = [(await post(session, shop, SHOP, token=t))[0] for t in range(3)]
        stats = shop.stats()
    assert before == [200, 200, 200] and after == [200, 200, 200]
    assert [status for status, _, _ in during] == [503, 503, 503] and late == 503
    assert during[0][1] == {
        "errors": "Service Unavailable: the shop is temporarily unavailable. Retry with backoff."
    }
    assert [t["faults"] for t in stats["tokens"]] == [{"5xx": 1}, {"5xx": 2}, {"5xx": 1}]
    assert [t["statuses"] for t in stats["tokens"]] == [
        {"200": 2, "503": 1},
        {"200": 2, "503": 2},
        {"200": 2, "503": 1},
    ]
    assert stats["totals"]["faults"] == {"5xx": 4} and stats["totals"]["attempts"] == 10
    assert [t["requests"] for t in stats["tokens"]] == [2, 2, 2]  # a 503 never reached GraphQL
    assert [t["server_errors"] for t in stats["tokens"]] == [1, 2, 1]
    assert [[r[0], r[2]] for r in stats["tokens"][1]["recent"]] == [
        [0.0, "200"],
        [10.0, "503"],
        [12.9, "503"],
        [13.0, "200"],
    ]


async def test_a_500_ran_before_it_failed() -> None:
    async with shop_with("5xx:at=0,for=1,status=500,token=0") as (shop, clock, session):
        status, body, _ = await post(session, shop, PRICE, PRICE_VARS)
        clock.advance(1.0)
        applied = await price(session, shop)
        stats = token_stats(shop, 0)
    assert (status, body) == (500, {"errors": "Internal Server Error"})
    assert applied == "7.25"
    assert (stats["server_errors"], stats["statuses"], stats["cost_spent"]) == (1, {"500": 1}, 11)


# -- hung answers ---------------------------------------------------------------------------------


async def test_a_hang_holds_the_answer_for_its_time_on_the_shops_clock() -> None:
    async with shop_with("hang:at=0,for=1,hold=30") as (shop, clock, session):
        answer = asyncio.create_task(post(session, shop, SHOP))
        await until(lambda: clock.sleepers == 1, "the request to be held")
        clock.advance(29.0)
        await asyncio.sleep(0)
        assert not answer.done()
        assert shop.stats()["concurrency"]["in_flight"] == 1
        clock.advance(1.0)
        status, body, _ = await answer
        stats = token_stats(shop, 0)
    assert status == 200 and body["data"]["shop"]["name"]
    assert (stats["faults"], stats["statuses"]) == ({"hang": 1}, {"200": 1})
    assert stats["recent"] == [[0.0, 30.0, "200", "hang"]]  # arrived at 0, answered at 30


async def test_an_endless_hang_lasts_until_the_client_gives_up_and_never_runs() -> None:
    async with shop_with("hang:rate=1") as (shop, _, session):
        await give_up_once_held(session, shop)
        await until(lambda: token_stats(shop, 0)["attempts"] == 1, "the held request to be let go")
        stats = shop.stats()
    assert stats["tokens"][0]["statuses"] == {"abandoned": 1}
    assert stats["tokens"][0]["faults"] == {"hang": 1}
    assert stats["tokens"][0]["requests"] == 0  # never ran
    assert stats["concurrency"]["in_flight"] == 0


async def test_a_finite_hang_still_runs_after_the_client_gave_up() -> None:
    async with shop_with("hang:at=0,for=1,hold=30,token=0", max_concurrency=1) as (shop, clock, session):
        await give_up_once_held(session, shop)
        # the connection is gone: its place under the cap is free at once
        await until(lambda: shop.stats()["concurrency"]["in_flight"] == 0, "the cap's place to come back")
        assert await price(session, shop) != "7.25"
        clock.advance(30.0)
        await until(lambda: token_stats(shop, 0)["attempts"] == 1, "the held request to run")
        applied = await price(session, shop)
        stats = shop.stats()
    assert applied == "7.25"  # a real shop does not know the client left
    assert stats["tokens"][0]["statuses"] == {"abandoned": 1}
    assert stats["concurrency"]["violations"] == 0


# -- HTTP 429 -------------------------------------------------------------------------------------


async def test_429_has_retry_after_and_charges_nothing() -> None:
    async with shop_with("429:rate=1,retry_after=2,token=1") as (shop, _, session):
        status, body, headers = await post(session, shop, PRICE, PRICE_VARS, token=1)
        other = (await post(session, shop, SHOP, token=0))[0]
        stats = token_stats(shop, 1)
    assert status == 429 and other == 200
    assert headers["Retry-After"] == "2.0"
    assert body == {
        "errors": "Exceeded 2 calls per second for api client. "
        "Reduce request rates to resume uninterrupted service."
    }
    assert (stats["requests"], stats["cost_spent"], stats["currently_available"]) == (0, 0, 2000)
    assert (stats["attempts"], stats["statuses"], stats["faults"]) == (1, {"429": 1}, {"429": 1})


# -- THROTTLED to everything for a while ----------------------------------------------------------


async def test_a_throttle_window_answers_throttled_with_the_real_bucket_then_refills() -> None:
    async with shop_with("throttle:at=0,for=30,token=0") as (shop, clock, session):
        answers = []
        for step in (10.0, 10.0, 9.5):
            answers.append(await post(session, shop, SHOP))
            clock.advance(step)
        answers.append(await post(session, shop, SHOP))  # at 29.5
        other = (await post(session, shop, SHOP, token=1))[0]
        clock.advance(0.5)  # the window is over; 0.5 s of refill since the last drain
        status, after, _ = await post(session, shop, SHOP)
        stats = token_stats(shop, 0)
    for status_, body, _ in answers:
        assert status_ == 200
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 1 and cost["actualQueryCost"] is None
        assert cost["throttleStatus"]["currentlyAvailable"] == 0
    assert other == 200
    assert status == 200 and "errors" not in after
    assert after["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 49  # 50 refilled − 1
    assert (stats["throttled"], stats["faults"], stats["statuses"]) == (4, {"throttle": 4}, {"200": 5})


# -- a token revoked mid-run ----------------------------------------------------------------------


async def test_a_revoked_token_gets_401_forever_the_others_carry_on() -> None:
    async with shop_with("revoke:token=1,at=20") as (shop, clock, session):
        first = (await post(session, shop, SHOP, token=1))[0]
        clock.advance(20.0)
        revoked = await post(session, shop, PRICE, PRICE_VARS, token=1)
        clock.advance(3600.0)
        later = (await post(session, shop, SHOP, token=1))[0]
        others = [(await post(session, shop, SHOP, token=t))[0] for t in (0, 2)]
        stats = shop.stats()
    assert first == 200 and later == 401 and others == [200, 200]
    assert revoked[0] == 401
    assert revoked[1] == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    assert stats["tokens"][1]["statuses"] == {"200": 1, "401": 2}
    assert stats["tokens"][1]["faults"] == {"revoke": 2}
    assert stats["tokens"][1]["cost_spent"] == 1  # the refused mutation was not charged


async def test_a_token_revoked_after_n_requests() -> None:
    async with shop_with("revoke:token=0,after=2") as (shop, _, session):
        statuses = [(await post(session, shop, SHOP))[0] for _ in range(4)]
    assert statuses == [200, 200, 401, 401]


# -- frozen, locked, wrong shop -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        ("frozen:at=5", 402, {"errors": "Unavailable Shop"}),
        ("locked:at=5", 423, {"errors": "This store is unavailable"}),
        ("notfound:at=5", 404, {"errors": "Not Found"}),
    ],
)
async def test_a_frozen_locked_or_missing_shop_refuses_every_token_from_t(
    fault: str, status: int, body: dict[str, str]
) -> None:
    kind = fault.split(":")[0]
    async with shop_with(fault) as (shop, clock, session):
        before = (await post(session, shop, SHOP))[0]
        clock.advance(5.0)
        answers = [await post(session, shop, PRICE, PRICE_VARS, token=t) for t in range(3)]
        async with session.post(
            shop.graphql_url, json={"query": SHOP}, headers={"X-Shopify-Access-Token": "x"}
        ) as r:
            unknown = r.status
        clock.advance(1e5)
        still = (await post(session, shop, SHOP, token=2))[0]
        stats = shop.stats()
    assert before == 200 and still == status and unknown == status
    assert [(s, b) for s, b, _ in answers] == [(status, body)] * 3
    assert [t["faults"] for t in stats["tokens"]] == [{kind: 1}, {kind: 1}, {kind: 2}]
    assert stats["tokens"][1]["statuses"] == {str(status): 1}
    assert stats["unattributed"] == {str(status): 1}
    assert [t["cost_spent"] for t in stats["tokens"]] == [1, 0, 0]  # nothing refused was charged


async def test_a_wrong_api_version_is_404() -> None:
    async with shop_with() as (shop, _, session):
        url = shop.graphql_url.replace("2026-04", "2019-10")
        async with session.post(
            url, json={"query": SHOP}, headers={"X-Shopify-Access-Token": TOKENS[0]}
        ) as r:
            status, body = r.status, await r.json()
        stats = token_stats(shop, 0)
    assert (status, body) == (404, {"errors": "Not Found"})
    assert stats["statuses"] == {"404": 1}


# -- staged uploads over the policy's size limit --------------------------------------------------


async def stage_target(session: aiohttp.ClientSession, shop: SimShop) -> tuple[str, list[dict[str, str]]]:
    _, body, _ = await post(session, shop, STAGE, STAGE_INPUT)
    (target,) = body["data"]["stagedUploadsCreate"]["stagedTargets"]
    return target["url"], target["parameters"]


async def upload(
    session: aiohttp.ClientSession, url: str, params: list[dict[str, str]], data: bytes
) -> tuple[int, str]:
    form = aiohttp.FormData()
    for param in params:
        form.add_field(param["name"], param["value"])
    form.add_field("file", data, filename="v.jsonl", content_type="text/jsonl")
    async with session.post(url, data=form) as resp:
        return resp.status, await resp.text()


def policy_of(params: list[dict[str, str]]) -> dict[str, Any]:
    raw = next(p["value"] for p in params if p["name"] == "policy")
    document: dict[str, Any] = json.loads(base64.b64decode(raw))
    return document


async def test_the_upload_policy_says_100_mb_by_default() -> None:
    async with shop_with() as (shop, _, session):
        _, params = await stage_target(session, shop)
    assert ["content-length-range", 0, 100_000_000] in policy_of(params)["conditions"]
    assert [p["name"] for p in params][-2:] == ["x-goog-signature", "policy"]


async def test_an_upload_over_the_policys_limit_is_entity_too_large() -> None:
    line = json.dumps(PRICE_VARS).encode() + b"\n"
    async with shop_with("upload_limit:bytes=1000") as (shop, _, session):
        url, params = await stage_target(session, shop)
        assert ["content-length-range", 0, 1000] in policy_of(params)["conditions"]
        too_big = await upload(session, url, params, line * (1000 // len(line) + 1))
        key = next(p["value"] for p in params if p["name"] == "key")
        missing = (await post(session, shop, RUN_BULK, {"m": PRICE, "path": key}))[1]
        fits = await upload(session, url, params, line * (1000 // len(line)))
        stats = shop.stats()
    assert too_big[0] == 400
    assert too_big[1] == (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>EntityTooLarge</Code>"
        "<Message>Your proposed upload is larger than the maximum object size specified in your Policy "
        "Document.</Message>"
        "<Details>Content-length exceeds upper bound on range</Details></Error>"
    )
    assert missing["data"]["bulkOperationRunMutation"]["userErrors"][0]["message"] == (
        "The staged upload file could not be found"
    )  # nothing was stored
    assert fits[0] == 201
    assert stats["uploads"] == {"max_bytes": 1000, "refused": {"EntityTooLarge": 1}}


async def test_a_forged_policy_is_refused_by_the_storage() -> None:
    async with shop_with("upload_limit:bytes=1000") as (shop, _, session):
        url, params = await stage_target(session, shop)
        document = policy_of(params)
        document["conditions"][-1] = ["content-length-range", 0, 10**8]
        forged = base64.b64encode(json.dumps(document).encode()).decode()
        params = [{**p, "value": forged} if p["name"] == "policy" else p for p in params]
        status, text = await upload(session, url, params, b"{}\n" * 500)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text


# -- bulk-operation slots: LIMIT_REACHED or the older "already in progress" -----------------------


async def start_bulk(session: aiohttp.ClientSession, shop: SimShop) -> dict[str, Any]:
    url, params = await stage_target(session, shop)
    status, _ = await upload(session, url, params, json.dumps(PRICE_VARS).encode() + b"\n")
    assert status == 201
    key = next(p["value"] for p in params if p["name"] == "key")
    _, body, _ = await post(session, shop, RUN_BULK, {"m": PRICE, "path": key})
    payload: dict[str, Any] = body["data"]["bulkOperationRunMutation"]
    return payload


async def test_past_the_slots_the_older_in_progress_user_error_has_no_code() -> None:
    async with shop_with("limit_style:in_progress,slots=1") as (shop, _, session):
        first = await start_bulk(session, shop)  # the ManualClock keeps it CREATED
        second = await start_bulk(session, shop)
        _, body, _ = await post(session, shop, RUN_QUERY, {"q": "{ products { edges { node { id } } } }"})
    gid = first["bulkOperation"]["id"]
    assert second == {
        "bulkOperation": None,
        "userErrors": [
            {
                "field": None,
                "message": f"A bulk mutation operation for this app and shop is already in progress: {gid}.",
                "code": None,
            }
        ],
    }
    (query_error,) = body["data"]["bulkOperationRunQuery"]["userErrors"]
    assert (
        query_error["message"]
        == f"A bulk query operation for this app and shop is already in progress: {gid}."
    )
    assert query_error["code"] is None


async def test_by_default_past_the_slots_is_limit_reached() -> None:
    async with shop_with("limit_style:limit_reached,slots=1") as (shop, _, session):
        await start_bulk(session, shop)
        second = await start_bulk(session, shop)
    assert second["userErrors"][0]["code"] == "LIMIT_REACHED"
    assert second["userErrors"][0]["field"] is None


# -- selecting faults -----------------------------------------------------------------------------


async def test_a_sim_url_selects_faults() -> None:
    async with SimShop.from_url("sim://?products=3&tokens=u1&fault=locked:at=0&fault=ise:rate=1") as shop:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                shop.graphql_url, json={"query": SHOP}, headers={"X-Shopify-Access-Token": "u1"}
            ) as resp,
        ):
            status = resp.status
        assert shop.stats()["fault_specs"] == ["locked:at=0", "ise:rate=1"]
    assert status == 423


def test_cli_refuses_a_bad_fault_spec_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    from bulk.cli import main

    assert main(["sim", "--port", "0", "--fault", "5xx:at=ten"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "bulk: error: fault spec '5xx:at=ten': at='ten' is not a number"
