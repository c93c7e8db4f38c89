"""The shared backend: the admission state machine as one Lua script over one Redis key per shop.

Why Lua over one key: every decision (purge expired leases, queue, admit, refund, re-sync) must be
atomic across all workers of a shop; a script does it in one round trip, with the server's ``TIME``
so worker clocks never matter. Waiters are woken through pub/sub (``_keys.wake_channel``), never by
sleep-polling; a release hands its freed permit straight to the head of the line in the same script
and publishes the grant itself, and a head whose own process holds a busy permit is admitted onto it
as a standby, started by that process when the permit's request ends (:mod:`bulk.scheduler._handoff`).
Any Redis failure becomes :class:`CoordinationUnavailableError`: we fail closed, and a holder that
cannot renew loses its permits when its lease runs out (self-fencing).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from bulk.clock import Clock, MonotonicClock
from bulk.errors import CoordinationUnavailableError
from bulk.scheduler import core
from bulk.scheduler._admission import Client, Granted, Permit, Standby, State, Wait, Waiter
from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler.backends import _keys
from bulk.scheduler.protocol import Notifier, SchedulerStatistics, statistics_of

log = logging.getLogger("bulk.scheduler.redis")

_RESUBSCRIBE_FIRST_S = 0.05
SCRIPT = resources.files("bulk.scheduler.backends").joinpath("lua/scheduler.lua").read_text()


@dataclass(frozen=True, slots=True)
class _Subscription:
    """The wake-up channel's own connection and its pub/sub handle."""

    client: redis.asyncio.Redis
    pubsub: Any

    async def aclose(self) -> None:
        await _let_go(self.pubsub)
        await _let_go(self.client)


async def _let_go(connection: Any) -> None:
    """Close a client or pub/sub handle we are done with. Closing can time out (redis-py waits at most
    the connect timeout for the socket to close, and a loaded process's loop can be late for that):
    the connection is dropped either way, and a run whose work is done must not fail for it."""
    try:
        await connection.aclose()
    except (RedisError, OSError) as exc:
        log.debug("closing a Redis connection failed: %s", exc, extra={"action": "redis_close_failed"})


