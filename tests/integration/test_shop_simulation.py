"""A session knows when its shop is the simulator (embedded or served by ``bulk sim``): the run says
so, its scheduler models the buckets on the simulator's clock, and a rehearsal reports the shop's own
time — the duration it predicts."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulk.cli._request import SubmitRequest
from bulk.lanes.bulk import BulkLaneConfig
from bulk.scheduler import Scheduler
from bulk.session.connect import shop_session
from bulk.session.shop import Shop
from bulk.shopify.simulated import probe
from bulk.sim import SimConfig, SimShop
from bulk.sources.files import FileInput
from bulk.submit.root import run_submission
from tests.csv_helpers import price_csv

TOKENS = ("tok-a", "tok-b", "tok-c")


async def test_a_served_simulator_is_recognised_and_its_clock_drives_the_scheduler() -> None:
    async with SimShop(SimConfig(products=50, tokens=TOKENS, speed=10)) as sim, \
            Shop.connect(sim.url, TOKENS) as shop:
        assert shop.simulation is not None and shop.sim is None  # served, not embedded
        assert (shop.simulation.speed, shop.simulation.products) == (10.0, 50)
        assert shop.simulation.plan == "standard" and shop.simulation.served_at == sim.url
        # buckets refill 10x faster there: the model must run on the shop's time
        assert cast(Scheduler, shop.client.scheduler).config.time_scale == 10.0


@pytest.mark.redis
async def test_the_fleets_shared_scheduler_runs_on_a_served_simulators_clock(redis_url: str) -> None:
    async with SimShop(SimConfig(products=50, tokens=TOKENS, speed=10)) as sim, \
            shop_session(sim.url, TOKENS, redis_url=redis_url) as shop:
        assert cast(Scheduler, shop.client.scheduler).config.time_scale == 10.0


async def test_an_embedded_simulator_sets_the_scheduler_on_its_clock_too() -> None:
    async with Shop.connect("sim://?products=20&speed=5") as shop:
        assert shop.simulation is not None and shop.simulation.served_at is None
        assert cast(Scheduler, shop.client.scheduler).config.time_scale == 5.0


async def test_a_loopback_server_that_is_not_a_simulator_is_not_taken_for_one() -> None:
    async def not_found(_request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def not_simulated(_request: web.Request) -> web.Response:
        return web.json_response({"plan": "standard", "speed": 20})

    for handler in (not_found, not_simulated):
        app = web.Application()
        app.router.add_get("/_sim/stats", handler)
        async with TestServer(app, host="127.0.0.1") as server:
            assert await probe(f"http://127.0.0.1:{server.port}/admin/api/2026-04/graphql.json") is None
    # a real shop (https) is never asked
    assert await probe("https://example.myshopify.com/admin/api/2026-04/graphql.json") is None


async def test_a_rehearsal_reports_the_shops_own_time(tmp_path: Path) -> None:
    file = price_csv(tmp_path / "prices.csv", [(f"SKU-{p:07d}-0", f"{100 + p}.00") for p in range(1, 41)])
    async with SimShop(SimConfig(products=40, tokens=TOKENS, speed=4)) as sim, \
            Shop.connect(sim.url, TOKENS) as shop:
        request = SubmitRequest(file=file, shop=sim.url, tokens=TOKENS, state_dir=tmp_path / "state",
                                journal=str(tmp_path / "j.sqlite3"),
                                lane=BulkLaneConfig(poll_initial_s=0.02, poll_max_s=0.1))
        events: list[tuple[str, dict[str, object]]] = []
        result = await run_submission(shop, request.run_options(), FileInput(paths=(file,), in_process=True),
                                      input_name=str(file), on_event=lambda n, d: events.append((n, d)))
        url = sim.url
    assert result.summary["applied"] == 40
    assert result.simulated and result.simulated_at == url
    assert result.elapsed_s > 0 and result.shop_elapsed_s is not None
    assert abs(result.shop_elapsed_s - 4 * result.elapsed_s) < 1e-6
    [banner] = [d for n, d in events if n == "simulated"]
    assert banner["speed"] == 4.0 and banner["served_at"] == url
