"""The simulator reports the latency it added per root field, in the real milliseconds a client waits."""

from __future__ import annotations

from bulk.session.shop import Shop
from bulk.sim import SimConfig, SimShop
from bulk.sim._latency_log import LatencyLog, root_field


def test_the_root_field_is_the_operations_first_selection() -> None:
    urgent = ("mutation inventorySetQuantities($input: InventorySetQuantitiesInput!, $key: String!) "
              "@idempotent(key: $key) { inventorySetQuantities(input: $input) { userErrors { code } } }")
    assert root_field(urgent) == "inventorySetQuantities"
    assert root_field("{ shop { name } }") == "shop"
    assert root_field("query { a: productVariants(first: 1) { nodes { id } } }") == "productVariants"


def test_percentiles_are_per_root_field_and_in_real_time() -> None:
    log = LatencyLog(speed=2.0)  # a shop sped up x2 sleeps half the simulated delay for real
    for ms in range(1, 101):
        log.record("mutation { inventorySetQuantities(input: $i) { userErrors { code } } }", ms / 1000)
    log.record("query { shop { name } }", 1.0)
    stats = log.statistics()
    assert stats["inventorySetQuantities"] == {"count": 100, "p50_ms": 25.0, "p99_ms": 49.5, "max_ms": 50.0}
    assert stats["shop"]["count"] == 1 and stats["shop"]["max_ms"] == 500.0


def test_the_time_taken_to_serve_is_kept_beside_the_drawn_delay() -> None:
    """The drawn delay leaves out the simulator's own work; the served time (real, not scaled by the
    shop's speed) is what a benchmark compares a client's latency with."""
    log = LatencyLog(speed=2.0)
    query = "mutation { inventorySetQuantities(input: $i) { userErrors { code } } }"
    for ms in range(1, 101):
        log.record(query, ms / 1000)
        log.served(query, (ms / 2 + 10) / 1000)  # half the drawn delay (speed 2) + 10 ms of its own work
    stats = log.statistics()["inventorySetQuantities"]
    assert stats["p99_ms"] == 49.5 and stats["served_p99_ms"] == 59.5 and stats["served_p50_ms"] == 35.0
    log.record("query { shop { name } }", 0.0)  # a request that was never answered: no served figure
    assert "served_p99_ms" not in log.statistics()["shop"]


async def test_a_served_request_takes_at_least_its_drawn_delay() -> None:
    tokens = ("shpat_lat_0",)
    async with SimShop(SimConfig(products=20, tokens=tokens, latency_ms=20.0)) as sim, \
            Shop.connect(sim.url, tokens) as shop:
        for p in range(1, 6):
            await shop.inventory.set([{"sku": f"SKU-{p:07d}-0", "location_name": "Main Warehouse",
                                       "quantity": p}])
        stats = sim.stats()["latency_by_operation"]["inventorySetQuantities"]
    assert stats["count"] == 5 and stats["served_p50_ms"] >= stats["p50_ms"] > 0
