"""Every answer names its request (``X-Request-Id``, as Shopify's do), the client keeps that name on
the answer, the urgent lane keeps the names of the requests each change waited for, and the simulator
tells what it drew and took for each name — so a change's time can be set beside the shop's own time
for exactly its requests."""

from __future__ import annotations

import asyncio

import aiohttp

from bench._shop_share import burst_split, shop_ms, shop_share
from bulk.lanes.urgent import ChangeTiming
from bulk.session.shop import Shop
from bulk.shopify.transport import Transport
from bulk.sim import SimConfig, SimShop
from bulk.sim._latency_log import LatencyLog

TOKENS = ("shpat_rid_0",)


async def _ask(url: str, ids: list[str]) -> dict[str, dict[str, object]]:
    async with aiohttp.ClientSession() as session, \
            session.post(f"{url}/_sim/requests", json={"ids": ids}) as resp:
        assert resp.status == 200
        answer: dict[str, dict[str, object]] = (await resp.json())["requests"]
        return answer


async def test_concurrent_answers_each_keep_their_own_request_id() -> None:
    """Sent at once on one connection pool, each answer keeps the id the shop gave *it* (the shop's
    log says which root field each id served): gql's own ``response_headers`` is only the latest."""
    async with SimShop(SimConfig(products=20, tokens=TOKENS, latency_ms=5.0)) as sim, \
            Transport(sim.graphql_url, TOKENS) as transport:
        documents = ["{ shop { name } }", "{ locations(first: 1) { nodes { id } } }"] * 10
        answers = await asyncio.gather(*(transport.execute(d, token_index=0) for d in documents))
        ids = [a.request_id for a in answers]
        assert all(ids) and len(set(ids)) == len(ids)
        kept = await _ask(sim.url, [i for i in ids if i])
    assert [kept[i]["root"] for i in ids if i] == ["shop", "locations"] * 10


async def test_a_first_seen_sku_waits_for_two_requests_and_the_shop_says_what_each_took() -> None:
    async with SimShop(SimConfig(products=20, tokens=TOKENS, latency_ms=20.0)) as sim, \
            Shop.connect(sim.url, TOKENS) as shop:
        change = {"sku": "SKU-0000003-0", "location_name": "Main Warehouse"}
        await shop.inventory.set([change | {"quantity": 1}])  # first seen: looked up, then written
        await shop.inventory.set([change | {"quantity": 2}])  # known: written
        first, known = shop.inventory.timings()
        kept = await _ask(sim.url, [*first.request_ids, *known.request_ids, "no-such-request"])
    assert len(first.request_ids) == 2 and len(known.request_ids) == 1
    assert kept[first.request_ids[0]]["root"] in {"inventoryItems", "locations"}  # the slowest lookup
    writes = {kept[first.request_ids[1]]["root"], kept[known.request_ids[0]]["root"]}
    assert writes == {"inventorySetQuantities"}
    assert "no-such-request" not in kept
    for entry in kept.values():
        assert isinstance(entry["drawn_ms"], float) and isinstance(entry["served_ms"], float)
        assert entry["served_ms"] >= entry["drawn_ms"] > 0
    # the shop's share of the first change is both its requests'; ours is the rest of its time
    served = shop_ms(first, kept, "served_ms")
    assert served is not None and first.total_s * 1000 >= served > kept[first.request_ids[1]]["served_ms"]  # type: ignore[operator]
    share = shop_share([first, known], kept)
    assert share["first_seen"]["count"] == share["known"]["count"] == 1 and share["all"]["unmatched"] == 0


async def test_the_request_log_answers_400_to_a_body_without_ids() -> None:
    async with SimShop(SimConfig(products=5, tokens=TOKENS)) as sim, aiohttp.ClientSession() as session, \
            session.post(f"{sim.url}/_sim/requests", json={"id": "x"}) as resp:
        assert resp.status == 400


def test_the_log_keeps_the_latest_requests_by_id_only() -> None:
    log = LatencyLog(speed=2.0)
    query = "{ shop { name } }"
    log.record(query, 0.1, "a")  # 100 simulated ms: 50 real at speed 2
    log.served(query, 0.06, "a")
    log.record(query, 0.1, "b")  # ran, never answered (dropped): no served time
    assert log.requests(["a", "b", "c"]) == {"a": {"root": "shop", "drawn_ms": 50.0, "served_ms": 60.0},
                                             "b": {"root": "shop", "drawn_ms": 50.0, "served_ms": None}}
    unanswered = ChangeTiming(lookup_s=0, lookup_permit_s=0, lookup_http_s=0, queued_s=0, start_s=0,
                              permit_s=0, http_s=0, other_s=0, total_s=0.1, pair_wait=False, requests=1,
                              request_ids=("b",))
    assert shop_ms(unanswered, log.requests(["b"]), "served_ms") is None  # it tells nothing
    assert shop_share([unanswered], log.requests(["b"]))["all"]["unmatched"] == 1


def test_a_bursts_median_change_is_split_into_the_shops_time_and_ours() -> None:
    shop = {"l": {"root": "productVariants", "drawn_ms": 40.0, "served_ms": 70.0},
            "s1": {"root": "inventorySetQuantities", "drawn_ms": 50.0, "served_ms": 60.0},
            "s2": {"root": "inventorySetQuantities", "drawn_ms": 30.0, "served_ms": 35.0}}

    def change(total_ms: float, ids: tuple[str, ...], lookup_ms: float = 0.0) -> ChangeTiming:
        return ChangeTiming(lookup_s=lookup_ms / 1000, lookup_permit_s=0, lookup_http_s=lookup_ms / 1000,
                            queued_s=0, start_s=0, permit_s=0, http_s=0.05, other_s=0,
                            total_s=total_ms / 1000, pair_wait=False, requests=1, request_ids=ids)

    burst = [change(200.0, ("l", "s1"), lookup_ms=80.0), change(100.0, ("s2",)),
             change(150.0, ("l", "s2"), lookup_ms=80.0)]
    split = burst_split(burst, shop)
    assert split["changes"] == 3 and split["p50_ms"] == 150.0
    # the shop drew 90, 30 and 70 ms and served 130, 35 and 105; ours: 200-130, 100-35, 150-105
    assert (split["sim_p50_ms"], split["sim_served_p50_ms"], split["ours_p50_ms"]) == (70.0, 105.0, 65.0)
    assert split["lookup_p50_ms"] == 80.0
