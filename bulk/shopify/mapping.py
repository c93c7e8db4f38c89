"""Turn one HTTP answer of the Admin GraphQL API into data or a typed error (pure; no I/O).

Why a separate pure function: the transport, the vcrpy cassettes and the tests all agree on one table
(its policies are in :mod:`bulk.shopify._policy`, the full table in docs/errors.md):

=============================================  ==========================================
answer                                         error
=============================================  ==========================================
HTTP 401 / 403                                 :class:`TokenRefusedError`
HTTP 402 / 404 / 423                           :class:`ShopUnavailableError`
HTTP 429 (``Retry-After``)                     :class:`ThrottledError` (cost ``{}``)
HTTP 5xx                                       :class:`ServerError`
other HTTP >= 400                              :class:`GraphQLRequestError`
``errors[].extensions.code`` THROTTLED         :class:`ThrottledError` (with the cost)
INTERNAL_SERVER_ERROR (``requestId``)          :class:`InternalServerError`
ACCESS_DENIED                                  :class:`TokenRefusedError`
SHOP_INACTIVE                                  :class:`ShopUnavailableError`
MAX_COST_EXCEEDED (``cost``, ``maxCost``)      :class:`MaxCostExceededError`
other top-level ``errors``                     :class:`GraphQLRequestError`
=============================================  ==========================================

``userErrors`` are per-item results, not a failure of the request: callers read them from ``data``
(see :func:`user_errors`); a control mutation's ``userErrors`` become :func:`control_error`. Messages
never contain the token: they are built only from the status, the shop's error messages and the token
*index*.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from bulk.errors import (
    GraphQLRequestError,
    InternalServerError,
    LimitReachedError,
    MaxCostExceededError,
    ServerError,
    ShopifyError,
    ShopUnavailableError,
    ThrottledError,
    TokenRefusedError,
    UserErrorsError,
)
from bulk.shopify._cost import cost_dict, cost_of

SHOP_MESSAGE_LIMIT = 300  # characters of the shop's own text kept in a message

# status → (cause, what it means, what to do): Shopify's response-codes page, and the 2018 changelog
# "Admin API requests to locked stores will return a 423 status code instead of 420".
RUN_STOPPERS: dict[int, tuple[str, str, str]] = {
    402: ("frozen", "the shop is frozen (HTTP 402 Payment Required)",
          "the shop owner must log in to the shop's admin and pay the outstanding balance; then run "
          "the same command again"),
    404: ("not_found", "no such shop or API version (HTTP 404)",
          "check --shop (NAME.myshopify.com) and that the shop still exists and serves the Admin API "
          "version this tool speaks; then run the same command again"),
    423: ("locked", "the shop is locked (HTTP 423 Locked)",
          "the shop owner must contact Shopify support to unlock the shop (shops that keep going over "
          "their API limits are locked); then run the same command again"),
}
INACTIVE = ("inactive", "the shop is not active (SHOP_INACTIVE)",
            "the shop owner must reactivate the shop (Shopify deactivates shops that repeatedly exceed "
            "API limits or for fraud risk); then run the same command again")
_IN_PROGRESS = re.compile(r"already in progress", re.IGNORECASE)
_GID = re.compile(r"gid://shopify/BulkOperation/\d+")


def shop_text(body: bytes | str | None) -> str:
    """The shop's own explanation in an error body: its ``errors`` (a string, a list of messages or
    an object of lists, as the REST-style answers have it), else the body's text; shortened."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, Mapping) and "errors" in parsed:
        text = _flatten(parsed["errors"])
    text = " ".join(text.split())
    return text if len(text) <= SHOP_MESSAGE_LIMIT else text[: SHOP_MESSAGE_LIMIT - 1] + "…"


def _flatten(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(_flatten(e) for e in errors)
    if isinstance(errors, Mapping):
        if "message" in errors:
            return str(errors["message"])
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in errors.items())
    return str(errors)


def error_for_status(
    status: int,
    *,
    token_index: int | None,
    body: bytes | str | None = None,
    retry_after: float | None = None,
) -> ShopifyError | None:
    """The error an HTTP status means (with the body's ``errors`` text and the ``Retry-After``
    seconds when the answer had them), or ``None`` for 2xx/3xx."""
    said = shop_text(body)
    quoted = f": {said!r}" if said else ""
    if status in (401, 403):
        what = "unknown or revoked" if status == 401 else "lacks a scope this run needs"
        return TokenRefusedError(
            f"HTTP {status}: access token #{token_index} was refused ({what}){quoted}",
            token_index=token_index, status=status, shop_message=said,
        )
    if status in RUN_STOPPERS:
        cause, meaning, hint = RUN_STOPPERS[status]
        return ShopUnavailableError(
            f"{meaning}{quoted}",
            status=status, cause=cause, shop_message=said, hint=hint, token_index=token_index,
        )
    if status == 429:
        wait = f" (Retry-After {retry_after:g}s)" if retry_after is not None else ""
        return ThrottledError(
            f"HTTP 429 on token #{token_index}{wait}", cost=_body_cost(body), token_index=token_index,
            retry_after=retry_after,
        )
    if status >= 500:
        return ServerError(
            f"HTTP {status} from the shop{quoted}", status=status, token_index=token_index,
            retry_after=retry_after,
        )
    if status >= 400:
        return GraphQLRequestError(
            f"HTTP {status} from the shop{quoted}",
            errors=[{"message": said or f"HTTP {status}"}],
            token_index=token_index,
        )
    return None


