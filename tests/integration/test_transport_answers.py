"""The client against answers Shopify documents, hand-built and served on loopback (real HTTP).

Each answer is the documented body (shopify.dev response codes, the Admin GraphQL error codes, the
staged upload's storage errors); the server's notion of time is the test's clock, which moves only by
what the client sleeps, so a 30 s throttling window or a 3 s 5xx burst take no real time. What users
rely on: how many requests reach the shop and how far apart, whether the request ends applied or with
which error, and that no error, repr or log record carries an access token.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bulk.errors import (
    InternalServerError,
    MaxCostExceededError,
    NetworkError,
    NoTokenLeftError,
    ServerError,
    ShopUnavailableError,
    StorageRefusedError,
    ThrottledError,
    TokenRefusedError,
)
from bulk.models import Lane
from bulk.scheduler import Scheduler
from bulk.shopify import staged
from bulk.shopify._policy import LaneBudget, throttle_wait
from bulk.shopify.client import Grant, RetryPolicy, ShopifyClient
from bulk.shopify.transport import TOKEN_HEADER, Transport
from tests.client_doubles import JumpClock
from tests.integration.test_transport_errors import assert_no_token

SECRET = "shpat_ANSWERSECRET"
TOKENS = (f"{SECRET}_0", f"{SECRET}_1", f"{SECRET}_2")
QUERY = "query Expensive { inventoryItems(first: 250) { nodes { id } } }"
OK = {"data": {"inventoryItems": {"nodes": []}},
      "extensions": {"cost": {"requestedQueryCost": 252, "actualQueryCost": 2,
                              "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1748.0,
                                                 "restoreRate": 100.0}}}}
THROTTLED_COST: dict[str, Any] = {
    "requestedQueryCost": 252, "actualQueryCost": None,
    "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 0.0, "restoreRate": 100.0},
}
THROTTLED = {"errors": [{"message": "Throttled",
                         "extensions": {"code": "THROTTLED",
                                        "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
             "extensions": {"cost": THROTTLED_COST}}
INTERNAL = {"errors": [{"message": "Internal error. Looks like something went wrong on our end. Request ID: "
                                   "1b355a21-7117-44c5-8d8b-8948082f40a8 (include this in support requests).",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR",
                                       "requestId": "1b355a21-7117-44c5-8d8b-8948082f40a8"}}]}
MAX_COST = {"errors": [{"message": "Query cost is 2003, which exceeds the single query max cost limit "
                                   "(1000).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2003, "maxCost": 1000,
                                       "documentation": "https://shopify.dev/api/usage/rate-limits"}}]}


@dataclass
class Seen:
    """One request the shop received: when (test clock) and on which token (its index)."""

    at: float
    token: int


Answer = Callable[[float, int], web.Response]  # (now, token index) → the shop's answer


def json_answer(body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
                ) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers=headers)


@dataclass
class Shop:
    """A loopback shop answering every request with ``answer(now, token)``."""

    answer: Answer
    clock: JumpClock
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        sent = request.headers.get(TOKEN_HEADER, "")
        token = TOKENS.index(sent) if sent in TOKENS else -1
        self.seen.append(Seen(self.clock.now(), token))
        return self.answer(self.clock.now(), token)


@asynccontextmanager
async def serve(handler: Callable[[web.Request], Any], path: str = "/admin/api/2026-04/graphql.json"
                ) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()


class PinnedScheduler:
    """A stand-in scheduler granting token 0 (or the pinned one) at once; records what is asked."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.reports: list[str] = []

    def acquire(self, *, cost: float, priority: Lane, token_index: int | None = None
                ) -> AbstractAsyncContextManager[Grant]:
        outer = self
        self.asked.append(cost)

        class _Grant:
            token_index = 0

            async def guard(self, coro: Any) -> Any:
                return await coro

            def settle(self, cost: Mapping[str, Any] | None) -> None:
                outer.reports.append("settle")

            def throttled(self, cost: Mapping[str, Any] | None) -> None:
                outer.reports.append("throttled")

            def refused(self) -> None:
                outer.reports.append("refused")

        @asynccontextmanager
        async def grant() -> AsyncIterator[Grant]:
            yield _Grant()

        return grant()


