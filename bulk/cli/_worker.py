"""``bulk worker``: one process of a fleet, sharing work through Postgres and the scheduler through Redis.

A thin shell over :class:`bulk.fleet.worker.Worker`: wire the shop (with the Redis scheduler), the shared
journal and the bulk-operation port, install SIGTERM/SIGINT handlers that begin a graceful shutdown,
and run. The journal is never migrated here: run ``bulk db upgrade`` once first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

import aiohttp

from bulk.cli import EXIT_OK
from bulk.cli._options import add_shared
from bulk.errors import ConfigError
from bulk.fleet.worker import Worker, WorkerConfig, default_worker_id
from bulk.journal import open_journal
from bulk.lanes.bulk import BulkLaneConfig
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.connect import shop_session
from bulk.shopify.endpoint import parse_tokens

EPILOG = """\
examples:
  bulk db upgrade --database-url "$BULK_DATABASE_URL"           once, before the first worker
  BULK_DATABASE_URL=postgresql://bulk@db/bulk BULK_REDIS_URL=redis://cache/0 \\
    SHOPIFY_SHOP=NAME.myshopify.com SHOPIFY_ACCESS_TOKENS=t1,t2,t3 bulk worker
  bulk worker --drain ...                    process what is queued, then exit (cron, tests)

SIGTERM (or Ctrl-C): no new work is claimed or started; requests in flight finish; every unit still
held is given back at once (a running bulk operation is adopted by the next worker). A second signal
does not hurry it: the grace period (--shutdown-grace-s) bounds it.
"""


def register(subparsers: Any) -> None:
    """Add ``bulk worker``."""
    p = subparsers.add_parser(
        "worker", help="run a fleet worker: claim queued shards and batches from the shared journal",
        description="Claim work units from the shared journal and run them against the shop, under the "
                    "fleet's shared scheduler, until stopped.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared(p, "database_url", "redis_url", "max_in_flight", "shop", "tokens")
    p.add_argument("--worker-id", default=None, help="id shown by `bulk status` (default host-pid-random)")
    p.add_argument("--drain", action="store_true", help="exit once nothing is queued or held")
    p.add_argument("--lease-s", type=float, default=60.0, help="unit lease (renewed every third of it)")
    p.add_argument("--poll-max-s", type=float, default=10.0, help="longest wait between bulk op polls")
    p.add_argument("--idle-wait-s", type=float, default=1.0, help="wait between claims when idle")
    p.add_argument("--direct-concurrency", type=int, default=4,
                   help="requests each held direct batch keeps queued at the scheduler (default 4)")
    p.add_argument("--shutdown-grace-s", type=float, default=30.0,
                   help="how long a shutdown waits for in-flight work before cancelling it")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve Prometheus metrics on this port (needs prometheus-client)")
    p.set_defaults(handler=handle, daemon=True)  # its log is its output: info records show without -v


async def handle(args: argparse.Namespace) -> int:
    """Run one worker until SIGTERM/SIGINT (or drained)."""
    if not args.database_url:
        raise ConfigError("bulk worker needs --database-url (or BULK_DATABASE_URL): the shared journal")
    if not args.shop:
        raise ConfigError("bulk worker needs --shop (or SHOPIFY_SHOP)")
    tokens = len(parse_tokens(args.tokens)) if args.tokens else 3
    config = WorkerConfig(
        worker_id=args.worker_id or default_worker_id(), drain=args.drain, idle_wait_s=args.idle_wait_s,
        shutdown_grace_s=args.shutdown_grace_s, direct_concurrency=args.direct_concurrency,
        lane=BulkLaneConfig(tokens=tokens, lease_s=args.lease_s, poll_max_s=args.poll_max_s))
    async with shop_session(args.shop, args.tokens, redis_url=args.redis_url,
                            max_in_flight=args.max_in_flight) as shop, \
            aiohttp.ClientSession() as session, open_journal(args.database_url) as journal:
        worker = Worker(journal=journal, port=ShopBulkOps(shop.client, session), requester=shop.client,
                        config=config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        metrics = None
        if args.metrics_port is not None:
            from bulk.fleet.metrics import serve_metrics

            metrics = serve_metrics(args.metrics_port, worker, shop)
        try:
            print(f"worker {worker.worker_id} started", flush=True)
            await worker.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if metrics is not None:
                with contextlib.suppress(Exception):
                    metrics.shutdown()
        print(f"worker {worker.worker_id} stopped: {worker!r}", flush=True)
    return EXIT_OK
