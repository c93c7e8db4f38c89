"""``Shop``: the library's front door to one shop — its tokens, scheduler, transport and lanes.

Why one object: every request of every lane must share one scheduler and one connection pool per
shop, or the three token buckets would be spent twice. Usage::

    async with bulk.Shop.connect("NAME.myshopify.com", tokens) as shop:
        results = await shop.inventory.set([{"sku": "SKU-1", "location_name": "Main Warehouse",
                                              "quantity": 5, "change_from": 3}])

``shop`` may also be ``sim://?products=1000`` (an embedded simulated shop, started and stopped with
the block). :mod:`bulk.session.scripts` has the same for scripts without an event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from bulk.clock import Clock, MonotonicClock
from bulk.errors import ConfigError
from bulk.lanes.urgent import UrgentConfig
from bulk.session._inventory import Inventory, InventoryStatistics, urgent_client, urgent_transport
from bulk.shopify.client import ClientStatistics, RetryPolicy, SchedulerLike, ShopifyClient
from bulk.shopify.endpoint import parse_shop, parse_tokens
from bulk.shopify.simulated import Simulation, probe
from bulk.shopify.transport import Transport, TransportConfig

if TYPE_CHECKING:
    from bulk.scheduler import Scheduler
    from bulk.session.runs import RunHandle
    from bulk.sources.files import FileInput
    from bulk.sources.readahead import Source as UpdateSource

SchedulerFactory = Callable[[int, float], "Scheduler"]
"""Builds the session's scheduler (unopened) from the token count and the shop's clock speed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShopConfig:
    """Per-shop settings. ``max_in_flight`` is the global cap the scheduler enforces.
    ``urgent_transport``: the urgent lane's own connection pool (docs/urgent-lane.md)."""

    max_in_flight: int = 8
    transport: TransportConfig = field(default_factory=TransportConfig)
    urgent_transport: TransportConfig = field(
        default_factory=lambda: TransportConfig(connection_limit=8, keepalive_s=120.0))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    urgent: UrgentConfig = field(default_factory=UrgentConfig)


@dataclass(frozen=True, slots=True)
class ShopStatistics:
    """A snapshot of one shop session: the client's counters (requests, retries, throttled) and
    ``shop.inventory``'s."""

    client: ClientStatistics | None  # None while the session is closed
    inventory: InventoryStatistics


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
        self._urgent_client: ShopifyClient | None = None
        self._sim: Any = None
        self._simulation: Simulation | None = None
        self.inventory = Inventory(self)  # the urgent lane opens with the session

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
    def urgent_client(self) -> ShopifyClient:
        """The urgent lane's client: the same scheduler as :attr:`client`, its own connections."""
        if self._urgent_client is None:
            raise RuntimeError("Shop is not open: use 'async with Shop.connect(...) as shop'")
        return self._urgent_client

    @property
    def identity(self) -> str:
        """Which shop this session is (:attr:`bulk.shopify.endpoint.Endpoint.identity`): the same for
        every way of writing its address; the catalog cache and run keys are kept per identity."""
        return self.endpoint.identity

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
            # urgent changes get connections of their own: no bulk-lane request can hold theirs
            fast = await stack.enter_async_context(urgent_transport(
                graphql_url, tokens, config=self.config.urgent_transport, clock=self.clock))
            self._urgent_client = urgent_client(fast, scheduler, retry=self.config.retry, clock=self.clock)
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
                                      speed=sim_config.speed, bulk_lines_per_s=sim_config.bulk_lines_per_s,
                                      tokens=len(sim_config.tokens))
        return self._sim.graphql_url, tuple(sim_config.tokens)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)
        self._client = self._urgent_client = None

    def submit(
        self,
        updates: UpdateSource | FileInput,
        *,
        name: str = "library",
        run_key: str | None = None,
        route: Literal["auto", "bulk", "direct"] = "auto",
        state_dir: Path | None = None,
        journal: str | None = None,
        report: Path | None = None,
        undo: Path | None = None,
    ) -> RunHandle:
        """Apply mass changes (prices, descriptions, images; inventory goes to the urgent lane).

        ``updates``: an iterable or async iterable of update models (or of lists of them — a slow
        query's batches), read ahead while earlier batches are planned and sent; or files,
        ``FileInput(paths=(Path("prices.csv"),))`` from :mod:`bulk.sources.files`, read and validated in a
        second process so this one stays responsive. Returns at once with a
        :class:`~bulk.session.runs.RunHandle`: ``progress()``, ``await run.wait()``, ``outcomes()``,
        ``cancel()``. Give ``run_key`` to make a re-submission resume instead of starting again.

        The per-row report and the undo file go to ``report``/``undo``; by default beside the input
        file when ``name`` is its path, but for an embedded simulated shop (``sim://``) never beside
        it: to ``STATE_DIR/reports/`` or a temporary folder, as ``bulk submit`` does
        (``result.report_path`` / ``result.undo_path`` say where)."""
        from bulk.session.runs import start_run

        return start_run(self, updates, name=name, run_key=run_key, route=route, state_dir=state_dir,
                         journal=journal, report=report, undo=undo)

    def statistics(self) -> ShopStatistics:
        """The client's, the urgent lane's and the resolver's counters."""
        return ShopStatistics(client=self._client.statistics() if self._client else None,
                              inventory=self.inventory.statistics())

    def __repr__(self) -> str:
        where = self.endpoint.sim_url or self.endpoint.graphql_url
        state = "open" if self._client is not None else "closed"
        tokens = len(self._tokens) if self._tokens else "sim"
        return f"Shop({where!r}, tokens={tokens}, {state})"
