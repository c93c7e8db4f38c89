"""``Shop``: the library's front door to one shop — its tokens, scheduler, transport and lanes.

Why one object: every request of every lane must share one scheduler and one connection pool per
shop, or the three token buckets would be spent twice. Usage::

    async with bulk.Shop.connect("NAME.myshopify.com", tokens) as shop:
        results = await shop.inventory.set([{"sku": "SKU-1", "location_name": "Main Warehouse",
                                              "quantity": 5, "change_from": 3}])

``shop`` may also be ``sim://?products=1000`` (an embedded simulated shop, started and stopped with
the block). :func:`set_inventory` is the same for scripts without an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import ValidationError

from bulk.clock import Clock, MonotonicClock
from bulk.errors import ConfigError, ShopifyError
from bulk.lanes.urgent import InventoryResult, InventoryStatus, UrgentConfig, UrgentLane
from bulk.models import InventoryUpdate, Lane, Source
from bulk.shopify import inventory as ops
from bulk.shopify.client import RetryPolicy, SchedulerLike, ShopifyClient
from bulk.shopify.endpoint import parse_shop, parse_tokens
from bulk.shopify.inventory import QuantityChange
from bulk.shopify.resolve import InventoryResolver
from bulk.shopify.simulated import Simulation, probe
from bulk.shopify.transport import Transport, TransportConfig

if TYPE_CHECKING:
    from bulk.runs import RunHandle
    from bulk.scheduler import Scheduler
    from bulk.sources import Source as UpdateSource
    from bulk.sources_files import FileInput

InventoryChange = InventoryUpdate | Mapping[str, Any]
SchedulerFactory = Callable[[int, float], "Scheduler"]
"""Builds the session's scheduler (unopened) from the token count and the shop's clock speed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShopConfig:
    """Per-shop settings. ``max_in_flight`` is the global cap the scheduler enforces."""

    max_in_flight: int = 8
    transport: TransportConfig = field(default_factory=TransportConfig)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    urgent: UrgentConfig = field(default_factory=UrgentConfig)


