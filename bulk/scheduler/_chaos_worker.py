"""A tiny worker for the chaos test: ``python -m bulk.scheduler._chaos_worker --redis URL …``.

Why it exists: invariants 3 and 4 are about *processes* that get killed (-9) or paused (SIGSTOP)
while holding permits, so the chaos test runs many of these against the simulator. Each runs
``--concurrency`` loops that acquire a permit through the Redis scheduler and send one request with
plain aiohttp, forever. Access tokens come from the ``BULK_CHAOS_TOKENS`` environment variable
(comma separated), never from argv, so they do not show in ``ps``.

Self-fencing is the point: the lease is checked synchronously right before the request's bytes leave
(in the body aiohttp sends them with, :class:`_AtTheWire`: one write, request line to last byte),
and :meth:`Grant.guard` cancels a request whose lease runs out mid-flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

from bulk.errors import BulkError, PermitLostError
from bulk.models import Lane
from bulk.scheduler._grant import Grant
from bulk.scheduler._scheduler import Scheduler

QUERY = "{ shop { name } }"  # 1 point: the cap, not the buckets, is what the chaos test stresses


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The worker's options."""
    p = argparse.ArgumentParser(prog="python -m bulk.scheduler._chaos_worker")
    p.add_argument("--redis", required=True, help="Redis URL shared by every worker")
    p.add_argument("--shop", required=True)
    p.add_argument("--graphql-url", required=True)
    p.add_argument("--max-in-flight", type=int, default=8)
    p.add_argument("--concurrency", type=int, default=3, help="request loops in this process")
    p.add_argument("--lease", type=float, default=1.0)
    p.add_argument("--need", type=float, default=None,
                   help="lease a request must have left when it is sent (default: half the lease)")
    p.add_argument("--waiter-ttl", type=float, default=0.3)
    p.add_argument("--cost", type=float, default=1.0)
    p.add_argument("--nice", type=int, default=0,
                   help="lower this process's CPU priority by this much (the test's referee must not starve)")
    return p.parse_args(argv)


class _AtTheWire(BytesPayload):
    """The request's body, with one last look at the lease right before it leaves.

    aiohttp keeps the request line and headers back and sends them with the body, from a task of its
    own a loop turn after ``session.post`` — time in which this process may be paused past its lease;
    so the look is here, synchronously before the bytes leave (a lost permit sends nothing: aiohttp
    closes the connection without a byte). A fixed-length body, not a generator: a generator's body is
    chunked, and its closing chunk leaves in a second write — the shop already serves a request whose
    headers it has, and waits for the rest while this process is paused or starved, past its lease
    (the chaos test counted such requests as violations on a loaded box)."""

    def __init__(self, value: bytes, grant: Grant, need: float) -> None:
        super().__init__(value, content_type="application/json")
        self._grant, self._need = grant, need

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._grant.check(self._need)
        await super().write(writer)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        self._grant.check(self._need)
        await super().write_with_length(writer, content_length)


async def _send(
    session: aiohttp.ClientSession, url: str, token: str, grant: Grant, need: float
) -> dict[str, Any]:
    grant.check(need)
    body = _AtTheWire(json.dumps({"query": QUERY}).encode(), grant, need)
    # No client timeout: a live holder keeps renewing its lease while the request runs, and giving
    # up early would free the permit while the shop may still be serving the request.
    try:
        async with session.post(url, data=body, headers={"X-Shopify-Access-Token": token}) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
            answer["_status"] = response.status
            return answer
    except aiohttp.ClientConnectionError as exc:
        if isinstance(exc.__cause__, PermitLostError):
            raise exc.__cause__ from None  # the lease ran out before a byte left
        raise


async def run(args: argparse.Namespace) -> None:
    """Acquire, send, settle — in ``--concurrency`` loops, until killed."""
    if args.nice:
        os.nice(args.nice)
    tokens = [t for t in os.environ.get("BULK_CHAOS_TOKENS", "").split(",") if t]
    if not tokens:
        raise SystemExit("BULK_CHAOS_TOKENS is empty")
    counts = {"ok": 0, "throttled": 0, "lost": 0}
    sched = Scheduler.redis(
        args.redis,
        shop=args.shop,
        token_count=len(tokens),
        max_in_flight=args.max_in_flight,
        lease=args.lease,
        waiter_ttl=args.waiter_ttl,
    )
    need = args.lease / 2 if args.need is None else args.need  # every chaos request is shorter than this
    connector = aiohttp.TCPConnector(limit=0)
    async with sched, aiohttp.ClientSession(connector=connector) as session:

        async def loop() -> None:
            while True:
                try:
                    async with sched.acquire(args.cost, Lane.NORMAL) as grant:
                        token = tokens[grant.token_index]
                        body = await grant.guard(_send(session, args.graphql_url, token, grant, need))
                        if body["_status"] != 200:
                            counts[f"http_{body['_status']}"] = counts.get(f"http_{body['_status']}", 0) + 1
                            continue  # e.g. 503 over the cap: nothing was charged
                        cost = (body.get("extensions") or {}).get("cost")
                        errors: list[Any] = body["errors"] if isinstance(body.get("errors"), list) else []
                        codes = [(e.get("extensions") or {}).get("code") for e in errors]
                        if "THROTTLED" in codes:
                            grant.throttled(cost)
                            counts["throttled"] += 1
                        else:
                            grant.settle(cost)
                            counts["ok"] += 1
                except PermitLostError:
                    counts["lost"] += 1
                except (aiohttp.ClientError, TimeoutError, ValueError, BulkError) as exc:
                    name = type(exc).__name__
                    counts[name] = counts.get(name, 0) + 1

        async def report() -> None:
            while True:
                await asyncio.sleep(5)
                print(json.dumps({**counts, "handed_rechecked": sched.handed_rechecked}), flush=True)

        async with asyncio.TaskGroup() as group:
            group.create_task(report(), name="report")
            for i in range(args.concurrency):
                group.create_task(loop(), name=f"loop-{i}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    try:
        asyncio.run(run(parse_args(argv)))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
