"""Every request to the shop goes through the scheduler: acquire a grant, send, settle, retry.

Why here and not in the transport: the *decisions* differ by fault. THROTTLED goes back to the
scheduler (``grant.throttled(cost)`` re-syncs its model of that token's bucket, then we queue again at
the same priority, so an urgent request never sleeps a fixed second); 5xx and network faults are
retried by tenacity with jittered exponential backoff *on the same token* inside the same grant (a
mutation is only safe to resend because it carries an ``@idempotent`` key, which the shop scopes per
app); everything else (401, MAX_COST_EXCEEDED, invalid document) is final.
Backoff sleeps on the injected clock, so tests never sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from bulk.clock import Clock, MonotonicClock
from bulk.errors import NetworkError, ServerError, ThrottledError
from bulk.models import Lane
from bulk.shopify.cost import parse_cost
from bulk.shopify.transport import Response, Transport

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class SchedulerLike(Protocol):
    """The part of :class:`bulk.scheduler.Scheduler` this client uses."""

    def acquire(
        self, *, cost: float, priority: Lane, token_index: int | None = None
    ) -> AbstractAsyncContextManager[Grant]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retries for 5xx and network faults (tenacity), and a bound on THROTTLED round trips."""

    attempts: int = 5  # total tries of one request for 5xx / network faults
    backoff_initial_s: float = 0.05  # jittered exponential: random in [0, initial * 2**n], capped
    backoff_max_s: float = 2.0
    max_throttled: int = 50  # THROTTLED answers for one request before giving up (model drift)


class ShopifyClient:
    """Sends documents through a scheduler and a transport with the retry rules above."""

    def __init__(
        self,
        transport: Transport,
        scheduler: SchedulerLike,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.transport = transport
        self.scheduler = scheduler
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or MonotonicClock()
        self._requests = 0
        self._retried = 0
        self._throttled = 0

    async def request(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        cost: float,
        priority: Lane,
        token_index: int | None = None,
    ) -> Response:
        """Send ``document`` at ``priority``, paying ``cost`` points (the estimate the scheduler reserves).

        ``token_index`` pins the request to one token: bulk operations belong to the app that started
        them, so polling or cancelling one must use that app's token; the scheduler then grants only
        on that token's bucket.

        Returns the :class:`Response`; raises the final :class:`~bulk.errors.ShopifyError`.
        """
        self._requests += 1
        throttled = 0
        while True:
            async with self.scheduler.acquire(cost=cost, priority=priority, token_index=token_index) as grant:
                token = grant.token_index
                try:
                    response = await self._send_with_retries(grant, token, document, variables)
                except ThrottledError as exc:  # nothing sent on this grant can have been applied
                    self._throttled += 1
                    throttled += 1
                    if throttled >= self.retry.max_throttled:
                        raise
                    grant.throttled(exc.cost)
                    continue
                grant.settle(response.extensions.get("cost") or {})
                return response

    async def _send_with_retries(
        self, grant: Grant, token: int, document: str, variables: Mapping[str, Any] | None
    ) -> Response:
        """Tenacity for 5xx / network faults, on the grant's token.

        Why the same token: a 502 or a dropped connection may have been applied, and the shop scopes
        ``@idempotent`` keys per app (token); a resend on another token would apply it again (or turn a
        compare-and-set STALE).
        """
        maybe_applied = False
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((ServerError, NetworkError)),
            wait=wait_random_exponential(
                multiplier=self.retry.backoff_initial_s, max=self.retry.backoff_max_s
            ),
            stop=stop_after_attempt(self.retry.attempts),
            sleep=self.clock.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    return await self._send_once(grant, token, document, variables, pinned=maybe_applied)
                except (ServerError, NetworkError):
                    maybe_applied = True
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _wait_affordable(self, exc: ThrottledError) -> None:
        cost = parse_cost({"cost": exc.cost})
        wait = cost.seconds_until_affordable() if cost is not None else 0.0
        await self.clock.sleep(max(wait, self.retry.backoff_initial_s))

    async def _send_once(
        self, grant: Grant, token: int, document: str, variables: Mapping[str, Any] | None, *, pinned: bool
    ) -> Response:
        """One send; when ``pinned`` (an earlier try may have applied) wait out THROTTLED on this token."""
        for _ in range(self.retry.max_throttled):
            try:
                return await grant.guard(self.transport.execute(document, variables, token_index=token))
            except ThrottledError as exc:
                if not pinned:
                    raise
                self._throttled += 1
                await self._wait_affordable(exc)
        raise ThrottledError(
            f"still THROTTLED on token #{token} after {self.retry.max_throttled} waits",
            cost={},
            token_index=token,
        )

    def _log_retry(self, state: Any) -> None:
        self._retried += 1
        error = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "retrying after a transient fault",
            extra={
                "action": "graphql.retry",
                "attempt": state.attempt_number,
                "error": type(error).__name__,
                "token_index": getattr(error, "token_index", None),
            },
        )

    def statistics(self) -> dict[str, Any]:
        """Requests asked for, tenacity retries, THROTTLED round trips, and the transport's counters."""
        return {
            "requests": self._requests,
            "retried": self._retried,
            "throttled": self._throttled,
            "transport": self.transport.statistics(),
        }

    def __repr__(self) -> str:
        return (
            f"ShopifyClient(requests={self._requests}, retried={self._retried}, "
            f"throttled={self._throttled}, {self.transport!r})"
        )
