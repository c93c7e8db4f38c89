"""Turn one HTTP answer of the Admin GraphQL API into data or a typed error (pure; no I/O).

Why a separate pure function: the transport, the vcrpy cassettes and the tests all agree on one table,

=====================================  ==========================================  =========
answer                                 error                                       retried
=====================================  ==========================================  =========
HTTP 401 / 403                         :class:`AuthError`                          no
HTTP 429                               :class:`ThrottledError` (cost ``{}``)       scheduler
HTTP 5xx                               :class:`ServerError`                        tenacity
other HTTP >= 400                      :class:`GraphQLRequestError`                no
``errors[].extensions.code`` THROTTLED :class:`ThrottledError` (with the cost)     scheduler
MAX_COST_EXCEEDED                      :class:`MaxCostExceededError`               no
other top-level ``errors``             :class:`GraphQLRequestError`                no
=====================================  ==========================================  =========

``userErrors`` are per-item results, not a failure of the request: callers read them from ``data``
(see :func:`user_errors`). Messages never contain the token: they are built only from the status,
the shop's error messages and the token *index*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulk.errors import (
    AuthError,
    GraphQLRequestError,
    MaxCostExceededError,
    ServerError,
    ShopifyError,
    ThrottledError,
    UserErrorsError,
)
from bulk.shopify.cost import cost_dict, parse_cost


def error_for_status(status: int, *, token_index: int | None) -> ShopifyError | None:
    """The error an HTTP status means on its own (before the body is read), or ``None`` for 2xx/3xx."""
    if status in (401, 403):
        return AuthError(
            f"HTTP {status}: access token #{token_index} was refused (unknown, revoked or missing scopes)",
            token_index=token_index,
        )
    if status == 429:
        return ThrottledError(f"HTTP 429 on token #{token_index}", cost={}, token_index=token_index)
    if status >= 500:
        return ServerError(f"HTTP {status} from the shop", status=status, token_index=token_index)
    if status >= 400:
        return GraphQLRequestError(
            f"HTTP {status} from the shop", errors=[{"message": f"HTTP {status}"}], token_index=token_index
        )
    return None


def _codes(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    if isinstance(extensions, Mapping):
        code = extensions.get("code")
        return code if isinstance(code, str) else None
    return None


def error_for_payload(payload: Mapping[str, Any], *, token_index: int | None) -> ShopifyError | None:
    """The error a 200 answer's top-level ``errors`` mean, or ``None`` when the request ran."""
    raw_errors = payload.get("errors")
    if not raw_errors:
        return None
    if isinstance(raw_errors, str):  # Shopify's REST-style {"errors": "..."} body
        raw_errors = [{"message": raw_errors}]
    errors = [e if isinstance(e, Mapping) else {"message": str(e)} for e in raw_errors]
    extensions = payload.get("extensions")
    extensions = extensions if isinstance(extensions, Mapping) else None
    codes = [_codes(e) for e in errors]
    if "THROTTLED" in codes:
        return ThrottledError(
            f"THROTTLED on token #{token_index}", cost=cost_dict(extensions), token_index=token_index
        )
    if "MAX_COST_EXCEEDED" in codes:
        # Shopify puts the figure on the error ({"code": …, "cost": 3252, "maxCost": 1000}).
        error_ext = errors[codes.index("MAX_COST_EXCEEDED")].get("extensions")
        cost = parse_cost(extensions)
        raw = error_ext.get("cost") if isinstance(error_ext, Mapping) else None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            requested = int(raw)
        else:
            requested = int(cost.requested) if cost is not None else 0
        return MaxCostExceededError(
            f"MAX_COST_EXCEEDED: the document requests {requested} points (limit 1000)",
            requested_cost=requested,
            token_index=token_index,
        )
    messages = "; ".join(str(e.get("message", "?")) for e in errors)
    return GraphQLRequestError(
        f"GraphQL errors: {messages}", errors=[dict(e) for e in errors], token_index=token_index
    )


def user_errors(data: Mapping[str, Any] | None, field: str) -> list[dict[str, Any]]:
    """The ``userErrors`` list of mutation root ``field`` in ``data`` (``[]`` when none)."""
    if not data:
        return []
    payload = data.get(field)
    if not isinstance(payload, Mapping):
        return []
    found = payload.get("userErrors") or []
    return [dict(e) for e in found if isinstance(e, Mapping)]


def raise_for_user_errors(data: Mapping[str, Any] | None, field: str, *, token_index: int | None) -> None:
    """Raise :class:`UserErrorsError` if mutation ``field`` reported ``userErrors``.

    For control mutations (staged uploads, bulk operations) where any user error fails the step;
    the urgent lane reads inventory ``userErrors`` per item instead.
    """
    found = user_errors(data, field)
    if found:
        messages = "; ".join(str(e.get("message", "?")) for e in found)
        raise UserErrorsError(f"{field}: {messages}", user_errors=found, token_index=token_index)
