"""The library for scripts without an event loop: open the shop, do one thing, close it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bulk.lanes.urgent import InventoryResult
from bulk.session._inventory import InventoryChange
from bulk.session.shop import Shop, ShopConfig

if TYPE_CHECKING:
    from bulk.sources.files import FileInput
    from bulk.sources.readahead import Source as UpdateSource


def set_inventory(
    shop: str,
    tokens: str | Sequence[str] | None,
    changes: Sequence[InventoryChange],
    *,
    config: ShopConfig | None = None,
) -> list[InventoryResult]:
    """Synchronous :meth:`Inventory.set` for scripts: opens the shop, sends, closes."""

    async def run() -> list[InventoryResult]:
        async with Shop.connect(shop, tokens, config=config) as session:
            return await session.inventory.set(changes)

    return asyncio.run(run())


def submit_sync(
    shop: str,
    tokens: str | Sequence[str] | None,
    updates: UpdateSource | FileInput,
    *,
    config: ShopConfig | None = None,
    **options: Any,
) -> Any:
    """Synchronous :meth:`Shop.submit` for scripts: opens the shop, applies, returns the result."""

    async def run() -> Any:
        async with Shop.connect(shop, tokens, config=config) as session:
            return await session.submit(updates, **options).wait()

    return asyncio.run(run())
