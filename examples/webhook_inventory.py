"""Urgent inventory from a webhook: an aiohttp handler that sets quantities within one request's time.

One :class:`bulk.Shop` is opened with the app and shared by every request, so changes arriving together
are micro-batched into one ``inventorySetQuantities`` and go ahead of any bulk work through the
scheduler's urgent lane.

    python examples/webhook_inventory.py          # serves http://127.0.0.1:8080 against sim://
    curl -X POST localhost:8080/inventory \
         -d '{"sku": "SKU-0000001-0", "location": "Main Warehouse", "quantity": 7}'
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web

import bulk

SHOP = web.AppKey("shop", bulk.Shop)


async def open_shop(app: web.Application) -> AsyncIterator[None]:
    """The shop session lives as long as the web app."""
    async with bulk.Shop.connect(os.environ.get("SHOPIFY_SHOP", "sim://"),
                                 os.environ.get("SHOPIFY_ACCESS_TOKENS")) as shop:
        app[SHOP] = shop
        yield


async def set_inventory(request: web.Request) -> web.Response:
    """POST {"sku", "location", "quantity", optional "change_from"} → the item's outcome."""
    body = await request.json()
    (result,) = await request.app[SHOP].inventory.set([{
        "sku": body["sku"], "location_name": body["location"], "quantity": body["quantity"],
        "change_from": body.get("change_from"),
    }])
    status = 200 if result.status is bulk.InventoryStatus.APPLIED else 409
    return web.json_response(result.as_json(), status=status)


def make_app() -> web.Application:
    """The web app: one route, one shared shop session."""
    app = web.Application()
    app.cleanup_ctx.append(open_shop)
    app.router.add_post("/inventory", set_inventory)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
