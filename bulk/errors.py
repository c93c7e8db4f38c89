"""Every error the project raises, under one base.

```
BulkError
├── ConfigError                 bad option, env var or settings file
├── InputError                  a bad input value: carries file, line, column, reason
├── ShopifyError                anything the shop (real or simulated) answered badly
│   ├── TransientError          retried with back-off within the lane's budget in seconds
│   │   ├── ServerError         HTTP 5xx (status, Retry-After if sent)
│   │   ├── InternalServerError INTERNAL_SERVER_ERROR on HTTP 200 (carries the shop's requestId)
│   │   └── NetworkError        connection refused / dropped / timed out (``maybe_sent``)
│   ├── MaybeAppliedError       a transient fault after sending a request not safe to send twice: not resent
│   ├── ThrottledError          THROTTLED on 200, HTTP 429: wait as the answer says, then resend
│   ├── AuthError               the shop refused a token
│   │   └── TokenRefusedError   401/403/ACCESS_DENIED: that token is out for the run (token_index)
│   ├── RunStoppedError         the whole run must stop (exit 2); ``hint`` says what to do
│   │   ├── ShopUnavailableError 402 frozen, 404 wrong shop/API version, 423 locked, SHOP_INACTIVE
│   │   └── NoTokenLeftError    every token of the shop was refused
│   ├── MaxCostExceededError    MAX_COST_EXCEEDED: the document itself is too expensive (final)
│   ├── GraphQLRequestError     other top-level GraphQL errors (validation, unsupported field…)
│   ├── UserErrorsError         the mutation ran and returned userErrors (per row)
│   ├── LimitReachedError       slots full: LIMIT_REACHED, or the older "already in progress"
│   └── StorageRefusedError     a 4xx from the staged-upload target (its XML Code and Message)
├── SchedulerError
│   ├── PermitLostError         a lease could not be renewed: the holder must abort (self-fencing)
│   └── CoordinationUnavailableError   Redis unreachable: we fail closed
└── JournalError                the journal (SQLite / Postgres) refused or is unreachable
    ├── LeaseLostError          another worker took over a work unit: its old holder must stop
    ├── RunHeldError            another live process is applying this run (pid, host, since)
    └── OutcomeConflictError    a row already has a different final outcome (invariant 5)
```

Errors carry data, not just text, and never an access token. Foreign errors are converted at the
boundary with ``raise … from exc``. What each shop error *means* for a run (retry, wait, take the token
out, stop the run, reject the row) is one table in :mod:`bulk.shopify._policy` and docs/errors.md.
"""

from __future__ import annotations

from typing import Any


class BulkError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(BulkError):
    """A configuration value is missing or wrong."""


class InputError(BulkError):
    """One bad input value, located precisely so a user can fix it.

    ``line`` and ``column`` are 1-based; ``column`` may name a header instead of a number.
    """

    def __init__(self, reason: str, *, file: str, line: int, column: int | str | None = None) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column
        where = f"{file}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {reason}")


class ShopifyError(BulkError):
    """The shop answered with an error. ``token_index`` says which token (0-based), never the token."""

    def __init__(self, message: str, *, token_index: int | None = None) -> None:
        self.token_index = token_index
        super().__init__(message)


class TransientError(ShopifyError):
    """A fault that passes: resent with back-off (same token) until the lane's budget in seconds ends.

    ``retry_after`` is the shop's own pacing (a ``Retry-After`` header) when it sent one.
    """

    def __init__(
        self, message: str, *, token_index: int | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, token_index=token_index)


class ServerError(TransientError):
    """HTTP 5xx from the shop; safe to retry with backoff."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        token_index: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        super().__init__(message, token_index=token_index, retry_after=retry_after)


class InternalServerError(TransientError):
    """HTTP 200 whose ``errors[].extensions.code`` is ``INTERNAL_SERVER_ERROR``: Shopify asks clients
    to retry. ``request_id`` is the shop's ``extensions.requestId`` (quote it to Shopify support)."""

    def __init__(self, message: str, *, request_id: str | None, token_index: int | None = None) -> None:
        self.request_id = request_id
        super().__init__(message, token_index=token_index)


