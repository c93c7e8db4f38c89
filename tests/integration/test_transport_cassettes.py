"""The error mapping replayed from vcrpy cassettes recorded against the simulator.

Why cassettes too: they pin the exact bytes the shop sent (status, body, ``extensions.cost``), so the
mapping is checked without a running shop and a reader can see what each answer looks like. When a
cassette is missing the test records it from a fresh simulator; the access-token header is filtered
out before anything is written, and the test checks the file for the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr

from bulk.clock import ManualClock
from bulk.errors import (
    AuthError,
    InternalServerError,
    MaxCostExceededError,
    ServerError,
    ShopifyError,
    ShopUnavailableError,
    ThrottledError,
)
from bulk.shopify import documents
from bulk.shopify.transport import TOKEN_HEADER, Transport
from bulk.sim import SimConfig, SimShop

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
SECRET = "shpat_CASSETTESECRET"
TOKENS = (f"{SECRET}_0", f"{SECRET}_1", f"{SECRET}_2")
REPLAY_URL = "http://127.0.0.1:9/admin/api/2026-04/graphql.json"  # the port is not matched on replay
EXPENSIVE = "query Expensive { inventoryItems(first: 250) { nodes { id sku } } }"
TOO_EXPENSIVE = (
    "query TooExpensive { inventoryItems(first: 250) "
    "{ nodes { id inventoryLevels(first: 10) { nodes { id } } } } }"
)

RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="once",
    match_on=["method", "scheme", "host", "path", "body"],
    filter_headers=[TOKEN_HEADER],
    decode_compressed_response=True,
)


@asynccontextmanager
async def endpoint(cassette: str, **sim: Any) -> AsyncIterator[str]:
    """The URL to call: a fresh simulator while recording, a dead port while replaying."""
    if (CASSETTES / cassette).exists():
        yield REPLAY_URL
        return
    clock = sim.pop("clock", None)
    async with SimShop(SimConfig(products=200, tokens=TOKENS, **sim), clock=clock) as shop:
        yield shop.graphql_url


Scenario = Callable[[Transport], Any]


async def _success(transport: Transport) -> None:
    response = await transport.execute(documents.document(documents.LOCATIONS), {"first": 3}, token_index=0)
    assert len(response.data["locations"]["nodes"]) == 3
    assert response.cost is not None and response.cost.actual is not None


async def _auth(transport: Transport) -> None:
    with pytest.raises(AuthError) as info:
        await transport.execute(EXPENSIVE, token_index=1)
    assert info.value.token_index == 1


async def _server_error(transport: Transport) -> None:
    with pytest.raises(ServerError) as info:
        await transport.execute(EXPENSIVE, token_index=0)
    assert info.value.status in (502, 503)


async def _throttled(transport: Transport) -> None:
    with pytest.raises(ThrottledError) as info:
        for _ in range(10):
            await transport.execute(EXPENSIVE, token_index=2)
    assert info.value.cost["throttleStatus"]["currentlyAvailable"] < 252


async def _max_cost(transport: Transport) -> None:
    with pytest.raises(MaxCostExceededError) as info:
        await transport.execute(TOO_EXPENSIVE, token_index=0)
    assert info.value.requested_cost > 1000


async def _internal_server_error(transport: Transport) -> None:
    with pytest.raises(InternalServerError) as info:
        await transport.execute(EXPENSIVE, token_index=0)
    assert info.value.request_id == "1b355a21-7117-44c5-8d8b-8948082f40a8"


async def _max_cost_documented(transport: Transport) -> None:
    with pytest.raises(MaxCostExceededError) as info:
        await transport.execute(EXPENSIVE, token_index=0)
    assert (info.value.requested_cost, info.value.max_cost) == (2003, 1000)
    assert "the shop allows 1000" in str(info.value)


async def _rate_limited(transport: Transport) -> None:
    with pytest.raises(ThrottledError) as info:
        await transport.execute(EXPENSIVE, token_index=0)
    assert info.value.retry_after == 2.0 and info.value.cost == {}


def _shop_unavailable(status: int, cause: str, said: str) -> Scenario:
    async def scenario(transport: Transport) -> None:
        with pytest.raises(ShopUnavailableError) as info:
            await transport.execute(EXPENSIVE, token_index=0)
        assert (info.value.status, info.value.cause, info.value.shop_message) == (status, cause, said)
        assert said in str(info.value)

    return scenario


CASES: list[tuple[str, Scenario, dict[str, Any], tuple[str, ...]]] = [
    ("success.yaml", _success, {}, TOKENS),
    ("auth_401.yaml", _auth, {}, (TOKENS[0], f"{SECRET}_revoked")),
    ("server_5xx.yaml", _server_error, {"fault_rate": 1.0}, TOKENS),
    ("throttled.yaml", _throttled, {"clock": ManualClock()}, TOKENS),
    ("max_cost_exceeded.yaml", _max_cost, {}, TOKENS),
    # hand-built from documented bodies
    ("internal_server_error.yaml", _internal_server_error, {}, TOKENS),
    ("max_cost_documented.yaml", _max_cost_documented, {}, TOKENS),
    ("rate_limited_429.yaml", _rate_limited, {}, TOKENS),
    ("shop_frozen_402.yaml", _shop_unavailable(402, "frozen", "Unavailable Shop"), {}, TOKENS),
    ("shop_locked_423.yaml", _shop_unavailable(423, "locked", "This store is unavailable"), {}, TOKENS),
]


@pytest.mark.parametrize(("cassette", "scenario", "sim", "tokens"), CASES, ids=[c[0] for c in CASES])
async def test_error_mapping_from_cassette(
    cassette: str, scenario: Scenario, sim: dict[str, Any], tokens: tuple[str, ...]
) -> None:
    async with endpoint(cassette, **dict(sim)) as url:
        with RECORDER.use_cassette(cassette):
            async with Transport(url, tokens) as transport:
                try:
                    await scenario(transport)
                except ShopifyError as exc:  # pragma: no cover - a failure message without the token
                    pytest.fail(f"unexpected {type(exc).__name__}: {exc}")
    text = (CASSETTES / cassette).read_text()
    assert SECRET not in text
    assert "graphql.json" in text
