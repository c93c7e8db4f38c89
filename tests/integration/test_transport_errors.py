"""Each way the shop can fail maps to its typed error, and the access token is in none of them.

Forced against the embedded simulator (real HTTP on loopback): 401, 5xx, a dropped connection, a
refused connection, THROTTLED, MAX_COST_EXCEEDED, an invalid document and userErrors. For every one
the token string must be absent from the error's message, repr, args and cause chain, from the
transport's repr and statistics, and from every log record (DEBUG included, gql's and aiohttp's too).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.errors import (
    AuthError,
    GraphQLRequestError,
    MaxCostExceededError,
    NetworkError,
    ServerError,
    ShopifyError,
    ThrottledError,
    UserErrorsError,
)
from bulk.shopify import documents
from bulk.shopify.mapping import raise_for_user_errors
from bulk.shopify.transport import Transport, TransportConfig
from bulk.sim import SimConfig, SimShop
from tests.ports import closed_port

SECRET = "shpat_TESTSECRET"
TOKENS = (f"{SECRET}_0", f"{SECRET}_1", f"{SECRET}_2")

EXPENSIVE = "query Expensive { inventoryItems(first: 250) { nodes { id sku } } }"  # 252 points
TOO_EXPENSIVE = """query TooExpensive {
  inventoryItems(first: 250) { nodes { id inventoryLevels(first: 10) { nodes { id } } } }
}"""
INVALID = "query Invalid { shop { noSuchField } }"


def _texts(exc: BaseException) -> list[str]:
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        out += [str(current), repr(current), repr(current.args), repr(vars(current))]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return out


def assert_no_token(
    *, exc: BaseException | None, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    texts = [repr(transport), repr(transport.statistics())]
    if exc is not None:
        texts += _texts(exc)
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.__dict__)]
    leaked = [t for t in texts if SECRET in t]
    assert not leaked, f"token leaked in: {leaked[:3]}"


@asynccontextmanager
async def shop_and_transport(
    *, client_tokens: tuple[str, ...] = TOKENS, **sim: Any
) -> AsyncIterator[tuple[SimShop, Transport]]:
    clock = sim.pop("clock", None)
    async with SimShop(SimConfig(products=200, tokens=TOKENS, **sim), clock=clock) as shop:
        transport = Transport(shop.graphql_url, client_tokens)
        async with transport:
            yield shop, transport


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


async def test_a_request_that_runs_returns_data_and_its_cost(caplog: pytest.LogCaptureFixture) -> None:
    async with shop_and_transport() as (_, transport):
        response = await transport.execute(
            documents.document(documents.LOCATIONS), {"first": 10}, token_index=2
        )
        names = {n["name"] for n in response.data["locations"]["nodes"]}
        assert names == {"Main Warehouse", "Overflow", "Store Front"}
        assert response.token_index == 2
        assert response.cost is not None and response.cost.requested == 12
        assert response.cost.status is not None
        assert response.cost.status.maximum == 2000
        assert transport.statistics().sent == 1
        assert_no_token(exc=None, transport=transport, caplog=caplog)


async def test_unknown_token_is_auth_error_naming_the_index(caplog: pytest.LogCaptureFixture) -> None:
    async with shop_and_transport(client_tokens=(TOKENS[0], f"{SECRET}_revoked")) as (_, transport):
        with pytest.raises(AuthError) as info:
            await transport.execute(EXPENSIVE, token_index=1)
        assert info.value.token_index == 1
        assert "#1" in str(info.value)
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


async def test_5xx_is_server_error_with_its_status(caplog: pytest.LogCaptureFixture) -> None:
    async with shop_and_transport(fault_rate=1.0, seed=3) as (_, transport):
        statuses = set()
        for _ in range(6):
            with pytest.raises(ServerError) as info:
                await transport.execute(EXPENSIVE, token_index=0)
            statuses.add(info.value.status)
            assert_no_token(exc=info.value, transport=transport, caplog=caplog)
        assert statuses == {502, 503}
        assert transport.statistics().failed == {"ServerError": 6}


async def test_dropped_connection_is_network_error(caplog: pytest.LogCaptureFixture) -> None:
    async with shop_and_transport(drop_rate=1.0) as (shop, transport):
        with pytest.raises(NetworkError) as info:
            await transport.execute(EXPENSIVE, token_index=0)
        assert shop.stats()["totals"]["dropped"] == 1
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


async def test_refused_connection_is_network_error(caplog: pytest.LogCaptureFixture) -> None:
    with closed_port() as port:  # nothing listens on it, and no other process can take it meanwhile
        url = f"http://127.0.0.1:{port}/admin/api/2026-04/graphql.json"
        async with Transport(url, TOKENS, config=TransportConfig(timeout_s=5)) as transport:
            with pytest.raises(NetworkError) as info:
                await transport.execute(EXPENSIVE, token_index=0)
            assert_no_token(exc=info.value, transport=transport, caplog=caplog)


async def test_throttled_carries_the_cost_extension(caplog: pytest.LogCaptureFixture) -> None:
    # A ManualClock in the simulator: its buckets never refill during the test.
    async with shop_and_transport(clock=ManualClock()) as (_, transport):
        with pytest.raises(ThrottledError) as info:
            for _ in range(20):  # 2000 points / 252 per request: the 8th cannot be paid
                await transport.execute(EXPENSIVE, token_index=1)
        cost = info.value.cost
        assert cost["requestedQueryCost"] == 252
        assert cost["throttleStatus"]["currentlyAvailable"] < 252
        assert info.value.token_index == 1
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


async def test_max_cost_exceeded_names_the_requested_cost(caplog: pytest.LogCaptureFixture) -> None:
    async with shop_and_transport() as (_, transport):
        with pytest.raises(MaxCostExceededError) as info:
            await transport.execute(TOO_EXPENSIVE, token_index=0)
        assert info.value.requested_cost > 1000
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


async def test_invalid_document_is_graphql_request_error(caplog: pytest.LogCaptureFixture) -> None:
    async with shop_and_transport() as (_, transport):
        with pytest.raises(GraphQLRequestError) as info:
            await transport.execute(INVALID, token_index=0)
        assert "noSuchField" in str(info.value)
        assert info.value.errors
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


async def test_user_errors_of_a_control_mutation_raise_user_errors_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    variables: Mapping[str, Any] = {
        "input": {
            "name": "available",
            "reason": "not-a-reason",
            "quantities": [
                {
                    "inventoryItemId": "gid://shopify/InventoryItem/10",
                    "locationId": "gid://shopify/Location/1",
                    "quantity": 1,
                    "changeFromQuantity": None,
                }
            ],
        },
        "idempotencyKey": "test-user-errors",
    }
    async with shop_and_transport() as (_, transport):
        response = await transport.execute(
            documents.document(documents.INVENTORY_SET_QUANTITIES), variables, token_index=0
        )
        with pytest.raises(UserErrorsError) as info:
            raise_for_user_errors(response.data, "inventorySetQuantities", token_index=response.token_index)
        assert info.value.user_errors[0]["code"] == "INVALID_REASON"
        assert isinstance(info.value, ShopifyError)
        assert_no_token(exc=info.value, transport=transport, caplog=caplog)


def test_the_public_names_of_bulk_shopify_are_pinned() -> None:
    import bulk.shopify

    assert sorted(bulk.shopify.__all__) == [
        "API_VERSION",
        "Action",
        "CAUSES",
        "ClientStatistics",
        "CostReport",
        "Endpoint",
        "Grant",
        "LaneBudget",
        "QuantityChange",
        "Response",
        "RetryPolicy",
        "SchedulerLike",
        "ShopifyClient",
        "ThrottleStatus",
        "Transport",
        "TransportConfig",
        "TransportStatistics",
        "action_for",
        "document",
        "parse_cost",
        "parse_shop",
        "parse_tokens",
        "raise_for_user_errors",
    ]
    assert all(hasattr(bulk.shopify, name) for name in bulk.shopify.__all__)