class RedisBackend:
    """One shop's scheduler state in Redis, shared by every worker on every machine."""

    def __init__(self, url: str, *, shop: str, config: SchedulerConfig, timeout: float = 2.0) -> None:
        self.config = config
        self.shop = shop
        self.clock: Clock = MonotonicClock()
        self.notifier = Notifier(self.clock)
        self._url = url
        self._timeout = timeout
        self._keys = [_keys.state(shop)]
        self._wake_prefix = _keys.wake_prefix(shop)
        self._config_json = json.dumps(
            {
                "token_count": config.token_count,
                "max_in_flight": config.max_in_flight,
                "urgent_reserve": config.urgent_reserve,
                "lease": config.lease,
                "waiter_ttl": config.waiter_ttl,
                "time_scale": config.time_scale,
                "capacity": core.STANDARD_CAPACITY,
                "restore_rate": core.STANDARD_RESTORE_RATE,
                "level": core.INITIAL_LEVEL,
            }
        )
        self._redis: redis.asyncio.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._script: Any = None
        self._last: SchedulerStatistics | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self, client: str) -> None:
        """Connect, load the script once, subscribe to ``client``'s wake-ups; fail closed if Redis
        is away. One RedisBackend serves one client (one Scheduler)."""
        self._redis = redis.asyncio.Redis.from_url(
            self._url, socket_connect_timeout=self._timeout, socket_timeout=self._timeout
        )
        self._script = self._redis.register_script(SCRIPT)
        channel = _keys.wake_channel(self.shop, client)
        try:
            await self._redis.script_load(SCRIPT)
            sub = await self._subscribe(channel)
        except (RedisError, OSError) as exc:
            await self._redis.aclose()
            self._redis = None
            raise CoordinationUnavailableError(f"Redis unreachable for shop {self.shop!r}") from exc
        self._listener = asyncio.create_task(self._listen(channel, sub), name="scheduler-wake")
        await self.snapshot()

    async def close(self) -> None:
        """Stop listening and disconnect."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._redis is not None:
            await _let_go(self._redis)
            self._redis = None

    async def _subscribe(self, channel: str) -> _Subscription:
        """A pub/sub connection of its own, subscribed to ``channel`` (closed again on failure)."""
        client = redis.asyncio.Redis.from_url(self._url, socket_connect_timeout=self._timeout)
        sub = _Subscription(client, client.pubsub(ignore_subscribe_messages=True))
        try:
            await sub.pubsub.subscribe(channel)
        except BaseException:
            await sub.aclose()
            raise
        return sub

    async def _listen(self, channel: str, sub: _Subscription | None) -> None:
        """Deliver wake-ups until closed. A lost channel (Redis restarted, connection killed) is
        re-subscribed with backoff; meanwhile waiters fall back to re-checking once per lease, and
        all of them re-check when the channel is back (they may have missed a wake-up)."""
        backoff, lost = _RESUBSCRIBE_FIRST_S, False
        while True:
            try:
                if sub is None:
                    sub = await self._subscribe(channel)
                    log.info("wake-up channel back", extra={"action": "pubsub_resubscribed"})
                    self.notifier.notify()
                    backoff, lost = _RESUBSCRIBE_FIRST_S, False
                async for message in sub.pubsub.listen():
                    self._deliver(message.get("data"))
            except (RedisError, OSError):
                if not lost:  # once per outage, not once per attempt
                    log.warning("wake-up channel lost", extra={"action": "pubsub_lost"})
                lost = True
            finally:
                self.notifier.notify()  # waiters re-check (and meet the error) rather than hang
                if sub is not None:
                    await sub.aclose()
            sub = None
            await asyncio.sleep(backoff)  # real time: how soon to knock on Redis again
            backoff = min(backoff * 2, self.config.lease)

    def _deliver(self, data: Any) -> None:
        """A wake-up: ``waiter`` (now first in line: ask again), ``waiter\tpermit\ttoken\tfence``
        (a freed permit was handed to that waiter: here is its grant, no need to ask again), the
        same with ``\tcarrier`` (a standby grant, to start when our request on ``carrier`` ends), or
        with ``\tcarrier\t-`` (that standby is revoked: do not start it)."""
        text = data.decode() if isinstance(data, bytes) else str(data)
        waiter, *grant = text.split("\t")
        if len(grant) >= 3:
            granted = Granted(permit=grant[0], token=int(grant[1]), fence=int(grant[2]))
            if len(grant) == 5:
                self.notifier.revoke(grant[3], granted.permit)
            elif len(grant) == 4:
                self.notifier.standby(waiter, granted, grant[3])
            else:
                self.notifier.hand(waiter, granted)
        else:
            self.notifier.notify(waiter)

    async def _run(self, *args: str) -> list[str]:
        if self._redis is None:
            raise CoordinationUnavailableError("the Redis backend is not open")
        try:
            reply = await self._script(
                keys=self._keys, args=[args[0], self._config_json, self._wake_prefix, *args[1:]]
            )
        except (RedisError, OSError) as exc:
            raise CoordinationUnavailableError(f"Redis unreachable for shop {self.shop!r}") from exc
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # redis-py can swallow a cancellation that lands mid-command (seen with 8.x on 3.11) and
            # return the reply instead; a waiter must not outlive its cancel, so re-raise it.
            raise asyncio.CancelledError
        return [r.decode() if isinstance(r, bytes) else str(r) for r in reply]

    # -- operations ----------------------------------------------------------------------------------

    async def acquire(
        self, client: str, waiter: str, cost: float, priority: int, token: int | None = None
    ) -> Granted | Wait:
        """One admission attempt, atomically in Redis (``token`` pins the grant to that token)."""
        r = await self._run("acquire", client, waiter, repr(cost), str(priority),
                            str(-1 if token is None else token))
        if r[0] == "granted":
            self._deliver_all(r[4:])
            return Granted(permit=r[1], token=int(r[2]), fence=int(r[3]))
        self._deliver_all(r[3:])
        return Wait(retry_after=float(r[1]), reason=r[2])

    def _deliver_all(self, grants: list[str]) -> None:
        """Grants the script made for our own waiters in this call (standbys too): no need to wait
        for their pub/sub message."""
        for grant in grants:
            self._deliver(grant)

    async def cancel(self, client: str, waiter: str) -> None:
        """Drop a waiter (and give back a permit or a standby place it never started)."""
        self._deliver_all((await self._run("cancel", client, waiter))[1:])

    async def heartbeat(self, client: str, forget: Collection[str] = ()) -> list[str]:
        """Renew the client's lease, drop its ghost waiters; refreshes the cached statistics too."""
        r = await self._run("heartbeat", client, json.dumps(sorted(forget)))
        self._last = statistics_of(state_from_json(json.loads(r[0]), self.config), float(r[1]))
        return r[2:]

    async def release(
        self, client: str, permit: str, token: int, report: core.CostReport | None, throttled: bool,
        *, started: str | None = None,
    ) -> bool:
        """End a permit with its refund and re-sync (``started``: the standby that takes its slot)."""
        payload = "" if report is None else json.dumps(_report_json(report))
        r = await self._run("release", client, permit, str(token), payload, "1" if throttled else "0",
                            started or "")
        self._deliver_all(r[1:])
        return r[0] == "released"

    async def snapshot(self) -> SchedulerStatistics:
        """Fresh statistics from Redis."""
        r = await self._run("stats")
        self._last = statistics_of(state_from_json(json.loads(r[0]), self.config), float(r[1]))
        return self._last

    def statistics(self) -> SchedulerStatistics:
        """Statistics as of the last heartbeat (no I/O)."""
        if self._last is None:
            raise CoordinationUnavailableError("no statistics yet: the Redis backend is not open")
        return self._last

    def __repr__(self) -> str:
        state = "open" if self._redis is not None else "closed"
        return f"RedisBackend(shop={self.shop!r}, {state}, notifier={self.notifier!r})"