class Shop:
    """One shop session. Build with :meth:`connect`, open with ``async with``."""

    def __init__(
        self,
        shop: str,
        tokens: str | Sequence[str] | None = None,
        *,
        config: ShopConfig | None = None,
        scheduler: SchedulerLike | None = None,
        scheduler_factory: SchedulerFactory | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.endpoint = parse_shop(shop)
        self.config = config or ShopConfig()
        self.clock: Clock = clock or MonotonicClock()
        self._tokens: tuple[str, ...] | None = (
            None if tokens is None else parse_tokens(tokens if isinstance(tokens, str) else tuple(tokens))
        )
        if self._tokens is None and not self.endpoint.is_sim:
            raise ConfigError("no access token given (use --tokens or SHOPIFY_ACCESS_TOKENS)")
        self._given_scheduler = scheduler
        self._scheduler_factory = scheduler_factory
        self._stack: AsyncExitStack | None = None
        self._client: ShopifyClient | None = None
        self._sim: Any = None
        self._simulation: Simulation | None = None
        self.inventory = Inventory(self)

    @classmethod
    def connect(
        cls,
        shop: str,
        tokens: str | Sequence[str] | None = None,
        *,
        config: ShopConfig | None = None,
        scheduler: SchedulerLike | None = None,
        scheduler_factory: SchedulerFactory | None = None,
        clock: Clock | None = None,
    ) -> Shop:
        """A shop session for ``async with`` (nothing is connected until the block starts).

        ``tokens``: a sequence or a comma-separated string; optional only for ``sim://`` shops.
        ``scheduler``: one already open (the session uses it as it is); ``scheduler_factory``: how to
        build one the session opens and closes, on the shop's clock (default: in-process).
        """
        return cls(shop, tokens, config=config, scheduler=scheduler, scheduler_factory=scheduler_factory,
                   clock=clock)

    @property
    def client(self) -> ShopifyClient:
        """The scheduled, retrying GraphQL client (for the bulk lane and other operations)."""
        if self._client is None:
            raise RuntimeError("Shop is not open: use 'async with Shop.connect(...) as shop'")
        return self._client

    @property
    def sim(self) -> Any:
        """The embedded :class:`bulk.sim.SimShop` for ``sim://`` shops (``None`` otherwise)."""
        return self._sim

    @property
    def simulation(self) -> Simulation | None:
        """The simulated shop this session talks to (embedded, or served by ``bulk sim`` on loopback);
        ``None`` for a real shop. Known once the session is open."""
        return self._simulation

    @property
    def shop_clock(self) -> Clock | None:
        """A sped-up simulator's own clock, for polls and back-offs; None when it is real time."""
        return self._simulation.clock() if self._simulation is not None else None

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            graphql_url, tokens = await self._start_endpoint(stack)
            if self._simulation is None:
                self._simulation = await probe(graphql_url)
            transport = await stack.enter_async_context(
                Transport(graphql_url, tokens, config=self.config.transport)
            )
            scheduler: SchedulerLike
            if self._given_scheduler is not None:
                scheduler = self._given_scheduler
            else:
                # a simulator sped up xN refills its buckets N times faster: model them on its time
                speed = self._simulation.speed if self._simulation is not None else 1.0
                make = self._scheduler_factory or self._in_process_scheduler
                scheduler = await stack.enter_async_context(make(len(tokens), speed))
            self._client = ShopifyClient(transport, scheduler, retry=self.config.retry, clock=self.clock)
            await stack.enter_async_context(self.inventory)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    def _in_process_scheduler(self, token_count: int, time_scale: float) -> Scheduler:
        from bulk.scheduler import Scheduler

        return Scheduler.in_process(token_count=token_count, max_in_flight=self.config.max_in_flight,
                                    time_scale=time_scale)

    async def _start_endpoint(self, stack: AsyncExitStack) -> tuple[str, tuple[str, ...]]:
        if not self.endpoint.is_sim:
            assert self.endpoint.graphql_url is not None and self._tokens is not None
            return self.endpoint.graphql_url, self._tokens
        from bulk.sim import SimShop, parse_sim_url

        sim_config = parse_sim_url(self.endpoint.sim_url or "sim://")
        if self._tokens is not None:
            sim_config = replace(sim_config, tokens=self._tokens)
        self._sim = await stack.enter_async_context(SimShop(sim_config))
        self._simulation = Simulation(plan=sim_config.plan, products=sim_config.products,
                                      speed=sim_config.speed)
        return self._sim.graphql_url, tuple(sim_config.tokens)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)
        self._client = None

    def submit(
        self,
        updates: UpdateSource | FileInput,
        *,
        name: str = "library",
        run_key: str | None = None,
        route: Literal["auto", "bulk", "direct"] = "auto",
        state_dir: Path | None = None,
        journal: str | None = None,
    ) -> RunHandle:
        """Apply mass changes (prices, descriptions, images; inventory goes to the urgent lane).

        ``updates``: an iterable or async iterable of update models (or of lists of them — a slow
        query's batches), read ahead while earlier batches are planned and sent; or files,
        ``FileInput(paths=(Path("prices.csv"),))`` from :mod:`bulk.sources_files`, read and validated in a
        second process so this one stays responsive. Returns at once with a
        :class:`~bulk.runs.RunHandle`: ``progress()``, ``await run.wait()``, ``outcomes()``,
        ``cancel()``. Give ``run_key`` to make a re-submission resume instead of starting again."""
        from bulk.runs import start_run

        return start_run(self, updates, name=name, run_key=run_key, route=route, state_dir=state_dir,
                         journal=journal)

    def statistics(self) -> dict[str, Any]:
        """The client's, the urgent lane's and the resolver's counters."""
        return {
            "client": self._client.statistics() if self._client else None,
            "inventory": self.inventory.statistics(),
        }

    def __repr__(self) -> str:
        where = self.endpoint.sim_url or self.endpoint.graphql_url
        state = "open" if self._client is not None else "closed"
        tokens = len(self._tokens) if self._tokens else "sim"
        return f"Shop({where!r}, tokens={tokens}, {state})"


