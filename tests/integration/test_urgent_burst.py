"""A burst of separate urgent calls (50 web hooks at once) shares its lookups: one read of the shop's
locations, SKU lookups batched 25 to a query — not one of each per call, which drained every token's
bucket and made the next burst wait seconds for refills."""

from __future__ import annotations

import asyncio
from typing import Any

from bulk.errors import ServerError
from bulk.lanes.urgent import InventoryResult, InventoryStatus
from bulk.session.shop import Shop
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