@asynccontextmanager
async def client_for(answer: Answer, *, scheduler: Any = None, tokens: tuple[str, ...] = TOKENS
                     ) -> AsyncIterator[tuple[ShopifyClient, Shop, JumpClock, Any]]:
    clock = JumpClock()
    shop = Shop(answer, clock)
    sched = scheduler or PinnedScheduler()
    async with serve(shop.handle) as url, Transport(url, tokens) as transport:
        yield ShopifyClient(transport, sched, retry=RetryPolicy(), clock=clock), shop, clock, sched


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


# -- pacing ------------------------------------------------------------------------------------------


async def test_throttled_to_everything_for_30s_is_paced_by_the_documented_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(now: float, token: int) -> web.Response:
        return json_answer(THROTTLED if now < 30.0 else OK)

    async with client_for(answer) as (client, shop, clock, sched):
        response = await client.request(QUERY, cost=10, priority=Lane.NORMAL)
        assert response.data == OK["data"]
        in_window = [s.at for s in shop.seen if s.at < 30.0]
        # The answer says (252 - 0) / 100 = 2.52 s until it could pay: at most 30 / 2.52 + 1 = 12
        # requests fit in the window. The exponential floor spaces them further; never hundreds.
        assert 4 <= len(in_window) <= 12
        gaps = [b - a for a, b in itertools.pairwise(in_window)]
        assert all(gap >= 2.52 - 1e-9 for gap in gaps)
        expected = [throttle_wait(ThrottledError("t", cost=THROTTLED_COST), n,
                                  RetryPolicy().normal) for n in range(1, len(clock.sleeps) + 1)]
        assert clock.sleeps == pytest.approx(expected)  # a pure function of the answer and the attempt
        assert clock.t < 30.0 + RetryPolicy().normal.pace_max_s  # done soon after the window ends
        # the scheduler is asked for what the shop will charge (252), not our estimate (10), on resends
        assert sched.asked[0] == 10 and set(sched.asked[1:]) == {252}
        assert sched.reports.count("throttled") == len(in_window) and sched.reports[-1] == "settle"
        assert_no_token(exc=None, transport=client.transport, caplog=caplog)


async def test_throttling_past_the_lanes_pacing_budget_ends_in_throttled_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_for(lambda now, token: json_answer(THROTTLED)) as (client, shop, clock, _):
        with pytest.raises(ThrottledError) as info:
            await client.request(QUERY, cost=10, priority=Lane.URGENT)
        assert clock.t <= RetryPolicy().urgent.pacing_s
        assert 2 <= len(shop.seen) <= 4  # 2.52 s apart within the 8 s urgent budget
        assert "pacing budget" in str(info.value)
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


async def test_429_retry_after_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    def answer(now: float, token: int) -> web.Response:
        if now < 3.0:
            return json_answer({"errors": "Exceeded 2 calls per second for api client. Reduce request "
                                          "rates to resume uninterrupted service."},
                               status=429, headers={"Retry-After": "3.0"})
        return json_answer(OK)

    async with client_for(answer) as (client, shop, clock, _):
        await client.request(QUERY, cost=10, priority=Lane.NORMAL)
        assert [s.at for s in shop.seen] == [0.0, 3.0]  # once, then exactly after Retry-After
        assert clock.sleeps == [3.0]
        assert_no_token(exc=None, transport=client.transport, caplog=caplog)


# -- transient -----------------------------------------------------------------------------------------


async def test_internal_server_error_on_200_is_retried_then_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = [json_answer(INTERNAL), json_answer(INTERNAL)]

    def answer(now: float, token: int) -> web.Response:
        return answers.pop(0) if answers else json_answer(OK)

    async with client_for(answer) as (client, shop, clock, sched):
        response = await client.request(QUERY, cost=10, priority=Lane.URGENT)
        assert response.data == OK["data"]
        assert len(shop.seen) == 3 and {s.token for s in shop.seen} == {0}  # same token, same grant
        assert client.statistics().retried == 2
        assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)
        assert sched.asked == [10]
        assert_no_token(exc=None, transport=client.transport, caplog=caplog)


