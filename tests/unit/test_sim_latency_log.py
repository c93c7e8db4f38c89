"""The simulator reports the latency it added per root field, in the real milliseconds a client waits."""

from __future__ import annotations

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
