"""A burst of separate urgent calls (50 web hooks at once) shares its lookups: one read of the shop's
locations, SKU lookups batched 25 to a query — not one of each per call, which drained every token's
bucket and made the next burst wait seconds for refills."""

from __future__ import annotations

import asyncio
from typing import Any

from bulk.errors import ServerError
from bulk.lanes.urgent import InventoryResult, InventoryStatus
from bulk.models import Lane
from bulk.scheduler import Scheduler
from bulk.session.shop import Shop, ShopConfig
from bulk.sim import SimConfig, SimShop

TOKENS = ("shpat_burst_0", "shpat_burst_1", "shpat_burst_2")


def change(p: int, quantity: int) -> dict[str, Any]:
    return {"sku": f"SKU-{p:07d}-0", "location_name": "Main Warehouse", "quantity": quantity}


async def burst(shop: Shop, products: range) -> list[InventoryResult]:
    calls = [shop.inventory.set([change(p, p % 7)]) for p in products]
    return [r for results in await asyncio.gather(*calls) for r in results]


def requests_by_root(sim: SimShop) -> dict[str, int]:
    return {name: int(entry["count"]) for name, entry in sim.stats()["latency_by_operation"].items()}


async def test_a_burst_of_calls_shares_one_location_read_and_batched_sku_lookups() -> None:
    async with SimShop(SimConfig(products=200, tokens=TOKENS)) as sim, Shop.connect(sim.url, TOKENS) as shop:
        results = await burst(shop, range(1, 51))
        assert [r.status for r in results] == [InventoryStatus.APPLIED] * 50
        asked = requests_by_root(sim)
        assert asked["locations"] == 1
        assert asked["inventoryItems"] == 2  # 50 new SKUs, 25 to a query
        again = await burst(shop, range(1, 51))  # known now: no lookup at all
        assert all(r.status is InventoryStatus.APPLIED for r in again)
        assert requests_by_root(sim)["inventoryItems"] == 2 and requests_by_root(sim)["locations"] == 1


async def test_a_failed_lookup_answers_every_waiting_call_and_is_asked_again() -> None:
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim, Shop.connect(sim.url, TOKENS) as shop:
        await shop.inventory.set([change(1, 1)])  # locations known
        original = shop.urgent_client.request  # the urgent lane's own client
        failing = True

        async def request(document: str, variables: Any = None, **kw: Any) -> Any:
            if failing and "inventoryItems" in document:
                raise ServerError("HTTP 503 from the shop", status=503, token_index=0)
            return await original(document, variables, **kw)

        shop.urgent_client.request = request  # type: ignore[method-assign]
        results = await burst(shop, range(2, 12))
        assert {r.status for r in results} == {InventoryStatus.REJECTED}
        assert all("lookup failed" in (r.reason or "") for r in results)
        failing = False
        results = await burst(shop, range(2, 12))
        assert {r.status for r in results} == {InventoryStatus.APPLIED}


async def test_urgent_changes_have_their_own_connections_but_share_the_shops_in_flight_cap() -> None:
    config = ShopConfig(max_in_flight=1)
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim, \
            Shop.connect(sim.url, TOKENS, config=config) as shop:
        await shop.inventory.set([change(1, 1)])  # locations and SKU-0000001 known
        assert shop.urgent_client.transport is not shop.client.transport
        assert shop.client.transport.statistics().sent == 0  # nothing urgent on the bulk lane's pool
        scheduler = shop.client.scheduler
        assert isinstance(scheduler, Scheduler)
        async with scheduler.acquire(cost=10, priority=Lane.NORMAL):  # the shop's one permit is taken
            call = asyncio.ensure_future(shop.inventory.set([change(1, 2)]))
            for _ in range(10_000):  # steps of the loop (the SKU is known: no request before the grant)
                if scheduler.statistics().waiters.get(Lane.URGENT, 0) or scheduler.statistics().standby:
                    break
                await asyncio.sleep(0)
            stats = scheduler.statistics()
            # it waits for the permit (in line, or on standby behind the request that holds it): one cap
            assert (stats.in_flight, sum(stats.waiters.values()) + stats.standby) == (1, 1)
            assert not call.done()
        [result] = await call
        assert result.status is InventoryStatus.APPLIED
        [_, timing] = shop.inventory.timings()
        assert timing.permit_s > 0 and timing.requests == 1


async def test_a_cold_sessions_location_read_and_sku_lookup_go_at_once() -> None:
    """A first call needs the locations and its SKUs: two lookups that do not depend on each other,
    in flight together (one after the other, the first burst of a session paid two round trips).
    Each change is told what the slowest of them spent on the wire."""
    async with SimShop(SimConfig(products=50, tokens=TOKENS)) as sim, Shop.connect(sim.url, TOKENS) as shop:
        original = shop.urgent_client.request
        in_flight: list[str] = []
        together: list[list[str]] = []

        async def request(document: str, variables: Any = None, **kw: Any) -> Any:
            name = ("locations" if "locations(" in document else "sku" if "inventoryItems" in document
                    else "set")
            in_flight.append(name)
            for _ in range(20):  # a few turns of the loop: whatever starts at once is in flight now
                await asyncio.sleep(0)
            together.append(sorted(in_flight))
            try:
                return await original(document, variables, **kw)
            finally:
                in_flight.remove(name)

        shop.urgent_client.request = request  # type: ignore[method-assign]
        [result] = await shop.inventory.set([change(3, 4)])
        assert result.status is InventoryStatus.APPLIED
        assert ["locations", "sku"] in together and together[-1] == ["set"]
        [timing] = shop.inventory.timings()
        assert 0 < timing.lookup_http_s <= timing.lookup_s and timing.lookup_permit_s >= 0
    assert sim.stats()["totals"]["requests"] == 3
