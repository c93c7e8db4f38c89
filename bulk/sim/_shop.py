""":class:`SimShop` — one simulated shop, served over HTTP on loopback inside the current event loop.

Why an async context manager: the shop owns a listening socket, background bulk-operation tasks and
a clock; ``async with SimShop(config) as shop`` makes their lifetime explicit and leaves nothing
running after the block, which tests and benchmarks rely on.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from bulk.clock import Clock, ScaledClock
from bulk.sim._catalog import Catalog
from bulk.sim._config import SimConfig, parse_sim_url
from bulk.sim._fault_schedule import FaultSchedule
from bulk.sim._fault_specs import limit_style, upload_limit
from bulk.sim._faults import FaultPlan
from bulk.sim._gateway import Gateway, ShopStateLike, token_indexes
from bulk.sim._media import MEDIA_UPLOADED_S, MediaTiming
from bulk.sim._seed import CatalogSeed, seed_from_files
from bulk.sim._server import GRAPHQL_PATH, SimApp
from bulk.sim._stats import InFlight
from bulk.sim._storage import MAX_BULK_UPLOAD_BYTES, UploadPolicy


def _default_state(config: SimConfig, clock: Clock, uploads: UploadPolicy) -> ShopStateLike:
    """The real shop state (``bulk.sim._operations.ShopState``), with the faults that live in it
    (the upload policy's limit, the bulk-operation slots and how they say no).

    Imported here, not at the top: ``bulk.sim._operations`` imports ``bulk.sim`` submodules, and
    ``bulk.sim`` (this facade) must stay importable on its own.
    """
    from bulk.sim._operations import ShopState
    from bulk.sim._ops_bulk import BulkLimit

    style = limit_style(config.fault_specs)
    limit = BulkLimit()
    if style is not None:
        limit = BulkLimit(style=style.style, slots=style.slots or limit.slots)

    state: ShopStateLike = ShopState(
        products=config.products,
        catalog_seed=_seed(config),
        clock=clock,
        bulk_lines_per_s=config.bulk_lines_per_s,
        fault_rate=config.fault_rate,
        bulk_slowdown=config.bulk_slowdown,
        seed=config.seed,
        media_timing=MediaTiming(
            processing_s=config.media_processing_s,
            uploaded_s=min(MEDIA_UPLOADED_S, config.media_processing_s),
            unreachable_hosts=frozenset(config.unreachable),
        ),
        upload_policy=uploads,
        bulk_limit=limit,
    )
    return state


def _seed(config: SimConfig) -> CatalogSeed | None:
    """The products ``config.match``'s files name that the generated catalog lacks."""
    if not config.match:
        return None
    generated = Catalog(config.products)
    return seed_from_files(
        config.match,
        known_sku=lambda sku: generated.variant_by_sku(sku) is not None,
        known_handle=generated.has_handle,
    )


class SimShop:
    """A running simulated shop: ``.url``, ``.graphql_url``, ``.stats()``, ``.state``.

    ``state`` and ``clock`` may be injected (tests use a small fake state and a ManualClock);
    by default the real shop state is built and all time comes from ``ScaledClock(config.speed)``.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        state: ShopStateLike | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.clock: Clock = clock or ScaledClock(self.config.speed)
        self._given_state = state
        self._state: ShopStateLike | None = None
        self._app: SimApp | None = None
        self._runner: web.AppRunner | None = None
        self._url = ""

    @classmethod
    def from_url(cls, url: str) -> SimShop:
        """An embedded shop described by a ``sim://?products=…&plan=…`` URL (see :func:`parse_sim_url`)."""
        return cls(parse_sim_url(url))

    @property
    def state(self) -> ShopStateLike:
        """The shop state (catalog, resolvers, bulk operations, files)."""
        if self._state is None:
            raise RuntimeError("SimShop is not running: use 'async with SimShop(config) as shop'")
        return self._state

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if not self._url:
            raise RuntimeError("SimShop is not running: use 'async with SimShop(config) as shop'")
        return self._url

    @property
    def graphql_url(self) -> str:
        """The Admin GraphQL endpoint URL."""
        return self.url + GRAPHQL_PATH

    @property
    def app(self) -> SimApp:
        """The HTTP front (gateway, in-flight counter, fault plan)."""
        if self._app is None:
            raise RuntimeError("SimShop is not running")
        return self._app

    def stats(self) -> dict[str, Any]:
        """The same document as ``GET /_sim/stats``."""
        return self.app.statistics()

    def statistics(self) -> dict[str, Any]:
        """Alias of :meth:`stats`, the name every stateful part of the project uses."""
        return self.stats()

    async def __aenter__(self) -> SimShop:
        config = self.config
        specs = config.fault_specs
        uploads = UploadPolicy(upload_limit(specs) or MAX_BULK_UPLOAD_BYTES)
        self._state = self._given_state or _default_state(config, self.clock, uploads)
        gateway = Gateway(self._state, plan=config.plan_figures, tokens=len(config.tokens), clock=self.clock)
        # Latency is given in real milliseconds at speed 1; in simulated time it is the same figure,
        # and the ScaledClock shortens the real sleep by ``speed``.
        faults = FaultPlan(
            latency_ms=config.latency_ms,
            fault_rate=config.fault_rate,
            drop_rate=config.drop_rate,
            seed=config.seed,
        )
        self._app = SimApp(
            gateway=gateway,
            files=self._state.files,
            tokens=token_indexes(config.tokens),
            clock=self.clock,
            faults=faults,
            schedule=FaultSchedule(specs, seed=config.seed),
            uploads=uploads,
            inflight=InFlight(config.max_concurrency, self.clock.now()),
            describe={"plan": config.plan_figures.name.lower(), "speed": config.speed},
        )
        self._runner = web.AppRunner(self._app.application(), access_log=None, handle_signals=False)
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, config.host, config.port)
            await site.start()
        except BaseException:
            await self._shutdown()
            raise
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        gateway.base_url = self._url
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._app is not None:
            self._app.closing.set()  # held requests let go, or the runner would wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._app is not None:
            self._app.gateway.close()
        if self._state is not None:
            await self._state.aclose()
        self._url = ""

    def __repr__(self) -> str:
        state = f"url={self._url!r}" if self._url else "stopped"
        return f"SimShop({state}, plan={self.config.plan}, products={self.config.products})"