def _body_cost(body: bytes | str | None) -> dict[str, Any]:
    """``extensions.cost`` of a failed answer's body when it is GraphQL JSON carrying one, else ``{}``."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return {}
    extensions = parsed.get("extensions") if isinstance(parsed, Mapping) else None
    return cost_dict(extensions if isinstance(extensions, Mapping) else None)


def _code(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    if isinstance(extensions, Mapping):
        code = extensions.get("code")
        return code if isinstance(code, str) else None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return int(value)
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
    codes = [_code(e) for e in errors]
    messages = "; ".join(str(e.get("message", "?")) for e in errors)
    if "THROTTLED" in codes:
        return ThrottledError(
            f"THROTTLED on token #{token_index}", cost=cost_dict(extensions), token_index=token_index
        )
    if "ACCESS_DENIED" in codes:
        return TokenRefusedError(
            f"ACCESS_DENIED: access token #{token_index} was refused: {messages}",
            token_index=token_index, status=200, shop_message=messages,
        )
    if "SHOP_INACTIVE" in codes:
        cause, meaning, hint = INACTIVE
        return ShopUnavailableError(
            f"{meaning}: {messages!r}",
            status=200, cause=cause, shop_message=messages, hint=hint, token_index=token_index,
        )
    if "MAX_COST_EXCEEDED" in codes:
        return _max_cost(errors[codes.index("MAX_COST_EXCEEDED")], extensions, token_index)
    if "INTERNAL_SERVER_ERROR" in codes:
        error_ext = errors[codes.index("INTERNAL_SERVER_ERROR")].get("extensions")
        request_id = error_ext.get("requestId") if isinstance(error_ext, Mapping) else None
        rid = str(request_id) if request_id is not None else None
        return InternalServerError(
            f"INTERNAL_SERVER_ERROR from the shop (requestId {rid or 'not given'})",
            request_id=rid, token_index=token_index,
        )
    return GraphQLRequestError(
        f"GraphQL errors: {messages}", errors=[dict(e) for e in errors], token_index=token_index
    )


def _max_cost(
    error: Mapping[str, Any], extensions: Mapping[str, Any] | None, token_index: int | None
) -> MaxCostExceededError:
    """Shopify puts the figures on the error: ``{"code": …, "cost": 2003, "maxCost": 1000}``."""
    error_ext = error.get("extensions")
    error_ext = error_ext if isinstance(error_ext, Mapping) else {}
    requested = _int(error_ext.get("cost"))
    if requested is None:
        report = cost_of(extensions)
        requested = int(report.requested) if report is not None and report.requested is not None else 0
    maximum = _int(error_ext.get("maxCost"))
    limit = f"the shop allows {maximum}" if maximum is not None else "over the shop's single-query maximum"
    return MaxCostExceededError(
        f"MAX_COST_EXCEEDED: the document requests {requested} points, {limit}",
        requested_cost=requested, max_cost=maximum, token_index=token_index,
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


def control_error(
    found: list[dict[str, Any]], field: str, *, token_index: int | None
) -> ShopifyError | None:
    """The error a control mutation's ``userErrors`` mean (``None`` when empty).

    Slots full has two documented shapes, one class: ``code: LIMIT_REACHED`` (API 2026-01 on, up to
    five operations per app and shop), and the older message "A bulk mutation operation for this app
    and shop is already in progress: gid://shopify/BulkOperation/…" with no code.
    """
    if not found:
        return None
    messages = "; ".join(str(e.get("message", "?")) for e in found)
    for e in found:
        message = str(e.get("message", ""))
        if e.get("code") == "LIMIT_REACHED" or _IN_PROGRESS.search(message):
            running = _GID.search(message)
            return LimitReachedError(
                f"{field}: every bulk operation slot of token #{token_index} is busy: {message}",
                token_index=token_index, running=running.group(0) if running else None,
            )
    return UserErrorsError(f"{field}: {messages}", user_errors=found, token_index=token_index)


def raise_for_user_errors(data: Mapping[str, Any] | None, field: str, *, token_index: int | None) -> None:
    """Raise :func:`control_error` if mutation ``field`` reported ``userErrors``.

    For control mutations (staged uploads, bulk operations) where any user error fails the step;
    the urgent lane reads inventory ``userErrors`` per item instead.
    """
    error = control_error(user_errors(data, field), field, token_index=token_index)
    if error is not None:
        raise error