class Inventory:
    """``shop.inventory``: urgent inventory changes, micro-batched, one result per change."""

    def __init__(self, shop: Shop) -> None:
        self._shop = shop
        self._lane: UrgentLane | None = None
        self._resolver: InventoryResolver | None = None

    async def __aenter__(self) -> Self:
        client = self._shop.client
        self._resolver = InventoryResolver(client, priority=Lane.URGENT)

        async def send(changes: Sequence[QuantityChange], key: str) -> Mapping[str, Any]:
            return await ops.set_quantities(client, changes, idempotency_key=key, priority=Lane.URGENT)

        lane = UrgentLane(send, config=self._shop.config.urgent, clock=self._shop.clock)
        self._lane = await lane.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            await lane.__aexit__(exc_type, exc, tb)

    async def set(self, changes: Sequence[InventoryChange]) -> list[InventoryResult]:
        """Set available quantities; one :class:`InventoryResult` per change, in the same order.

        A change is an :class:`~bulk.models.InventoryUpdate` or a mapping of its fields
        (``sku`` or ``inventory_item_id``; ``location_name`` or ``location_id``; ``quantity``;
        optional ``change_from`` for compare-and-set). Nothing raises per item: bad input, unknown
        SKUs and the shop's refusals come back as REJECTED (or STALE) with a reason.
        """
        if self._lane is None or self._resolver is None:
            raise RuntimeError("Shop is not open: use 'async with Shop.connect(...) as shop'")
        results: list[InventoryResult | None] = [None] * len(changes)
        valid: list[tuple[int, InventoryUpdate]] = []
        for i, change in enumerate(changes):
            try:
                valid.append((i, _as_update(change, i)))
            except ValidationError as exc:
                reason = "; ".join(e["msg"] for e in exc.errors())
                results[i] = InventoryResult(status=InventoryStatus.REJECTED, reason=reason)
        try:
            resolved: list[QuantityChange | str] = (
                await self._resolver.resolve([u for _, u in valid]) if valid else []
            )
        except ShopifyError as exc:  # a lookup failed (bad token, shop down): every item says why
            resolved = [f"lookup failed: {exc}"] * len(valid)
        futures: list[tuple[int, asyncio.Future[InventoryResult]]] = []
        changes_by_index = dict(valid)
        for (i, update), item in zip(valid, resolved, strict=True):
            if isinstance(item, str):
                results[i] = InventoryResult(
                    status=InventoryStatus.REJECTED,
                    sku=update.sku,
                    inventory_item_id=update.inventory_item_id,
                    location_id=update.location_id,
                    quantity=update.quantity,
                    reason=item,
                )
            else:
                futures.append((i, self._lane.submit(item)))
        for i, future in futures:
            results[i] = replace(await future, sku=changes_by_index[i].sku)
        return [r for r in results if r is not None]

    def statistics(self) -> dict[str, Any]:
        """The urgent lane's and the resolver's counters."""
        return {
            "lane": self._lane.statistics() if self._lane else None,
            "resolver": self._resolver.statistics() if self._resolver else None,
        }

    def __repr__(self) -> str:
        return f"Inventory(lane={self._lane!r}, resolver={self._resolver!r})"


def _as_update(change: InventoryChange, index: int) -> InventoryUpdate:
    if isinstance(change, InventoryUpdate):
        return change
    data = dict(change)
    data.setdefault("source", Source(file="inventory.set", line=index + 1))
    return InventoryUpdate.model_validate(data)


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
