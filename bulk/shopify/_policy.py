"""Every answer Shopify documents → one error class → one policy: the table, and the pure waits.

Why one table: the transport turns answers into classes (:mod:`bulk.shopify.mapping`), the client
carries out the retry and pacing policies (:mod:`bulk.shopify.client`), and the lanes and the CLI
decide what a stop means for a run; all of them, and docs/errors.md, read the same rows here, so an
answer cannot be retried by one part and final for another (design invariant 8: no answer is retried
without waiting, none ends in a traceback).

Everything here is pure: :func:`throttle_wait` is a function of the answer and the attempt number
(the transient back-off is tenacity's, built in :mod:`bulk.shopify.client` from the same budget).
Budgets are in *seconds*, per lane (:class:`LaneBudget`): an urgent inventory change must have its
answer within its deadline, a bulk run can wait out a Shopify blip of a minute.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from bulk.errors import (
    GraphQLRequestError,
    InternalServerError,
    LimitReachedError,
    MaxCostExceededError,
    MaybeAppliedError,
    NetworkError,
    NoTokenLeftError,
    ServerError,
    ShopifyError,
    ShopUnavailableError,
    StorageRefusedError,
    ThrottledError,
    TokenRefusedError,
    UserErrorsError,
)
from bulk.models import Lane
from bulk.scheduler.core import CostReport, parse_cost, seconds_until_affordable


class Action(enum.StrEnum):
    """What the caller does with an error."""

    RETRY = "retry"  # resend on the same token with back-off, within the lane's budget in seconds
    PACE = "pace"  # wait as long as the answer says (throttle_wait), then resend through the scheduler
    REJECT_ROW = "reject_row"  # the rows the request carried are rejected with the shop's reason
    DROP_TOKEN = "drop_token"  # this token is out for the run; the others carry on
    STOP_RUN = "stop_run"  # stop the run: report what is decided, exit 2, resume when fixed
    FAIL_REQUEST = "fail_request"  # final for this request: split it, or reject its rows
    WAIT_SLOT = "wait_slot"  # every bulk-operation slot of the app is busy: wait for one to end
    FAIL_UPLOAD = "fail_upload"  # final for this upload (cut smaller on EntityTooLarge), reason kept
    CHECK_SHOP = "check_shop"  # may have been applied and not safe to send twice: look, never resend


@dataclass(frozen=True, slots=True)
class Cause:
    """One row of the table: an answer, its class, its policy, and what the user sees."""

    answer: str
    error: type[ShopifyError]
    action: Action
    user_sees: str


CAUSES: tuple[Cause, ...] = (
    Cause("HTTP 5xx (500, 502, 503, 504…)", ServerError, Action.RETRY,
          "nothing unless the lane's budget runs out; then the request's rows are rejected "
          "(\"HTTP 503 from the shop\")"),
    Cause("HTTP 200 with errors[].extensions.code INTERNAL_SERVER_ERROR (and a requestId)",
          InternalServerError, Action.RETRY,
          "nothing unless the budget runs out; then the reason quotes the shop's requestId"),
    Cause("connection refused, dropped, or no answer within the lane's timeout", NetworkError,
          Action.RETRY, "nothing unless the budget runs out; then \"network fault talking to the shop\""),
    Cause("a 500/502/504, INTERNAL_SERVER_ERROR, or a connection dropped or timed out after sending, to a "
          "mutation not safe to send twice (an image append, bulkOperationRunMutation)", MaybeAppliedError,
          Action.CHECK_SHOP, "an image row rejected: check the product, or send its image set in replace "
                             "mode; a bulk shard's next attempt adopts the operation it started"),
    Cause("HTTP 200 with errors[].extensions.code THROTTLED, or HTTP 429 (Retry-After)", ThrottledError,
          Action.PACE, "a slower run; only a shop throttling for longer than the lane's pacing budget "
                       "fails the request"),
    Cause("HTTP 401, HTTP 403, or errors[].extensions.code ACCESS_DENIED", TokenRefusedError,
          Action.DROP_TOKEN, "\"access token #N was refused\"; the run carries on with the other tokens"),
    Cause("every token refused", NoTokenLeftError, Action.STOP_RUN,
          "\"bulk: error: every access token was refused\" and which ones; exit 2"),
    Cause("HTTP 402 (frozen), 404 (wrong shop or API version), 423 (locked), or SHOP_INACTIVE",
          ShopUnavailableError, Action.STOP_RUN,
          "\"bulk: error:\" the cause, the shop's own text and what to do; exit 2"),
    Cause("errors[].extensions.code MAX_COST_EXCEEDED (cost, maxCost)", MaxCostExceededError,
          Action.FAIL_REQUEST, "the request's rows rejected: \"requests N points, the shop allows M\""),
    Cause("other top-level errors (invalid document, unknown field, HTTP 400/422…)", GraphQLRequestError,
          Action.FAIL_REQUEST, "the request's rows rejected with the shop's messages"),
    Cause("userErrors of a mutation (per item)", UserErrorsError, Action.REJECT_ROW,
          "that row rejected with the shop's message"),
    Cause("userErrors LIMIT_REACHED, or \"… already in progress: gid://…\" without a code",
          LimitReachedError, Action.WAIT_SLOT, "nothing: the shard waits for a free slot"),
    Cause("staged-upload target answers 4xx (XML <Code>, e.g. EntityTooLarge)", StorageRefusedError,
          Action.FAIL_UPLOAD, "the rows of that upload rejected with the storage's code and message"),
)


def action_for(error: BaseException) -> Action | None:
    """The policy of ``error`` (the most specific class in :data:`CAUSES`), ``None`` if not a shop
    error. A :class:`ShopifyError` no row names is final for its request."""
    for klass in type(error).__mro__:
        for cause in CAUSES:
            if cause.error is klass:
                return cause.action
    return Action.FAIL_REQUEST if isinstance(error, ShopifyError) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneBudget:
    """How long one lane keeps trying, in seconds.

    ``transient_s`` bounds the retries of one request after 5xx / INTERNAL_SERVER_ERROR / network
    faults (no retry starts whose wait would end past it); ``pacing_s`` bounds the time one request
    spends waiting out THROTTLED / 429; ``timeout_s`` is how long one attempt may take.
    """

    transient_s: float
    pacing_s: float
    timeout_s: float
    backoff_initial_s: float  # first transient back-off; doubles per attempt, plus jitter
    backoff_max_s: float
    jitter_s: float
    pace_initial_s: float  # floor of a THROTTLED wait; doubles per THROTTLED answer of one request
    pace_max_s: float

    def __post_init__(self) -> None:
        for name in ("transient_s", "pacing_s", "timeout_s", "backoff_initial_s", "backoff_max_s",
                     "pace_initial_s", "pace_max_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")


# Urgent: an inventory change must have its answer within its deadline (10 s by default), so every
# figure is small; a hung answer costs one 4 s timeout, not 5 × 30 s.
URGENT_BUDGET = LaneBudget(transient_s=8.0, pacing_s=8.0, timeout_s=4.0, backoff_initial_s=0.1,
                           backoff_max_s=1.0, jitter_s=0.1, pace_initial_s=0.25, pace_max_s=2.0)
# Direct route: a blip of half a minute is survived.
NORMAL_BUDGET = LaneBudget(transient_s=60.0, pacing_s=300.0, timeout_s=30.0, backoff_initial_s=0.25,
                           backoff_max_s=8.0, jitter_s=0.25, pace_initial_s=0.5, pace_max_s=10.0)
# Bulk lane control calls: nothing waits on them but the run itself.
BULK_BUDGET = LaneBudget(transient_s=120.0, pacing_s=600.0, timeout_s=30.0, backoff_initial_s=0.5,
                         backoff_max_s=15.0, jitter_s=0.5, pace_initial_s=0.5, pace_max_s=15.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """The budgets of each lane (frozen, keyword-only). ``for_lane`` picks one."""

    urgent: LaneBudget = field(default=URGENT_BUDGET)
    normal: LaneBudget = field(default=NORMAL_BUDGET)
    bulk: LaneBudget = field(default=BULK_BUDGET)

    def for_lane(self, lane: Lane | int) -> LaneBudget:
        """The budget of ``lane`` (a priority number past BULK counts as BULK)."""
        if lane <= Lane.URGENT:
            return self.urgent
        return self.normal if lane == Lane.NORMAL else self.bulk


def parse_retry_after(value: str | None, *, now_epoch: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds (Shopify sends ``2.0``) or an HTTP
    date (``now_epoch`` is needed to read one). ``None`` if absent or unreadable; never negative."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        if now_epoch is None:
            return None
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now_epoch
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def throttle_wait(error: ThrottledError, attempt: int, budget: LaneBudget) -> float:
    """Seconds to wait before resending a request the shop throttled, for the ``attempt``-th
    THROTTLED answer of that request (1-based): the longest of

    - the answer's ``Retry-After`` (HTTP 429),
    - ``(requestedQueryCost - currentlyAvailable) / restoreRate`` from the answer's cost,
    - an exponential back-off ``pace_initial_s * 2**(attempt - 1)``, capped at ``pace_max_s``.

    Never 0: a throttled request is never resent at once (Shopify locks shops that keep going over
    their limits). Deterministic, so tests can count the attempts a throttling window allows.
    """
    report = parse_cost(error.cost)
    refill = seconds_until_affordable(report) if report is not None else 0.0
    backoff = min(budget.pace_max_s, budget.pace_initial_s * 2.0 ** max(0, attempt - 1))
    return max(error.retry_after or 0.0, refill, backoff)


def requested_cost(error: ThrottledError, estimate: float) -> float:
    """The cost to ask the scheduler for when resending a throttled request: the answer's
    ``requestedQueryCost`` when it is higher than our estimate (the model must be debited with what
    the shop will charge, or it admits our low estimate at once and is throttled again)."""
    report: CostReport | None = parse_cost(error.cost)
    if report is None or report.requested is None:
        return estimate
    return max(estimate, report.requested)
