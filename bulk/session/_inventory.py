"""``shop.inventory``: urgent inventory changes — validated, SKUs resolved, micro-batched by the urgent
lane, one result per change (nothing raises per item).

The lane has a client of its own (:func:`urgent_client`): the shop's scheduler (one set of buckets,
one in-flight cap) but its own HTTP connection pool, measured — each grant's wait and each request's
time on the wire go to the change's :class:`~bulk.lanes.urgent.ChangeTiming`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError

from bulk.clock import Clock
from bulk.errors import RunStoppedError, ShopifyError
from bulk.lanes.urgent import (
    ChangeTiming,
    InventoryResult,
    InventoryStatus,
    SendTimes,
    UrgentLane,
    UrgentStatistics,
    add_http,
    add_permit,
)
from bulk.models import InventoryUpdate, Lane, Source
from bulk.shopify import inventory as ops
from bulk.shopify.client import Grant, RetryPolicy, SchedulerLike, ShopifyClient
from bulk.shopify.inventory import QuantityChange
from bulk.shopify.resolve import InventoryResolver, ResolverStatistics
from bulk.shopify.transport import Response, Transport, TransportConfig

if TYPE_CHECKING:
    from bulk.session.shop import Shop

InventoryChange = InventoryUpdate | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class InventoryStatistics:
    """A snapshot of ``shop.inventory``: the urgent lane's counters and the SKU resolver's."""

    lane: UrgentStatistics | None
    resolver: ResolverStatistics | None  # cached SKUs and locations, lookups sent


class Inventory:
    """``shop.inventory``: urgent inventory changes, micro-batched, one result per change."""

    def __init__(self, shop: Shop) -> None:
        self._shop = shop
        self._lane: UrgentLane | None = None
        self._resolver: InventoryResolver | None = None

    async def __aenter__(self) -> Self:
        client = self._shop.urgent_client
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
        if self._resolver is not None:
            await self._resolver.aclose()

    async def set(self, changes: Sequence[InventoryChange]) -> list[InventoryResult]:
        """Set available quantities; one :class:`InventoryResult` per change, in the same order.

        A change is an :class:`~bulk.models.InventoryUpdate` or a mapping of its fields
        (``sku`` or ``inventory_item_id``; ``location_name`` or ``location_id``; ``quantity``;
        optional ``change_from`` for compare-and-set). Nothing raises per item: bad input, unknown
        SKUs, the shop's refusals and no answer within ``UrgentConfig.deadline_s`` (code
        ``DEADLINE``) come back as REJECTED (or STALE) with a reason. A shop that refuses the whole
        run (frozen, locked, every token refused) raises its :class:`~bulk.errors.RunStoppedError`.
        """
        if self._lane is None or self._resolver is None:
            raise RuntimeError("Shop is not open: use 'async with Shop.connect(...) as shop'")
        asked = self._lane.clock.now()  # every change's deadline counts from here, lookups included
        results: list[InventoryResult | None] = [None] * len(changes)
        valid: list[tuple[int, InventoryUpdate]] = []
        for i, change in enumerate(changes):
            try:
                valid.append((i, _as_update(change, i)))
            except ValidationError as exc:
                reason = "; ".join(e["msg"] for e in exc.errors())
                results[i] = InventoryResult(status=InventoryStatus.REJECTED, reason=reason)
        due = asked + self._lane.config.deadline_s
        cached = self._resolver.resolve_cached([u for _, u in valid])
        lookups = SendTimes()  # what the slowest lookup these changes waited for spent (grants, wire)
        try:
            resolved: list[QuantityChange | str] = (
                cached if cached is not None
                else list(await self._lane.before(
                    due, self._resolver.resolve([u for _, u in valid], spent=lookups)))
                if valid else []
            )
        except RunStoppedError:  # the shop refuses every request (frozen, locked, no token left)
            raise
        except ShopifyError as exc:  # a lookup failed (shop down past the budget): every item says why
            resolved = [f"lookup failed: {exc}"] * len(valid)
        except TimeoutError:
            deadline = self._lane.config.deadline_s
            resolved = [f"lookup failed: no answer from the shop within the {deadline:g}s deadline"] \
                * len(valid)
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
                futures.append((i, self._lane.submit(item, since=asked, lookups=lookups)))
        for i, future in futures:
            results[i] = replace(await future, sku=changes_by_index[i].sku)
        return [r for r in results if r is not None]

    def statistics(self) -> InventoryStatistics:
        """The urgent lane's and the resolver's counters (None while the session is closed)."""
        return InventoryStatistics(
            lane=self._lane.statistics() if self._lane else None,
            resolver=self._resolver.statistics() if self._resolver else None)

    def timings(self) -> list[ChangeTiming]:
        """The latest answered changes' timings (where each one's time went), oldest first."""
        return self._lane.timings() if self._lane else []

    def __repr__(self) -> str:
        return f"Inventory(lane={self._lane!r}, resolver={self._resolver!r})"


class _TimedTransport(Transport):
    """The urgent lane's transport: its own connection pool; each request's time on the wire goes to
    the batch being sent (:func:`bulk.lanes.urgent.add_http`)."""

    def __init__(
        self, graphql_url: str, tokens: Sequence[str], *, config: TransportConfig, clock: Clock
    ) -> None:
        super().__init__(graphql_url, tokens, config=config)
        self._clock = clock

    async def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token_index: int,
        timeout_s: float | None = None,
    ) -> Response:
        """:meth:`Transport.execute`, timed."""
        started, request_id = self._clock.now(), None
        try:
            response = await super().execute(document, variables, token_index=token_index,
                                             timeout_s=timeout_s)
            request_id = response.request_id
            return response
        finally:
            add_http(self._clock.now() - started, request_id)


class _TimedScheduler:
    """The shop's scheduler as the urgent client sees it: each grant's wait goes to the batch being
    sent (:func:`bulk.lanes.urgent.add_permit`). Same grants, same order, same cap."""

    def __init__(self, scheduler: SchedulerLike, clock: Clock) -> None:
        self._scheduler = scheduler
        self._clock = clock

    @contextlib.asynccontextmanager
    async def acquire(
        self, *, cost: float, priority: Lane, token_index: int | None = None
    ) -> AsyncIterator[Grant]:
        """:meth:`SchedulerLike.acquire`, timed until the grant comes."""
        started = self._clock.now()
        async with self._scheduler.acquire(cost=cost, priority=priority, token_index=token_index) as grant:
            add_permit(self._clock.now() - started)
            yield grant


def urgent_transport(
    graphql_url: str, tokens: Sequence[str], *, config: TransportConfig, clock: Clock
) -> Transport:
    """The urgent lane's own transport (open it with ``async with``): the bulk lane's requests, however
    many, never hold the connections an urgent change needs."""
    return _TimedTransport(graphql_url, tokens, config=config, clock=clock)


def urgent_client(transport: Transport, scheduler: SchedulerLike, *, retry: RetryPolicy,
                  clock: Clock) -> ShopifyClient:
    """The urgent lane's client: the shop's ``scheduler`` (its buckets and cap), measured."""
    return ShopifyClient(transport, _TimedScheduler(scheduler, clock), retry=retry, clock=clock)


def _as_update(change: InventoryChange, index: int) -> InventoryUpdate:
    if isinstance(change, InventoryUpdate):
        return change
    data = dict(change)
    data.setdefault("source", Source(file="inventory.set", line=index + 1))
    return InventoryUpdate.model_validate(data)