class NetworkError(TransientError):
    """The connection failed, dropped or timed out; safe to retry an idempotent request.

    ``maybe_sent`` is False only when the request cannot have reached the shop (the connection never
    opened); a drop or a timeout after sending may have been applied.
    """

    def __init__(
        self,
        message: str,
        *,
        token_index: int | None = None,
        retry_after: float | None = None,
        maybe_sent: bool = True,
    ) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(message, token_index=token_index, retry_after=retry_after)


class MaybeAppliedError(ShopifyError):
    """A transient fault (a 500/502/504, ``INTERNAL_SERVER_ERROR``, a drop or timeout after sending)
    met a request that is not safe to send twice (an image append, a bulk operation's start): the shop
    may have applied it, and a resend could apply it again, so it is not resent. The caller decides
    (reject the rows and say how to check, or adopt the operation by its ``clientIdentifier``).

    ``fault`` is the transient fault's own text; ``status`` its HTTP status (None for a network fault).
    """

    def __init__(
        self, message: str, *, fault: str, status: int | None = None, token_index: int | None = None
    ) -> None:
        self.fault = fault
        self.status = status
        super().__init__(message, token_index=token_index)


class ThrottledError(ShopifyError):
    """The shop refused the request because the token's bucket could not pay for it.

    ``cost`` is the ``extensions.cost`` object exactly as the shop sent it (``{}`` for HTTP 429);
    ``retry_after`` the ``Retry-After`` header in seconds, when sent. Nothing was applied.
    """

    def __init__(
        self,
        message: str,
        *,
        cost: dict[str, Any],
        token_index: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.cost = cost
        self.retry_after = retry_after
        super().__init__(message, token_index=token_index)


class AuthError(ShopifyError):
    """The shop refused an access token (kept as the base of :class:`TokenRefusedError`)."""


class TokenRefusedError(AuthError):
    """HTTP 401/403 (or ``ACCESS_DENIED``): token ``token_index`` is unknown, revoked or lacks a scope.

    Policy: that token is out for the run; the others carry on (:func:`bulk.scheduler.core.refused`).
    ``status`` is the HTTP status (200 for ``ACCESS_DENIED``); ``shop_message`` the shop's own text.
    """

    def __init__(
        self, message: str, *, token_index: int | None, status: int = 401, shop_message: str = ""
    ) -> None:
        self.status = status
        self.shop_message = shop_message
        super().__init__(message, token_index=token_index)


class RunStoppedError(ShopifyError):
    """The run cannot go on, whatever token or row: stop it cleanly, report, exit 2.

    ``hint`` says what the user can do before running the same command again; the message ends with
    it ("… What to do: …"), so one ``bulk: error:`` line says both.
    """

    def __init__(self, message: str, *, hint: str, token_index: int | None = None) -> None:
        self.hint = hint
        super().__init__(f"{message}. What to do: {hint}", token_index=token_index)


class ShopUnavailableError(RunStoppedError):
    """The shop refused every request: 402 (frozen), 404 (no such shop or API version), 423 (locked),
    or ``SHOP_INACTIVE``. ``cause`` names it (``frozen``, ``not_found``, ``locked``, ``inactive``);
    ``shop_message`` is the body's ``errors`` text (e.g. "This store is unavailable")."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        cause: str,
        shop_message: str,
        hint: str,
        token_index: int | None = None,
    ) -> None:
        self.status = status
        self.cause = cause
        self.shop_message = shop_message
        super().__init__(message, hint=hint, token_index=token_index)


class NoTokenLeftError(RunStoppedError):
    """Every token of the shop was refused (401/403): nothing can be sent. ``refused`` are their
    indexes."""

    def __init__(self, message: str, *, refused: tuple[int, ...], hint: str) -> None:
        self.refused = refused
        super().__init__(message, hint=hint)


class MaxCostExceededError(ShopifyError):
    """The document's requested cost exceeds the single-query maximum the shop announced.

    ``requested_cost`` and ``max_cost`` are the answer's own ``cost`` and ``maxCost`` (``max_cost`` is
    ``None`` when the answer did not say). Final for this request: split it or reject its rows.
    """

    def __init__(
        self,
        message: str,
        *,
        requested_cost: int,
        max_cost: int | None = None,
        token_index: int | None = None,
    ) -> None:
        self.requested_cost = requested_cost
        self.max_cost = max_cost
        super().__init__(message, token_index=token_index)


class GraphQLRequestError(ShopifyError):
    """Top-level GraphQL errors other than throttling: invalid document, unsupported field, …"""

    def __init__(
        self, message: str, *, errors: list[dict[str, Any]], token_index: int | None = None
    ) -> None:
        self.errors = errors
        super().__init__(message, token_index=token_index)


class UserErrorsError(ShopifyError):
    """The mutation ran and reported ``userErrors`` (per-item reasons in ``user_errors``)."""

    def __init__(
        self, message: str, *, user_errors: list[dict[str, Any]], token_index: int | None = None
    ) -> None:
        self.user_errors = user_errors
        super().__init__(message, token_index=token_index)


class LimitReachedError(ShopifyError):
    """The token (app) already runs as many bulk operations as the shop allows: ``LIMIT_REACHED``, or
    the older ``userErrors`` "A bulk mutation operation for this app and shop is already in progress:
    gid://…" without a code. Policy: wait for a running operation to end (``running`` is that
    operation's GID when the answer named it)."""

    def __init__(self, message: str, *, token_index: int | None = None, running: str | None = None) -> None:
        self.running = running
        super().__init__(message, token_index=token_index)


