"""``bulk worker``: one process of a fleet, sharing work through Postgres and the scheduler through Redis.

A thin shell over :class:`bulk.fleet.worker.Worker`: wire the shop (with the Redis scheduler), the shared
journal and the bulk-operation port, install SIGTERM/SIGINT handlers that begin a graceful shutdown,
and run. The journal is never migrated here: run ``bulk db upgrade`` once first.

A worker may start a moment before its servers (systemd ordering, containers starting together): it
first waits for PostgreSQL, then Redis, to accept a connection — retried with a bounded exponential
back-off (:func:`wait_until_up`, tenacity), each wait one log line — and only then opens them. After
``--start-wait-s`` it gives up with one ``bulk: error:`` line that says what to check. A refusal that
waiting cannot cure (a wrong password, a database that does not exist) is reported at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bulk.cli import EXIT_OK
from bulk.cli._options import add_shared
from bulk.errors import ConfigError
from bulk.fleet.worker import Worker, WorkerConfig, default_worker_id
from bulk.journal import mask, open_journal
from bulk.journal.locations import parse_location
from bulk.lanes.bulk import BulkLaneConfig
from bulk.lanes.bulk.shop_port import ShopBulkOps
from bulk.session.connect import shop_session
from bulk.shopify.endpoint import parse_tokens

log = logging.getLogger("bulk.cli.worker")

START_WAIT_S = 60.0  # how long a worker waits for its servers at start-up, by default
FIRST_WAIT_S = 0.5  # the back-off: 0.5 s, 1, 2, 4, 8, then every 10 s until the bound
LONGEST_WAIT_S = 10.0
PROBE_TIMEOUT_S = 5.0  # one connection attempt (a server that drops packets must not hang the start)

EPILOG = """\
examples:
  bulk db upgrade --database-url "$BULK_DATABASE_URL"           once, before the first worker
  BULK_DATABASE_URL=postgresql://bulk@db/bulk BULK_REDIS_URL=redis://cache/0 \\
    SHOPIFY_SHOP=NAME.myshopify.com SHOPIFY_ACCESS_TOKENS=t1,t2,t3 bulk worker
  bulk worker --drain ...                    process what is queued, then exit (cron, tests)

At start-up the worker waits for PostgreSQL and Redis to accept connections (up to --start-wait-s,
one log line per wait), so it may start before them.

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
    p.add_argument("--start-wait-s", type=float, default=START_WAIT_S,
                   help="how long to wait at start-up for PostgreSQL and Redis to accept connections "
                        f"(default {START_WAIT_S:g}; 0: do not wait)")
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
    journal_at = parse_location(args.database_url)
    if journal_at.backend == "pg":  # a SQLite journal is a file: nothing to wait for
        await wait_until_up("PostgreSQL", args.database_url, lambda: postgres_probe(journal_at.target),
                            bound_s=args.start_wait_s, setting="--database-url / BULK_DATABASE_URL")
    if args.redis_url:
        await wait_until_up("Redis", args.redis_url, lambda: redis_probe(args.redis_url),
                            bound_s=args.start_wait_s, setting="--redis-url / BULK_REDIS_URL")
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


class NotUpYet(Exception):
    """A server did not accept a connection (yet): worth waiting for. Carries the reason's first line."""


def backoff(bound_s: float) -> list[float]:
    """The waits a start-up makes before it gives up: 0.5, 1, 2, 4, 8, then 10 s each, as many as fit
    in ``bound_s`` seconds (a pure schedule, so the bound holds whatever tenacity's clock says; its
    ``wait_exponential`` below yields the same waits)."""
    waits: list[float] = []
    wait = FIRST_WAIT_S
    while sum(waits) + wait <= bound_s + 1e-9:
        waits.append(wait)
        wait = min(wait * 2, LONGEST_WAIT_S)
    return waits


async def wait_until_up(what: str, location: str, probe: Callable[[], Awaitable[None]], *, bound_s: float,
                        setting: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Return once ``probe()`` connects to the server; while it raises :class:`NotUpYet`, wait and try
    again (each wait is one log line); past ``bound_s`` seconds of waiting raise :class:`ConfigError`
    saying what to check. Any other error of the probe (a :class:`ConfigError`) passes through at once."""
    where, waits = mask(location), backoff(bound_s)

    def say_wait(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s at %s is not reachable yet (%s): waiting %.1f s before attempt %d",
                    what, where, error, wait, state.attempt_number + 1,
                    extra={"action": "worker.wait_for_server", "server": what, "wait_s": wait,
                           "attempt": state.attempt_number})

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(NotUpYet), stop=stop_after_attempt(1 + len(waits)),
        wait=wait_exponential(multiplier=FIRST_WAIT_S, min=FIRST_WAIT_S, max=LONGEST_WAIT_S),
        sleep=sleep, before_sleep=say_wait, reraise=True)
    try:
        async for attempt in retrying:
            with attempt:
                await probe()
    except NotUpYet as exc:
        raise ConfigError(f"{what} at {where} is not reachable ({exc}; waited {sum(waits):g} s): start "
                          f"it or check {setting}, then start the worker again (--start-wait-s waits "
                          "longer)") from None
    if retrying.statistics.get("attempt_number", 1) > 1:
        log.warning("%s at %s is up", what, where, extra={"action": "worker.server_up", "server": what})


async def redis_probe(url: str) -> None:
    """Connect to Redis and ``PING`` it: :class:`NotUpYet` while it refuses or does not answer."""
    import redis.asyncio
    from redis.exceptions import AuthenticationError, RedisError

    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_S,
                                          socket_timeout=PROBE_TIMEOUT_S)
    try:
        await client.ping()
    except AuthenticationError as exc:
        raise ConfigError(f"Redis at {mask(url)} refused the credentials: check --redis-url") from exc
    except (RedisError, OSError) as exc:
        raise NotUpYet(_first_line(exc)) from exc
    finally:
        await client.aclose()


# libpq's words for refusals that waiting will not cure (the server is up and said no)
_FINAL_REFUSALS = ("password authentication failed", "does not exist", "no pg_hba.conf entry")


async def postgres_probe(url: str) -> None:
    """Open (and close) one PostgreSQL connection: :class:`NotUpYet` while the server refuses it,
    does not answer or is still starting up."""
    import psycopg

    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=int(PROBE_TIMEOUT_S))
    except psycopg.OperationalError as exc:
        reason = _first_line(exc)
        if any(words in str(exc) for words in _FINAL_REFUSALS):
            raise ConfigError(f"PostgreSQL at {mask(url)} refused the connection ({reason}): "
                              "check --database-url") from exc
        raise NotUpYet(reason) from exc
    await conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
