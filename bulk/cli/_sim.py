"""``bulk sim`` — run a SIMULATED Shopify shop on loopback, or ``--demo`` to see one at work.

Why a command: merchants rehearse a big change against a shop that behaves like theirs (same
GraphQL surface, same cost limits, same failures) before touching the real one; developers point
tests and benchmarks at it. It never pretends to be real: every banner says SIMULATED.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import signal
from typing import Any

import aiohttp

from bulk.cli._config import load_settings
from bulk.errors import ConfigError
from bulk.plan.gcpause import survivors_frozen
from bulk.sim import DEFAULT_TOKENS, SimConfig, SimShop

RECLAIM_EVERY_S = 3600.0  # a served shop's one long collection an hour (see bulk.plan.gcpause)

EPILOG = """\
examples:
  bulk sim --demo
      start a small shop, send a query, a mutation and a burst that gets THROTTLED, explain each.
  bulk sim --port 8787 --products 500000 --plan plus --tokens "$T1,$T2,$T3"
      serve http://127.0.0.1:8787/admin/api/2026-04/graphql.json until Ctrl-C; send a token in
      the X-Shopify-Access-Token header; each token is one app with its own cost bucket.
  bulk sim --port 8787 --match my-prices.csv
      a shop that also holds every SKU and handle my-prices.csv names, to rehearse that very file.
  bulk sim --speed 20 --latency-ms 40 --fault-rate 0.01 --drop-rate 0.001 --max-concurrency 8
      a 20x faster clock (buckets refill 20x faster), ~40 ms latency, 1% 5xx, 0.1% dropped
      connections (the request WAS applied), and a hard cap of 8 concurrent requests.

  bulk sim --port 8787 --fault 5xx:at=10,for=3 --fault revoke:token=1,at=20 --fault ise:rate=0.02
      Shopify's documented failures, scripted on the shop's clock: a 3 s burst of 503 from t=10 s,
      token 1 revoked (401) from t=20 s, and INTERNAL_SERVER_ERROR on 2% of requests.

