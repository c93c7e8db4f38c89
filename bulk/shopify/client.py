"""Every request to the shop goes through the scheduler: acquire a grant, send, settle, retry.

Why here and not in the transport: the *decisions* differ by fault, and each one is a row of
:mod:`bulk.shopify._policy` (docs/errors.md):

- transient (5xx, ``INTERNAL_SERVER_ERROR`` on 200, network faults, timeouts): retried by tenacity
  *on the same token* inside the same grant, with exponential back-off and jitter, never sooner than
  the answer's ``Retry-After``, until the lane's budget in *seconds* is spent, when a second send
  cannot apply anything twice (:mod:`bulk.shopify._resend`: a 503 or unopened connection ran nothing;
  a query, an ``@idempotent`` key — scoped per app — or a mutation that sets values is safe twice);
  else (an image append, ``bulkOperationRunMutation``, after a 502 or a drop) it raises at once
  :class:`~bulk.errors.MaybeAppliedError`, for the caller to check the shop;
- pacing (THROTTLED, 429): the grant reports the answer's cost (the model re-syncs), the request waits
  :func:`~bulk.shopify._policy.throttle_wait` — the longest of ``Retry-After``, the answer's own refill
  time and an exponential back-off — *outside* the grant, then queues again asking the scheduler for
  the answer's ``requestedQueryCost`` (not our lower estimate) at the same priority, until the lane's
  pacing budget is spent;
- a refused token (401/403): the grant reports it, the scheduler takes the token out for the run
  (:func:`bulk.scheduler.core.refused`) and the request goes again on another token; none left
  → :class:`~bulk.errors.NoTokenLeftError`;
- a permit that lost its lease before the answer: again with a fresh permit when that cannot apply
  anything twice (:mod:`bulk.shopify._permits`: never sent; or safe to send twice by the same rule,
  then on the same token), at most a few times; else the :class:`~bulk.errors.PermitLostError` stands;
- everything else (402/404/423, MAX_COST_EXCEEDED, invalid document) is final for the request.

Every wait sleeps on the injected clock, so tests never sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from bulk.clock import Clock, MonotonicClock
from bulk.errors import NoTokenLeftError, PermitLostError, ThrottledError, TokenRefusedError, TransientError
from bulk.models import Lane
from bulk.shopify._grant import ClientStatistics, Grant, SchedulerLike
from bulk.shopify._permits import after_permit_lost
from bulk.shopify._policy import LaneBudget, RetryPolicy, requested_cost, throttle_wait
from bulk.shopify._resend import not_resent, resend_after
from bulk.shopify.transport import Response, Transport

log = logging.getLogger(__name__)

__all__ = ["ClientStatistics", "Grant", "RetryPolicy", "SchedulerLike", "ShopifyClient"]

NO_TOKEN_HINT = (
    "give the run valid Admin API access tokens (--tokens or SHOPIFY_ACCESS_TOKENS) with the scopes it "
    "needs; then run the same command again"
)


@dataclass(slots=True)
class _Sent:
    """What the tries of one grant did: whether one may have been applied (a transient fault), and
    whether one started sending (a permit lost from then on may have been lost mid-request)."""

    maybe_applied: bool = False
    started: bool = False


def _answer_pacing(state: RetryCallState) -> float:
    """A tenacity wait: the failed answer's own ``Retry-After`` (0 when it sent none)."""
    error = state.outcome.exception() if state.outcome is not None else None
    pacing = getattr(error, "retry_after", None)
    return float(pacing) if isinstance(pacing, int | float) else 0.0


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
        self._refused: dict[int, int] = {}  # token index → the HTTP status that refused it
        self._permits_lost = 0

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
        budget = self.retry.for_lane(priority)
        started = self.clock.now()
        throttled = lost = 0
        ask = float(cost)
        pin = token_index  # the token every try must use (a permit lost mid-request binds it too)
        while True:
            self._check_tokens(pin)
            async with self.scheduler.acquire(cost=ask, priority=priority, token_index=pin) as grant:
                token = grant.token_index
                sent = _Sent()
                try:
                    response = await self._send_with_retries(grant, token, document, variables, budget, sent)
                except ThrottledError as exc:  # nothing sent on this grant can have been applied
                    grant.throttled(exc.cost)
                    throttle = exc
                except PermitLostError:
                    lost += 1
                    self._permits_lost += 1
                    again = after_permit_lost(losses=lost, maybe_sent=sent.started or sent.maybe_applied,
                                              document=document, token=token, pinned=pin, variables=variables)
                    if again is None:
                        raise
                    log.info("permit lost before the answer: again with a fresh permit",
                             extra={"action": "graphql.permit_lost", "token_index": token, "attempt": lost,
                                    "pinned": again.pin})
                    pin = again.pin
                    continue
                except TokenRefusedError as exc:
                    grant.refused()
                    self._refused[token] = exc.status
                    log.warning(
                        "access token refused: out for the run",
                        extra={"action": "token.refused", "token_index": token},
                    )
                    if pin is not None or sent.maybe_applied:
                        # a bulk operation's call belongs to its app; and a request an earlier try may
                        # have applied must not go again on another app (idempotency keys are per app)
                        raise
                    continue  # a 401/403 was not applied: again on another token (none left: stop)
                else:
                    grant.settle(response.extensions.get("cost") or {})
                    return response
            # Outside the grant: a waiting request must not hold a permit of the in-flight cap.
            self._throttled += 1
            throttled += 1
            wait = throttle_wait(throttle, throttled, budget)
            spent = self.clock.now() - started
            if spent + wait > budget.pacing_s:
                raise ThrottledError(
                    f"still THROTTLED on token #{throttle.token_index} after {throttled} answers in "
                    f"{spent:.1f}s (the lane's pacing budget is {budget.pacing_s:g}s)",
                    cost=throttle.cost, token_index=throttle.token_index, retry_after=throttle.retry_after,
                ) from None
            ask = requested_cost(throttle, ask)
            log.info(
                "throttled: waiting before resending",
                extra={"action": "graphql.throttled", "token_index": throttle.token_index,
                       "wait_s": round(wait, 3), "attempt": throttled, "cost": ask},
            )
            await self.clock.sleep(wait)

    def _check_tokens(self, pinned: int | None) -> None:
        """Fail before asking the scheduler when no token this request may use is left."""
        if pinned is not None and pinned in self._refused:
            raise TokenRefusedError(
                f"access token #{pinned} was refused earlier in this run", token_index=pinned,
                status=self._refused[pinned],
            )
        if len(self._refused) >= self.transport.token_count:
            refused = tuple(sorted(self._refused))
            which = ", ".join(f"#{i}: HTTP {self._refused[i]}" for i in refused)
            raise NoTokenLeftError(
                f"every access token was refused by the shop ({which})", refused=refused, hint=NO_TOKEN_HINT
            )

    async def _send_with_retries(
        self,
        grant: Grant,
        token: int,
        document: str,
        variables: Mapping[str, Any] | None,
        budget: LaneBudget,
        sent: _Sent,
    ) -> Response:
        """Tenacity for transient faults, on the grant's token, within ``budget.transient_s``.

        Why the same token: a 502 or a dropped connection may have been applied, and the shop scopes
        ``@idempotent`` keys per app (token); a resend on another token would apply it again (or turn a
        compare-and-set STALE). Such a fault on a request not safe to send twice is not retried at all
        (:class:`~bulk.errors.MaybeAppliedError`). No retry starts whose back-off would end past the
        budget.
        """
        start = self.clock.now()

        def over_budget(state: RetryCallState) -> bool:
            return self.clock.now() - start + (state.upcoming_sleep or 0.0) > budget.transient_s

        def longest(state: RetryCallState) -> float:
            return max(backoff(state), _answer_pacing(state))

        backoff = wait_exponential_jitter(
            multiplier=budget.backoff_initial_s, max=budget.backoff_max_s, jitter=budget.jitter_s
        )
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=longest,
            stop=over_budget,
            sleep=self.clock.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    return await self._send_once(grant, token, document, variables, budget, sent)
                except TransientError as exc:
                    sent.maybe_applied = True
                    if not resend_after(exc, document, variables):  # may have applied: never twice
                        raise not_resent(exc, token) from exc
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _send_once(
        self,
        grant: Grant,
        token: int,
        document: str,
        variables: Mapping[str, Any] | None,
        budget: LaneBudget,
        sent: _Sent,
    ) -> Response:
        """One send; when an earlier try may have applied (``sent.maybe_applied``) wait out THROTTLED
        on this token, by the same waits and pacing budget as an unpinned request."""
        throttled = 0
        started = self.clock.now()
        pinned = sent.maybe_applied

        async def execute() -> Response:
            sent.started = True  # from its first step on, the request may reach the shop
            return await self.transport.execute(document, variables, token_index=token,
                                                timeout_s=budget.timeout_s)

        while True:
            try:
                return await grant.guard(execute())
            except ThrottledError as exc:
                if not pinned:
                    raise
                self._throttled += 1
                throttled += 1
                wait = throttle_wait(exc, throttled, budget)
                if self.clock.now() - started + wait > budget.pacing_s:
                    raise
                await self.clock.sleep(wait)

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

    def statistics(self) -> ClientStatistics:
        """Requests asked for, tenacity retries, THROTTLED answers, refused tokens, the transport's
        counters."""
        return ClientStatistics(
            requests=self._requests,
            retried=self._retried,
            throttled=self._throttled,
            refused_tokens=tuple(sorted(self._refused)),
            transport=self.transport.statistics(),
            permits_lost=self._permits_lost,
        )

    def __repr__(self) -> str:
        return (
            f"ShopifyClient(requests={self._requests}, retried={self._retried}, "
            f"throttled={self._throttled}, refused_tokens={sorted(self._refused)}, {self.transport!r})"
        )
