"""What the client is handed and hands back: a scheduler's grant, the scheduler as the client sees it,
and the client's counters (apart from :mod:`bulk.shopify.client`, which carries out the policies)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bulk.models import Lane
from bulk.shopify.transport import TransportStatistics

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """A snapshot of one client: requests asked for, tenacity retries, THROTTLED answers, the token
    indexes the shop refused (401/403), the transport's counters and the permits that lost their
    lease before the answer (each sent again, or the request failed)."""

    requests: int
    retried: int
    throttled: int
    refused_tokens: tuple[int, ...]  # sorted
    transport: TransportStatistics
    permits_lost: int = 0


class Grant(Protocol):
    """What the scheduler hands out: a token index and a way to report what the request cost."""

    @property
    def token_index(self) -> int: ...

    async def guard(self, coro: Awaitable[T]) -> T:
        """Run ``coro``; cancel it and raise PermitLostError if the permit's lease is lost."""
        ...

    def settle(self, cost: Mapping[str, Any]) -> None:
        """The request ran: re-sync the token's bucket to ``extensions.cost``."""
        ...

    def throttled(self, cost: Mapping[str, Any]) -> None:
        """The shop answered THROTTLED: re-sync the bucket; the caller re-acquires."""
        ...

    def refused(self) -> None:
        """The shop refused the grant's token (401/403): take it out for the run."""
        ...


class SchedulerLike(Protocol):
    """The part of :class:`bulk.scheduler.Scheduler` this client uses."""

    def acquire(
        self, *, cost: float, priority: Lane, token_index: int | None = None
    ) -> AbstractAsyncContextManager[Grant]: ...