fault specs (--fault, repeatable; also sim://?fault=SPEC&fault=SPEC): KIND[:key=value,...]
  times are seconds of the shop's clock since it started; tokens are 0-based indexes.
  ise:rate=P | ise:at=T,for=N           HTTP 200, errors[].extensions.code INTERNAL_SERVER_ERROR
                                        (+ requestId); the request ran first
  5xx:at=T,for=N[,status=503]           HTTP 500/502/503/504 (503: refused; others: ran first)
  hang:rate=P[,hold=S]                  held S s (default: until the client gives up)
  429:rate=P[,retry_after=S]            HTTP 429 + Retry-After (default 2), nothing ran
  throttle:at=T,for=N                   THROTTLED (HTTP 200) to everything: the token's bucket is
                                        emptied as if another client of the app spent it
  revoke:token=I,at=T | revoke:token=I,after=N
                                        that token gets 401 from then on, forever
  frozen:at=T  locked:at=T  notfound:at=T
                                        HTTP 402 / 423 / 404 for every request from T on
  upload_limit:bytes=N                  the staged upload policy's content-length-range max
                                        (default 100000000); larger files: 400 EntityTooLarge
  limit_style:in_progress[,slots=N]     past the bulk-operation slots, the older userError
                                        "... already in progress: gid://..." with no code
                                        (default limit_style:limit_reached, slots=5)
  rate, at/for and token=I combine on ise, 5xx, hang, 429 and throttle
  (e.g. 5xx:rate=0.5,at=10,for=5,token=0);
  frozen, locked and notfound take for=N too. A wrong spec is an error naming it.

the shop also serves GET /_sim/stats (bucket levels, throttled, violations, in-flight) and
POST /_sim/reset-stats. Tokens default to $BULK_SIM_TOKENS (comma separated), else the
built-in bulk.sim.DEFAULT_TOKENS; they are never printed, only their indexes.
"""


def register(subparsers: Any) -> None:
    """Add the ``sim`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="run a SIMULATED Shopify shop (same API and rate limits) for rehearsals and tests",
        description="Run a SIMULATED Shopify shop on 127.0.0.1: the Admin GraphQL API (2026-04) with "
        "Shopify's calculated query cost, per-token buckets, bulk operations and staged uploads.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--demo", action="store_true", help="run a short demonstration and exit")
    parser.add_argument(
        "--port", type=int, default=8787, help="TCP port on 127.0.0.1 (0 = any free; default 8787)"
    )
    parser.add_argument("--products", type=int, default=1000, help="catalog size (default 1000)")
    parser.add_argument(
        "--plan",
        default="standard",
        choices=["standard", "advanced", "plus", "enterprise"],
        help="bucket figures: standard 2000/100, advanced 4000/200, plus 20000/1000, "
        "enterprise 40000/2000 (points / points per second)",
    )
    parser.add_argument("--tokens", help="comma-separated access tokens the shop accepts, one per app "
                                         "(env BULK_SIM_TOKENS; see below)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mean latency per request (lognormal)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered 502/503")
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="share of requests applied, then dropped without an answer",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed-up: refills, bulk ops, latency")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help="hard cap on concurrent requests (beyond: 503 + violation)",
    )
    parser.add_argument(
        "--bulk-lines-per-s", type=float, default=2000.0, help="bulk-operation processing rate"
    )
    parser.add_argument(
        "--bulk-slowdown",
        type=float,
        default=1.0,
        help="make bulk operations this many times slower (default 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the catalog and injected faults")
    parser.add_argument(
        "--fault",
        action="append",
        metavar="SPEC",
        default=[],
        help="a documented Shopify failure to inject, e.g. 5xx:at=10,for=3 (repeatable; see below)",
    )
    parser.add_argument(
        "--match",
        action="append",
        metavar="FILE",
        default=[],
        help="also hold every SKU and handle FILE names (repeatable): rehearse your own file",
    )
    parser.add_argument(
        "--unreachable-host",
        action="append",
        metavar="HOST",
        default=[],
        help="images from HOST (or under it) end FAILED with IMAGE_DOWNLOAD_FAILURE (repeatable)",
    )
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The :class:`SimConfig` the arguments describe (tokens from ``--tokens``, env, or defaults)."""
    raw = args.tokens if args.tokens is not None else load_settings().value("sim_tokens")
    tokens = tuple(t.strip() for t in raw.split(",") if t.strip()) if raw else DEFAULT_TOKENS
    if not tokens:
        raise ConfigError("--tokens: give at least one access token")
    return SimConfig(
        products=args.products,
        plan=args.plan,
        tokens=tokens,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        drop_rate=args.drop_rate,
        speed=args.speed,
        max_concurrency=args.max_concurrency,
        bulk_lines_per_s=args.bulk_lines_per_s,
        bulk_slowdown=args.bulk_slowdown,
        seed=args.seed,
        match=tuple(args.match),
        unreachable=tuple(args.unreachable_host),
        faults=tuple(args.fault),
        port=0 if args.demo else args.port,
    )


async def run(args: argparse.Namespace) -> int:
    """Serve until interrupted, or run the demo."""
    config = config_from_args(args)
    if args.demo:
        # The burst reads 100 products per query; a smaller catalog would return fewer, be refunded,
        # and never throttle, which would make a poor demonstration.
        return await demo(dataclasses.replace(config, products=max(config.products, DEMO_MIN_PRODUCTS)))
    # what survives a gen-1 collection is frozen too (full collections find nothing to walk), and once
    # an hour one full collection walks everything, freeing cycles frozen while they were alive
    with survivors_frozen(1, reclaim_every_s=RECLAIM_EVERY_S):
        return await _serve(config)


async def _serve(config: SimConfig) -> int:
    """Serve ``config``'s shop until Ctrl-C or SIGTERM."""
    async with SimShop(config) as shop:
        # its schema and catalog live as long as it serves: the cyclic collector need not walk them,
        # nor what survived its last collections (a 250 ms pause at 1/10 Black Friday scale stopped
        # every answer, an urgent one too: docs/simulator.md). A full collection now:
        # survivors_frozen freezes what survives it
        gc.collect()
        print("This is a SIMULATED Shopify shop (bulk.sim), not a real one.")
        print(f"  GraphQL: POST {shop.graphql_url}")
        print(f"  stats:   GET  {shop.url}/_sim/stats")
        print(f"  plan {config.plan}, {config.products} products, speed x{config.speed}")
        for spec in config.faults:
            print(f"  fault: {spec}")
        print(
            f"  {len(config.tokens)} access tokens, indexes {', '.join(map(str, range(len(config.tokens))))}"
        )
        print("Ctrl-C to stop.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Ctrl-C and SIGTERM both mean "stop serving": leave the block, close the shop, exit 0.
        # (The handlers go with the loop when asyncio.run closes it.)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    print("simulated shop stopped.")
    return 0


DEMO_MIN_PRODUCTS = 100
DEMO_QUERY = "{ products(first: 3) { nodes { id title variants(first: 1) { nodes { id price } } } } }"
DEMO_MUTATION = """mutation($pid: ID!, $v: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $pid, variants: $v) {
    productVariants { id price }
    userErrors { field message }
  }
}"""
DEMO_BURST = "{ products(first: 100) { nodes { id title } } }"


async def demo(config: SimConfig) -> int:
    """Start an embedded shop, send a query, a mutation and a THROTTLED burst; explain each."""
    async with SimShop(config) as shop, aiohttp.ClientSession() as session:
        print(f"SIMULATED Shopify shop at {shop.url} (plan {config.plan}, {config.products} products)\n")
        headers = {"X-Shopify-Access-Token": config.tokens[0]}

        async def send(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
            async with session.post(
                shop.graphql_url, json={"query": query, "variables": variables}, headers=headers
            ) as resp:
                body: dict[str, Any] = await resp.json()
                return body

        body = await send(DEMO_QUERY)
        print(f"1. query {DEMO_QUERY}")
        print(f"   → {json.dumps(body.get('data'))[:200]}")
        _print_cost(body)
        nodes = ((body.get("data") or {}).get("products") or {}).get("nodes") or []
        if nodes:
            product = nodes[0]["id"]
            variant = nodes[0]["variants"]["nodes"][0]["id"]
            body = await send(DEMO_MUTATION, {"pid": product, "v": [{"id": variant, "price": "19.99"}]})
            print(f"\n2. mutation productVariantsBulkUpdate: {variant} price → 19.99")
            print("   (a mutation costs 10, + 0.2 per variant, rounded up)")
            print(f"   → {json.dumps(body.get('data') or body.get('errors'))[:200]}")
            _print_cost(body)
        burst = 30
        print(f"\n3. a burst of {burst} concurrent queries costing 102 points each (bucket: {config.plan})")
        results = await asyncio.gather(*(send(DEMO_BURST) for _ in range(burst)))
        throttled = [
            r
            for r in results
            if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in r.get("errors") or [])
        ]
        print(
            f"   → {burst - len(throttled)} answered, {len(throttled)} THROTTLED "
            "(HTTP 200, errors[0].extensions.code)"
        )
        if throttled:
            print(f"   a THROTTLED answer: {json.dumps(throttled[0])}")
        stats = shop.stats()
        print(f"\n/_sim/stats totals: {json.dumps(stats['totals'])}")
        print("A real client waits for the bucket to refill (restoreRate points/s) before resending.")
    return 0


def _print_cost(body: dict[str, Any]) -> None:
    cost = (body.get("extensions") or {}).get("cost")
    if cost:
        status = cost["throttleStatus"]
        print(
            f"   cost: requested {cost['requestedQueryCost']}, actual {cost['actualQueryCost']}, "
            f"bucket {status['currentlyAvailable']:.0f}/{status['maximumAvailable']:.0f}"
        )