async def test_internal_server_error_past_the_budget_keeps_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_for(lambda now, token: json_answer(INTERNAL)) as (client, _shop, clock, _):
        with pytest.raises(InternalServerError) as info:
            await client.request(QUERY, cost=10, priority=Lane.URGENT)
        assert info.value.request_id == "1b355a21-7117-44c5-8d8b-8948082f40a8"
        assert clock.t <= RetryPolicy().urgent.transient_s
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


@pytest.mark.parametrize("lane", [Lane.URGENT, Lane.NORMAL, Lane.BULK])
async def test_a_3s_5xx_burst_is_survived_within_the_budget(
    lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    def answer(now: float, token: int) -> web.Response:
        if now < 3.0:
            return json_answer({"errors": "Service Unavailable"}, status=503)
        return json_answer(OK)

    async with client_for(answer) as (client, shop, clock, _):
        response = await client.request(QUERY, cost=10, priority=lane)
        assert response.data == OK["data"]
        budget = RetryPolicy().for_lane(lane)
        assert 3.0 <= clock.t <= 3.0 + budget.backoff_max_s + budget.jitter_s
        assert 2 <= len(shop.seen) <= 8  # exponential back-off: a handful of tries, not hundreds
        assert_no_token(exc=None, transport=client.transport, caplog=caplog)


async def test_a_hung_answer_costs_one_timeout_per_try_within_the_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one test here that waits real time: aiohttp's timeout (50 ms a try) is on the wall clock."""
    hung = LaneBudget(transient_s=0.5, pacing_s=1.0, timeout_s=0.05, backoff_initial_s=0.1, backoff_max_s=0.2,
                      jitter_s=0.0, pace_initial_s=0.1, pace_max_s=0.2)

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")  # pragma: no cover

    clock = JumpClock()
    async with serve(hang) as url, Transport(url, TOKENS) as transport:
        client = ShopifyClient(transport, PinnedScheduler(), retry=RetryPolicy(urgent=hung), clock=clock)
        with pytest.raises(NetworkError) as info:
            await client.request(QUERY, cost=10, priority=Lane.URGENT)
        assert "timed out after 0.05s" in str(info.value)
        # the test clock counts only the back-off (the timeouts are real time): 0.1 + 0.2 + 0.2 fills
        # the 0.5 s budget, one more would pass it
        assert clock.sleeps == pytest.approx([0.1, 0.2, 0.2])
        assert transport.statistics().failed == {"NetworkError": 4}
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


# -- per token -----------------------------------------------------------------------------------------


async def test_401_on_one_token_takes_it_out_and_the_others_carry_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(now: float, token: int) -> web.Response:
        if token == 1:
            return json_answer({"errors": "[API] Invalid API key or access token (unrecognized login or "
                                          "wrong password)"}, status=401)
        return json_answer(OK)

    scheduler = Scheduler.in_process(token_count=3, max_in_flight=8)
    async with scheduler, client_for(answer, scheduler=scheduler) as (client, shop, _clock, _):
        await asyncio.gather(*(client.request(QUERY, cost=10, priority=Lane.NORMAL) for _ in range(9)))
        refusals = sum(1 for s in shop.seen if s.token == 1)
        assert 1 <= refusals <= 3  # the requests already in flight on #1 when the first 401 came back
        await asyncio.gather(*(client.request(QUERY, cost=10, priority=Lane.NORMAL) for _ in range(9)))
        assert client.statistics().refused_tokens == (1,)
        assert sum(1 for s in shop.seen if s.token == 1) == refusals  # then never again
        assert sum(1 for s in shop.seen if s.token != 1) == 18  # every request applied on #0 or #2
        assert scheduler.statistics().tokens[1].capacity == 0
        assert_no_token(exc=None, transport=client.transport, caplog=caplog)


async def test_a_refused_token_is_out_for_every_worker_sharing_redis(redis_url: str) -> None:
    """The same release path through the Lua script: a second scheduler (another worker) on the same
    Redis state never grants the refused token either."""

    def answer(now: float, token: int) -> web.Response:
        return json_answer({"errors": "[API] Invalid API key"}, status=401) if token == 0 else json_answer(OK)

    first = Scheduler.redis(redis_url, shop="answers", token_count=3, max_in_flight=8)
    second = Scheduler.redis(redis_url, shop="answers", token_count=3, max_in_flight=8)
    async with first, second, client_for(answer, scheduler=first) as (client, shop, _clock, _):
        await client.request(QUERY, cost=10, priority=Lane.NORMAL)  # token 0 is chosen first: refused
        assert client.statistics().refused_tokens == (0,)
        for _ in range(6):
            async with second.acquire(10, Lane.NORMAL) as grant:
                assert grant.token_index != 0
        assert [s.token for s in shop.seen].count(0) == 1


async def test_401_on_every_token_stops_with_the_indexes_and_no_token_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(now: float, token: int) -> web.Response:
        return json_answer({"errors": "[API] Invalid API key or access token"}, status=401)

    scheduler = Scheduler.in_process(token_count=3, max_in_flight=8)
    async with scheduler, client_for(answer, scheduler=scheduler) as (client, shop, clock, _):
        with pytest.raises(NoTokenLeftError) as info:
            await client.request(QUERY, cost=10, priority=Lane.NORMAL)
        assert info.value.refused == (0, 1, 2)
        assert "(#0: HTTP 401, #1: HTTP 401, #2: HTTP 401). What to do: " in str(info.value)
        assert len(shop.seen) == 3 and clock.sleeps == []
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


async def test_a_request_a_5xx_may_have_applied_is_not_resent_on_another_token_after_a_401(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(now: float, token: int) -> web.Response:
        if token != 0:
            return json_answer(OK)
        if now == 0.0:
            return json_answer({"errors": "Bad Gateway"}, status=502)
        return json_answer({"errors": "[API] Invalid API key or access token"}, status=401)

    scheduler = Scheduler.in_process(token_count=3, max_in_flight=8)
    async with scheduler, client_for(answer, scheduler=scheduler) as (client, shop, _clock, _):
        with pytest.raises(TokenRefusedError) as info:
            await client.request(QUERY, cost=10, priority=Lane.NORMAL)
        assert info.value.token_index == 0
        assert [s.token for s in shop.seen] == [0, 0]  # the idempotency key is per app: not on #1 or #2
        assert client.statistics().refused_tokens == (0,)
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


async def test_a_pinned_request_on_a_refused_token_fails_with_the_index(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(now: float, token: int) -> web.Response:
        text = "[API] This action requires merchant approval for write_products scope."
        return json_answer({"errors": text}, status=403)

    async with client_for(answer) as (client, shop, _clock, sched):
        with pytest.raises(TokenRefusedError) as info:
            await client.request(QUERY, cost=10, priority=Lane.BULK, token_index=0)
        assert info.value.token_index == 0 and info.value.status == 403
        assert "merchant approval" in str(info.value)
        assert sched.reports == ["refused"] and len(shop.seen) == 1
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


# -- per run / final -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cause"),
    [
        (402, {"errors": "Unavailable Shop"}, "frozen"),
        (404, {"errors": "Not Found"}, "not_found"),
        (423, {"errors": "This store is unavailable"}, "locked"),
    ],
)
async def test_402_404_423_stop_the_run_naming_the_cause_and_the_body(
    status: int, body: dict[str, str], cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(lambda now, token: json_answer(body, status=status)) as (client, shop, clock, _):
        with pytest.raises(ShopUnavailableError) as info:
            await client.request(QUERY, cost=10, priority=Lane.NORMAL)
        assert info.value.cause == cause and info.value.status == status
        assert body["errors"] in str(info.value) and "What to do:" in str(info.value)
        assert len(shop.seen) == 1 and clock.sleeps == []  # final: never retried
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


async def test_max_cost_exceeded_names_the_answers_max_cost(caplog: pytest.LogCaptureFixture) -> None:
    async with client_for(lambda now, token: json_answer(MAX_COST)) as (client, shop, _clock, _):
        with pytest.raises(MaxCostExceededError) as info:
            await client.request(QUERY, cost=10, priority=Lane.NORMAL)
        assert (info.value.requested_cost, info.value.max_cost) == (2003, 1000)
        assert "the shop allows 1000" in str(info.value) and len(shop.seen) == 1
        assert_no_token(exc=info.value, transport=client.transport, caplog=caplog)


# -- staged uploads ------------------------------------------------------------------------------------

ENTITY_TOO_LARGE = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>EntityTooLarge</Code><Message>Your proposed "
    b"upload is larger than the maximum object size specified in your Policy Document.</Message>"
    b"<Details>Content-length exceeds upper bound on range</Details></Error>"
)
SIGNATURE = "SIGNATURE_SECRET_0123"


def _target(url: str, max_bytes: int) -> dict[str, Any]:
    policy = {"conditions": [["content-length-range", 1, max_bytes], {"bucket": "shopify-staged-uploads"}]}
    return {"url": url, "resourceUrl": None, "parameters": [
        {"name": "key", "value": "tmp/21759409/bulk/3b2f/bulk_op_vars.jsonl"},
        {"name": "Content-Type", "value": "text/jsonl"},
        {"name": "success_action_status", "value": "201"},
        {"name": "x-goog-signature", "value": SIGNATURE},
        {"name": "policy", "value": base64.b64encode(orjson.dumps(policy)).decode()},
    ]}


@asynccontextmanager
async def storage(status: int, body: bytes) -> AsyncIterator[tuple[str, list[int]]]:
    posts: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        posts.append(len(await request.read()))
        return web.Response(status=status, body=body, content_type="application/xml")

    async with serve(handle, "/shopify-staged-uploads") as url:
        yield url, posts


async def test_entity_too_large_from_storage_is_final_and_carries_its_code(tmp_path: Path) -> None:
    path = tmp_path / "shard.jsonl"
    path.write_bytes(b'{"input": {}}\n' * 10)
    async with storage(400, ENTITY_TOO_LARGE) as (url, posts), aiohttp.ClientSession() as session:
        with pytest.raises(StorageRefusedError) as info:
            await staged.post_file(session, _target(url, 10_000), path, token_index=2)
        assert posts and len(posts) == 1  # one POST: a 4xx is final, never re-uploaded
        error = info.value
        assert error.code == "EntityTooLarge" and error.status == 400 and error.max_bytes == 10_000
        assert "Your proposed upload is larger" in str(error)
        assert SIGNATURE not in f"{error} {error!r} {vars(error)} {error.__cause__!r}"


async def test_a_file_over_the_policys_limit_is_refused_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "shard.jsonl"
    path.write_bytes(b"x" * 2048)
    async with storage(201, b"") as (url, posts), aiohttp.ClientSession() as session:
        with pytest.raises(StorageRefusedError) as info:
            await staged.post_file(session, _target(url, 1024), path, token_index=0)
        assert posts == [] and info.value.code == "EntityTooLarge" and info.value.max_bytes == 1024
        assert await staged.post_file(session, _target(url, 4096), path, token_index=0) == (
            "tmp/21759409/bulk/3b2f/bulk_op_vars.jsonl")
        assert len(posts) == 1


async def test_a_5xx_from_storage_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "shard.jsonl"
    path.write_bytes(b"{}\n")
    slow_down = b"<Error><Code>SlowDown</Code></Error>"
    async with storage(503, slow_down) as (url, _), aiohttp.ClientSession() as s:
        with pytest.raises(ServerError) as info:
            await staged.post_file(s, _target(url, 4096), path, token_index=0)
        assert info.value.status == 503
