"""Every error the project raises, under one base.

```
BulkError
├── ConfigError                 bad option, env var or settings file
├── InputError                  a bad input value: carries file, line, column, reason
├── ShopifyError                anything the shop (real or simulated) answered badly
│   ├── AuthError               401: unknown or revoked token (carries token_index, never the token)
│   ├── ThrottledError          THROTTLED: the bucket could not pay (carries the cost extension)
│   ├── MaxCostExceededError    MAX_COST_EXCEEDED: the document itself is too expensive
│   ├── GraphQLRequestError     other top-level GraphQL errors (validation, unsupported field…)
│   ├── UserErrorsError         the mutation ran and returned userErrors
│   ├── LimitReachedError       LIMIT_REACHED: the app already runs its maximum of bulk operations
│   ├── ServerError             HTTP 5xx
│   └── NetworkError            connection refused / dropped / timed out
├── SchedulerError
│   ├── PermitLostError         a lease could not be renewed: the holder must abort (self-fencing)
│   └── CoordinationUnavailableError   Redis unreachable: we fail closed
└── JournalError                the journal (SQLite / Postgres) refused or is unreachable
    ├── LeaseLostError          another worker took over a work unit: its old holder must stop
    └── OutcomeConflictError    a row already has a different final outcome (invariant 5)
```

Errors carry data, not just text, and never an access token. Foreign errors are converted at the
boundary with ``raise … from exc``.
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


class AuthError(ShopifyError):
    """HTTP 401: the access token is unknown or was revoked."""


class ThrottledError(ShopifyError):
    """The shop refused the request because the token's bucket could not pay for it.

    ``cost`` is the ``extensions.cost`` object exactly as the shop sent it.
    """

    def __init__(self, message: str, *, cost: dict[str, Any], token_index: int | None = None) -> None:
        self.cost = cost
        super().__init__(message, token_index=token_index)


class MaxCostExceededError(ShopifyError):
    """The document's requested cost exceeds the single-query maximum (1000 points)."""

    def __init__(self, message: str, *, requested_cost: int, token_index: int | None = None) -> None:
        self.requested_cost = requested_cost
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
    """The token (app) already runs as many bulk operations as the shop allows (LIMIT_REACHED)."""


class ServerError(ShopifyError):
    """HTTP 5xx from the shop; safe to retry with backoff."""

    def __init__(self, message: str, *, status: int, token_index: int | None = None) -> None:
        self.status = status
        super().__init__(message, token_index=token_index)


class NetworkError(ShopifyError):
    """The connection failed, dropped or timed out; safe to retry an idempotent request."""


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
