"""`bulk catalog sync`: a bulk query export fills the cache; the next sync fetches only what changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from bulk.catalog import CatalogStatistics, CatalogStore, VariantRecord
from bulk.catalog.sync import LAST_SYNC, sync_catalog
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.models import Lane
from bulk.session.shop import Shop
from bulk.shopify.documents import document
from bulk.sim import SimConfig, SimShop

TOKENS = ("cat-a", "cat-b", "cat-c")


@pytest.fixture
async def sim() -> AsyncIterator[SimShop]:
    async with SimShop(SimConfig(products=120, tokens=TOKENS)) as shop:
        yield shop


async def test_full_then_incremental_sync(sim: SimShop, tmp_path: Path) -> None:
    async with Shop.connect(sim.url, TOKENS) as shop, aiohttp.ClientSession() as session:
        port = ShopBulkOps(shop.client, session)
        with CatalogStore(tmp_path / "catalog.sqlite3") as store:
            synced = await sync_catalog(port, store, poll_s=0.02)
            variants = sum(1 + p % 3 for p in range(1, 121))
            assert synced.full and synced.lines == 120 + variants
            assert store.statistics() == CatalogStatistics(products=120, variants=variants)
            sku = store.variants_by_sku(["SKU-0000007-1"])["SKU-0000007-1"]
            assert isinstance(sku, VariantRecord) and sku.variant_id == "gid://shopify/ProductVariant/71"
            assert sku.product_id == "gid://shopify/Product/7"
            assert store.get_meta(LAST_SYNC) is not None
            # the shop changes one price; the next sync brings back only that product
            await shop.client.request(document("product_variants_bulk_update"), {
                "productId": "gid://shopify/Product/7",
                "variants": [{"id": "gid://shopify/ProductVariant/71", "price": "123.45"}],
            }, cost=11, priority=Lane.NORMAL)
            again = await sync_catalog(port, store, poll_s=0.02)
            assert not again.full and again.lines == 1 + 2  # product 7 and its 2 variants
            updated = store.variants_by_id(["gid://shopify/ProductVariant/71"])
            assert updated["gid://shopify/ProductVariant/71"].price == Decimal("123.45")


async def test_result_file_read_in_small_pieces(sim: SimShop, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Result JSONL is parsed a batch of bytes at a time: lines cut at any byte still come out whole."""
    monkeypatch.setattr("bulk.lanes.bulk.shop_port.RESULT_CHUNK", 97)  # a prime: cuts land anywhere
    async with Shop.connect(sim.url, TOKENS) as shop, aiohttp.ClientSession() as session:
        with CatalogStore(tmp_path / "catalog.sqlite3") as store:
            synced = await sync_catalog(ShopBulkOps(shop.client, session), store, poll_s=0.02)
            assert synced.lines == 120 + sum(1 + p % 3 for p in range(1, 121))
            assert store.statistics().products == 120