def _report_json(report: core.CostReport) -> dict[str, Any]:
    status = report.status
    return {
        "actual": report.actual,
        "status": None
        if status is None
        else {"maximum": status.maximum, "available": status.available, "restore_rate": status.restore_rate},
    }


def state_from_json(d: dict[str, Any], config: SchedulerConfig) -> State:
    """The Lua state as a :class:`State` (for statistics and tests)."""

    def table(x: Any) -> dict[str, Any]:
        return x if isinstance(x, dict) else {}  # cjson writes an empty table as {} or []

    return State(
        config=config,
        buckets=[
            core.Bucket(
                capacity=b["cap"],
                restore_rate=b["rate"],
                level=b["level"],
                at=b["at"],
                outstanding=b["out"],
                learned=b["learned"],
            )
            for b in d["buckets"]
        ],
        permits={
            pid: Permit(client=p["c"], token=p["t"], cost=p["cost"], fence=p["f"], priority=p["p"])
            for pid, p in table(d["permits"]).items()
        },
        standbys={
            sid: Standby(client=x["c"], token=x["t"], cost=x["cost"], fence=x["f"], priority=x["p"],
                         seq=x["s"], on=x.get("on"))
            for sid, x in table(d.get("standbys")).items()
        },
        clients={cid: Client(expires=c["exp"], seen=c["seen"]) for cid, c in table(d["clients"]).items()},
        waiters={
            wid: Waiter(client=w["c"], priority=w["p"], seq=w["s"], cost=w["cost"])
            for wid, w in table(d["waiters"]).items()
        },
        seq=d["seq"],
        fence=d["fence"],
        admitted=d["admitted"],
        throttled=list(d["throttled"]),
        expired=d["expired"],
    )