class StorageRefusedError(ShopifyError):
    """The staged-upload target (cloud storage) refused the file with a 4xx: final for that upload.

    ``code`` and ``storage_message`` come from the storage's XML ``<Error>`` (e.g. ``EntityTooLarge``);
    ``max_bytes`` is the size limit of the upload's signed policy, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        storage_message: str | None,
        max_bytes: int | None = None,
        token_index: int | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.storage_message = storage_message
        self.max_bytes = max_bytes
        super().__init__(message, token_index=token_index)


class SchedulerError(BulkError):
    """The scheduler could not grant or keep a permit."""


class PermitLostError(SchedulerError):
    """A permit's lease could not be renewed in time: its holder must abort its request."""


class CoordinationUnavailableError(SchedulerError):
    """The shared coordination store (Redis) is unreachable; we fail closed and send nothing."""


class JournalError(BulkError):
    """The journal could not record or read state."""


class LeaseLostError(JournalError):
    """The holder of a work unit lost it: its lease expired and another worker claimed it (the fence
    moved on), or the unit is no longer in a state the holder may write. The holder must stop working
    on the unit; ``unit_id`` and the stale ``fence`` say which claim this was."""

    def __init__(self, message: str, *, unit_id: int, fence: int) -> None:
        self.unit_id = unit_id
        self.fence = fence
        super().__init__(message)


class RunHeldError(JournalError):
    """Another live process holds run ``run_id`` (:mod:`bulk.submit.runlock`): two processes never work
    one run. ``pid``, ``host`` and ``since`` (epoch seconds) name the holder when it said who it is."""

    def __init__(self, run_id: int, *, pid: int | None, host: str | None, since: float | None,
                 held_by: str) -> None:
        self.run_id = run_id
        self.pid = pid
        self.host = host
        self.since = since
        super().__init__(f"run {run_id} is being applied by another bulk process ({held_by}); wait for it "
                         f"to end (bulk status shows it) or stop it (bulk cancel {run_id})")


class OutcomeConflictError(JournalError):
    """An input row already has a different final outcome: every row ends in exactly one (invariant 5).

    ``file`` and ``line`` name the row; ``existing`` and ``new`` are the two statuses.
    """

    def __init__(self, message: str, *, file: str, line: int, existing: str, new: str) -> None:
        self.file = file
        self.line = line
        self.existing = existing
        self.new = new
        super().__init__(message)
