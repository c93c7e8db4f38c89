"""Retry rules of the scheduled client against the simulator: 5xx and network faults are retried by
tenacity with jittered backoff on the same token within the lane's budget in seconds; THROTTLED is
paced by the answer, then goes back through the scheduler; a refused token is taken out; other errors
are final. Backoff sleeps on an injected clock, so nothing here sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.errors import NoTokenLeftError, ServerError
from bulk.models import Lane
from bulk.scheduler import Scheduler
from bulk.shopify import documents
from bulk.shopify._policy import LaneBudget
from bulk.shopify.client import Grant, RetryPolicy, ShopifyClient
from bulk.shopify.transport import Transport
from bulk.sim import SimConfig, SimShop
from bulk.sim._faults import Fault
from tests.client_doubles import JumpClock, ScriptedFaults

TOKENS = ("shpat_retry_0", "shpat_retry_1", "shpat_retry_2")
LOCATIONS = documents.document(documents.LOCATIONS)
EXPENSIVE = "query Expensive { inventoryItems(first: 250) { nodes { id } } }"
# The urgent lane's figures with a 2 s transient budget: short enough to run out in a test.
SHORT = LaneBudget(transient_s=2.0, pacing_s=8.0, timeout_s=4.0, backoff_initial_s=0.1, backoff_max_s=1.0,
                   jitter_s=0.1, pace_initial_s=0.25, pace_max_s=4.0)


@asynccontextmanager
async def client_on_sim(
    sim_clock: Any = None, scheduler: Any = None, tokens: tuple[str, ...] = TOKENS
) -> AsyncIterator[tuple[SimShop, ShopifyClient, JumpClock]]:
    async with SimShop(SimConfig(products=300, tokens=TOKENS), clock=sim_clock) as shop:
        transport = Transport(shop.graphql_url, tokens)
        sched = scheduler or Scheduler.in_process(token_count=len(tokens), max_in_flight=4)
        clock = JumpClock()
        async with transport, sched:
            yield shop, ShopifyClient(transport, sched, retry=RetryPolicy(urgent=SHORT), clock=clock), clock


async def test_5xx_is_retried_with_jittered_backoff_on_the_same_token() -> None:
    async with client_on_sim() as (shop, client, clock):
        shop.app.faults = ScriptedFaults(Fault.FAIL_502, Fault.REFUSE_503)  # type: ignore[assignment]
        response = await client.request(LOCATIONS, {"first": 5}, cost=12, priority=Lane.URGENT)
        assert response.data["locations"]["nodes"]
        assert client.statistics().retried == 2
        # exponential from 0.1 s with up to 0.1 s of jitter: never at once, never long
        assert len(clock.sleeps) == 2 and all(0.1 <= s <= 0.3 for s in clock.sleeps)
        touched = [t["token_index"] for t in shop.stats()["tokens"] if t["requests"] or t["server_errors"]]
        assert len(touched) == 1  # all three tries on one token (idempotency keys are per app)
        assert shop.stats()["totals"]["server_errors"] == 2


async def test_retries_stop_when_the_lanes_budget_in_seconds_is_spent() -> None:
    async with client_on_sim() as (shop, client, clock):
        shop.app.faults = ScriptedFaults(*[Fault.REFUSE_503] * 100)  # type: ignore[assignment]
        with pytest.raises(ServerError):
            await client.request(LOCATIONS, {"first": 5}, cost=12, priority=Lane.URGENT)
        assert sum(clock.sleeps) <= SHORT.transient_s  # no retry starts past the budget
        # 0.1, 0.2, 0.4, 0.8 (+ jitter) fit in 2 s, the next would not: a handful of tries, not 100
        assert 4 <= shop.stats()["totals"]["server_errors"] <= 5


async def test_a_refused_only_token_stops_with_no_token_left() -> None:
    async with client_on_sim(tokens=("shpat_not_a_token",)) as (_shop, client, clock):
        with pytest.raises(NoTokenLeftError) as info:
            await client.request(LOCATIONS, {"first": 5}, cost=12, priority=Lane.URGENT)
        assert info.value.refused == (0,)
        assert "shpat_not_a_token" not in f"{info.value} {info.value!r} {vars(info.value)}"
        assert clock.sleeps == []
        assert client.statistics().retried == 0


async def test_a_refused_token_is_out_and_the_request_goes_on_another() -> None:
    tokens = (TOKENS[0], "shpat_revoked", TOKENS[2])
    sched = Scheduler.in_process(token_count=3, max_in_flight=4)
    async with client_on_sim(tokens=tokens, scheduler=sched) as (shop, client, _clock):
        # at once, so the scheduler spreads them over the three tokens (#1 among them)
        await asyncio.gather(
            *(client.request(LOCATIONS, {"first": 5}, cost=12, priority=Lane.NORMAL) for _ in range(6))
        )
        assert client.statistics().refused_tokens == (1,)
        stats = sched.statistics()
        assert stats.tokens[1].capacity == 0  # the model took token #1 out for the run
        assert [t["requests"] for t in shop.stats()["tokens"]][1] == 0
        assert sum(t["requests"] for t in shop.stats()["tokens"]) == 6


class RefillingScheduler:
    """A stand-in scheduler on token 0 that records what the client reports and, like the real one
    after a THROTTLED re-sync, waits (here: advances the simulator's clock) before granting again."""

    def __init__(self, sim_clock: ManualClock) -> None:
        self.sim_clock = sim_clock
        self.acquired = 0
        self.throttled: list[Mapping[str, Any]] = []
        self.settled: list[Mapping[str, Any]] = []

    async def __aenter__(self) -> RefillingScheduler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def acquire(
        self, *, cost: float, priority: Lane, token_index: int | None = None
    ) -> AbstractAsyncContextManager[Grant]:
        outer = self

        class _Grant:
            token_index = 0

            async def guard(self, coro: Any) -> Any:
                return await coro

            def settle(self, cost: Mapping[str, Any] | None) -> None:
                outer.settled.append(cost or {})

            def throttled(self, cost: Mapping[str, Any] | None) -> None:
                outer.throttled.append(cost or {})

            def refused(self) -> None:
                raise AssertionError("no token is refused here")

        @asynccontextmanager
        async def grant() -> AsyncIterator[Grant]:
            self.acquired += 1
            if self.throttled:
                self.sim_clock.advance(10.0)  # the bucket refills while "the scheduler" waits
            yield _Grant()

        return grant()


async def test_throttled_goes_back_through_the_scheduler_not_tenacity() -> None:
    sim_clock = ManualClock()
    sched = RefillingScheduler(sim_clock)
    async with client_on_sim(sim_clock=sim_clock, scheduler=sched) as (_shop, client, clock):
        for _ in range(8):  # 8 x 252 > 2000: the last one is throttled once, then paid after a refill
            await client.request(EXPENSIVE, cost=252, priority=Lane.NORMAL)
        assert len(sched.throttled) == 1
        status = sched.throttled[0]["throttleStatus"]
        assert status["currentlyAvailable"] < 252
        assert sched.acquired == 9
        assert len(sched.settled) == 8
        # one wait, as long as the answer's own refill time (252 - available) / 100, before resending
        refill = (252 - status["currentlyAvailable"]) / 100
        assert clock.sleeps == [pytest.approx(max(refill, RetryPolicy().normal.pace_initial_s))]
        assert client.statistics().throttled == 1


async def test_a_pinned_request_is_granted_and_sent_on_its_token() -> None:
    async with client_on_sim() as (shop, client, _clock):
        for _ in range(3):
            await client.request(LOCATIONS, {"first": 5}, cost=12, priority=Lane.BULK, token_index=2)
        assert [t["requests"] for t in shop.stats()["tokens"]] == [0, 0, 3]
