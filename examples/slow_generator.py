"""Mass price changes from your own slow query, pipelined with sending.

Each batch stands for a query that takes seconds (here: ``asyncio.sleep``). The run reads the next batch
while the previous ones are planned and applied, so the whole job takes about as long as the slower of
the two, not their sum.

    python examples/slow_generator.py                       # against the simulated shop
    SHOPIFY_SHOP=NAME.myshopify.com SHOPIFY_ACCESS_TOKENS=t1,t2,t3 python examples/slow_generator.py
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from decimal import Decimal

import bulk

BATCHES = int(os.environ.get("EXAMPLE_BATCHES", "5"))
BATCH_ROWS = int(os.environ.get("EXAMPLE_BATCH_ROWS", "500"))
QUERY_SECONDS = float(os.environ.get("EXAMPLE_QUERY_SECONDS", "1.0"))


async def new_prices() -> AsyncIterator[list[bulk.PriceUpdate]]:
    """Stands for your own query: a batch of price changes every QUERY_SECONDS."""
    line = 0
    for b in range(BATCHES):
        await asyncio.sleep(QUERY_SECONDS)  # the slow query
        batch = []
        for p in range(1 + b * BATCH_ROWS, 1 + (b + 1) * BATCH_ROWS):
            line += 1
            batch.append(bulk.PriceUpdate(source=bulk.Source(file="pricing-query", line=line),
                                          variant=bulk.VariantRef(sku=f"SKU-{p:07d}-0"),
                                          price=Decimal("199.99")))
        yield batch


async def main() -> None:
    shop_url = os.environ.get("SHOPIFY_SHOP", f"sim://?products={BATCHES * BATCH_ROWS}")
    async with bulk.Shop.connect(shop_url, os.environ.get("SHOPIFY_ACCESS_TOKENS")) as shop:
        run = shop.submit(new_prices(), name="pricing-query")
        while not run.done:
            await asyncio.sleep(0.5)
            print("progress:", run.progress().plan)
        result = await run.wait()
    print("done:", result.summary)


if __name__ == "__main__":
    asyncio.run(main())
