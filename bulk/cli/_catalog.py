"""``bulk catalog sync``: refresh the local catalog cache (SKU/handle → GID and current values)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import aiohttp

from bulk.catalog import CatalogStore
from bulk.catalog.sync import sync_catalog
from bulk.cli import EXIT_OK
from bulk.cli._failures import check_reachable
from bulk.cli._options import add_shared
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.shop import Shop
from bulk.submit.options import default_state_dir, shop_id


def register(subparsers: Any) -> None:
    """Add ``bulk catalog sync``."""
    p = subparsers.add_parser("catalog", help="the local catalog cache")
    sub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    s = sub.add_parser(
        "sync", help="export the shop's products and variants into the local cache",
        description="Run a bulk query export of every product and variant (SKU, prices, inventory item) "
                    "and store it locally, so `bulk submit` can resolve SKUs and skip no-op changes. "
                    "Later syncs only fetch products updated since the previous one (use --full to redo "
                    "everything).")
    add_shared(s, "shop", "tokens", "state_dir")
    s.add_argument("--full", action="store_true", help="export everything, not only recent changes")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(handler=handle)


async def handle(args: argparse.Namespace) -> int:
    """Sync and print how many objects the cache holds."""
    from bulk.errors import ConfigError

    if not args.shop:
        raise ConfigError("no shop given: use --shop NAME.myshopify.com (or SHOPIFY_SHOP)")
    state = args.state_dir or default_state_dir()
    await check_reachable(args.shop)
    async with Shop.connect(args.shop, args.tokens) as shop, aiohttp.ClientSession() as session:
        if shop.simulation is not None:
            print("note: this is a SIMULATED shop; its cache is only useful for rehearsals against it")
        with CatalogStore(state / "catalog" / f"{shop_id(shop.identity)}.sqlite3") as store:
            synced = await sync_catalog(ShopBulkOps(shop.client, session), store, full=args.full,
                                        clock=shop.shop_clock)
            lines = synced.lines
            result = {"synced_objects": lines, "full": synced.full, **dataclasses.asdict(store.statistics()),
                      "cache": store.path}
    print(json.dumps(result) if args.json else
          f"synced {lines} objects; the cache holds {result['products']} products and "
          f"{result['variants']} variants ({result['cache']})")
    return EXIT_OK
