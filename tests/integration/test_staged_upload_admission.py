"""A shard's file goes to the storage target outside the lane's control-call place: only
``stagedUploadsCreate`` is a call to the shop's API, and a multi-megabyte POST held a place that polls
and starts needed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.shop import Shop
from bulk.sim import SimConfig, SimShop

TOKENS = ("tok-a", "tok-b", "tok-c")


class Watched:
    """A session whose POSTs note whether the control-call place was held when they left."""

    def __init__(self, inner: aiohttp.ClientSession, held: list[bool]) -> None:
        self._inner, self._held = inner, held
        self.posted_while_held: list[bool] = []

    def post(self, *args: Any, **kwargs: Any) -> Any:
        self.posted_while_held.append(self._held[0])
        return self._inner.post(*args, **kwargs)


async def test_the_file_is_posted_after_the_place_is_given_back(tmp_path: Path) -> None:
    held = [False]
    calls_while_held: list[bool] = []

    @contextlib.asynccontextmanager
    async def place() -> AsyncIterator[None]:
        held[0] = True
        try:
            yield
        finally:
            held[0] = False

    shard = tmp_path / "shard.jsonl"
    shard.write_text('{"productId": "gid://shopify/Product/1", "variants": []}\n', encoding="utf-8")
    async with SimShop(SimConfig(products=5, tokens=TOKENS)) as sim, Shop.connect(sim.url, TOKENS) as shop, \
            aiohttp.ClientSession() as session:
        watched = Watched(session, held)
        port = ShopBulkOps(shop.client, watched)  # type: ignore[arg-type]  # only post is used

        class Client:  # the GraphQL call: made while the place is held
            async def request(self, *args: Any, **kwargs: Any) -> Any:
                calls_while_held.append(held[0])
                return await shop.client.request(*args, **kwargs)

        port._client = Client()
        staged = await port.upload(shard, token_index=0, admitted=place())
    assert staged and calls_while_held == [True] and watched.posted_while_held == [False]
