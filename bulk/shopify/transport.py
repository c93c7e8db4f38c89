"""One HTTP connection pool per shop, speaking Admin GraphQL with any of the shop's access tokens.

Why this shape: gql's :class:`~gql.transport.aiohttp.AIOHTTPTransport` owns one aiohttp session (one
pool of keep-alive connections) and the token travels per request in ``X-Shopify-Access-Token``, so
three tokens share one pool instead of opening three. :meth:`Transport.execute` sends exactly one request
and converts every answer or fault into data or a typed error of :mod:`bulk.errors` (the table is in
:mod:`bulk.shopify.mapping`, the policies in :mod:`bulk.shopify._policy`); it never retries: retrying is
the caller's decision (see :mod:`bulk.shopify.client`). A failed status's body (its ``errors`` text,
e.g. "This store is unavailable") and its ``Retry-After`` are read into the error. An answer's
``X-Request-Id`` (the id Shopify support asks for) is kept on its :class:`Response`.

Tokens live only in this object's private list and in the outgoing header. They are not in its repr,
its statistics, its log records or any error it raises (errors carry the token *index*).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp
from gql import GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportConnectionFailed, TransportError, TransportProtocolError
from graphql import DocumentNode, parse, print_ast

from bulk.errors import ConfigError, NetworkError, ShopifyError
from bulk.shopify import documents
from bulk.shopify._cost import CostReport, cost_of
from bulk.shopify._policy import parse_retry_after
from bulk.shopify.mapping import error_for_payload, error_for_status

log = logging.getLogger(__name__)

API_VERSION = "2026-04"
TOKEN_HEADER = "X-Shopify-Access-Token"
REQUEST_ID_HEADER = "X-Request-Id"
ERROR_BODY_LIMIT = 64 * 1024  # bytes of a failed answer's body read for its message


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportConfig:
    """How requests are sent. ``timeout_s`` bounds one whole request (connect + answer) unless the
    caller gives its own (the urgent lane's is shorter: see :class:`bulk.shopify._policy.LaneBudget`)."""

    timeout_s: float = 30.0
    connection_limit: int = 32  # keep-alive connections in the pool (the shop caps concurrency too)
    keepalive_s: float = 15.0  # an idle connection is closed after this long (aiohttp's default)
    user_agent: str = "shopify-bulk/0.1"


@dataclass(frozen=True, slots=True)
class TransportStatistics:
    """A snapshot of one transport's counters (never a token: only how many there are)."""

    sent: int  # requests that ran (an answer came back, whatever it said)
    failed: dict[str, int]  # error type name -> count
    in_flight: int
    peak_in_flight: int
    tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A request that ran: its ``data``, its ``extensions`` and the parsed cost."""

    data: dict[str, Any]
    extensions: dict[str, Any]
    cost: CostReport | None
    token_index: int
    request_id: str | None = None  # the answer's X-Request-Id: the shop's name for this request


async def _keep_request_id(
    _session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
) -> None:
    """Note an answer's ``X-Request-Id`` in the dict its send passed as ``trace_request_ctx``: one
    per request, so concurrent sends on the one session never see each other's (gql's own
    ``response_headers`` is the session's latest)."""
    kept = context.trace_request_ctx
    if isinstance(kept, dict):
        kept["id"] = params.response.headers.get(REQUEST_ID_HEADER)


class _HttpStatus(Exception):
    """Raised inside aiohttp by the status hook so gql never parses a failed status's body as
    GraphQL; carries what the mapping needs (the body's start and the ``Retry-After`` seconds)."""

    def __init__(self, status: int, body: bytes, retry_after: float | None) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}")


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status >= 400:
        try:
            body = await response.content.read(ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_epoch=time.time())
        raise _HttpStatus(response.status, body, retry_after)


def _request_ids() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_keep_request_id)
    return trace


@functools.lru_cache(maxsize=256)
def _parsed(document: str) -> DocumentNode:
    return parse(document)


@functools.lru_cache(maxsize=256)
def _printed(document: str) -> str:
    return print_ast(_parsed(document))


def _prepare_shipped() -> None:
    """Parse and print every document the project ships, once per process (~60 ms here). Why at
    open, in a thread: done at a document's first send it sat on the event loop — the urgent lane's
    first burst met 75–100 ms of it while the planner's thread wanted the GIL too."""
    for document in documents.all_documents().values():
        _printed(document)


class _Request(GraphQLRequest):
    """A request whose query text is printed once per document. Why: gql prints the document's
    AST again on every send (~1 ms of CPU, several on a loaded box), and that time sits between the
    permit and the wire: a slot of the shop's in-flight cap stays empty meanwhile."""

    def __init__(self, document: str, variables: dict[str, Any]) -> None:
        super().__init__(_parsed(document), variable_values=variables)
        self._query = _printed(document)

    @property
    def payload(self) -> dict[str, Any]:
        """What gql posts: the same body as its own (query, variables), without printing again."""
        payload: dict[str, Any] = {"query": self._query}
        if self.variable_values:
            payload["variables"] = self.variable_values
        return payload


class Transport:
    """Sends GraphQL requests to one shop's ``graphql.json`` with a chosen token (by index)."""

    def __init__(
        self, graphql_url: str, tokens: Sequence[str], *, config: TransportConfig | None = None
    ) -> None:
        if not tokens or any(not t.strip() for t in tokens):
            raise ConfigError("at least one non-empty access token is required")
        self.graphql_url = graphql_url
        self.config = config or TransportConfig()
        self.__tokens = tuple(t.strip() for t in tokens)
        self._gql: AIOHTTPTransport | None = None
        self._sent = 0
        self._failed: dict[str, int] = {}
        self._in_flight = 0
        self._peak_in_flight = 0

    @property
    def token_count(self) -> int:
        """How many access tokens this shop has (one cost bucket each)."""
        return len(self.__tokens)

    async def __aenter__(self) -> Self:
        self._gql = AIOHTTPTransport(
            url=self.graphql_url,
            headers={"User-Agent": self.config.user_agent},
            ssl=self.graphql_url.startswith("https://"),
            client_session_args={
                "raise_for_status": _raise_for_status,
                "trace_configs": [_request_ids()],
                "timeout": aiohttp.ClientTimeout(total=self.config.timeout_s),
                "connector": aiohttp.TCPConnector(limit=self.config.connection_limit,
                                                keepalive_timeout=self.config.keepalive_s),
            },
        )
        await self._gql.connect()
        await asyncio.to_thread(_prepare_shipped)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._gql is not None:
            gql_transport, self._gql = self._gql, None
            await gql_transport.close()

    async def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token_index: int,
        timeout_s: float | None = None,
    ) -> Response:
        """Send ``document`` once with token ``token_index``; return the :class:`Response` or raise.

        ``timeout_s`` bounds this request (default: the config's). Raises
        :class:`~bulk.errors.ShopifyError` subclasses only (see :mod:`bulk.shopify.mapping`).
        """
        if self._gql is None:
            raise NetworkError("transport is not open (use 'async with')", token_index=token_index,
                               maybe_sent=False)
        if not 0 <= token_index < len(self.__tokens):
            raise ConfigError(f"token index {token_index} out of range 0..{len(self.__tokens) - 1}")
        request = _Request(document, dict(variables or {}))
        headers = {TOKEN_HEADER: self.__tokens[token_index]}
        timeout = self.config.timeout_s if timeout_s is None else timeout_s
        answered: dict[str, str | None] = {}  # its X-Request-Id, once the answer's headers are in
        extra: dict[str, Any] = {"headers": headers, "timeout": aiohttp.ClientTimeout(total=timeout),
                                 "trace_request_ctx": answered}
        self._in_flight += 1
        self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            result = await self._gql.execute(request, extra_args=extra)
        except TransportError as exc:
            failure = self._convert(exc, token_index, timeout)
            self._count_failure(failure)
            raise failure from None  # the aiohttp chain may hold request headers: do not chain it
        finally:
            self._in_flight -= 1
        payload = {"data": result.data, "errors": result.errors, "extensions": result.extensions}
        extensions = dict(result.extensions or {})
        error = error_for_payload(payload, token_index=token_index)
        if error is not None:
            self._count_failure(error)
            log.info(
                "graphql request refused",
                extra={
                    "action": "graphql.refused",
                    "token_index": token_index,
                    "error": type(error).__name__,
                },
            )
            raise error
        self._sent += 1
        return Response(
            data=dict(result.data or {}),
            extensions=extensions,
            cost=cost_of(extensions),
            token_index=token_index,
            request_id=answered.get("id"),
        )

    def _convert(self, exc: TransportError, token_index: int, timeout_s: float) -> ShopifyError:
        cause = exc.__cause__
        if isinstance(cause, _HttpStatus):
            error = error_for_status(
                cause.status, token_index=token_index, body=cause.body, retry_after=cause.retry_after
            )
            if error is not None:
                return error
        if isinstance(exc, TransportProtocolError):
            return NetworkError("the shop sent an answer that is not GraphQL", token_index=token_index)
        if isinstance(exc, TransportConnectionFailed):
            kind = type(cause).__name__ if cause is not None else "connection failed"
            # only a connection that never opened cannot have carried the request (a drop, a reset or
            # a timeout after it opened may come after the shop applied it: bulk.shopify._resend)
            never_opened = isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
            if isinstance(cause, asyncio.TimeoutError):
                kind = f"timed out after {timeout_s:g}s"
            return NetworkError(f"network fault talking to the shop: {kind}", token_index=token_index,
                                maybe_sent=not never_opened)
        return NetworkError(f"transport fault: {type(exc).__name__}", token_index=token_index)

    def _count_failure(self, error: ShopifyError) -> None:
        name = type(error).__name__
        self._failed[name] = self._failed.get(name, 0) + 1

    def statistics(self) -> TransportStatistics:
        """Counters for dashboards and tests: requests that ran, failures by error type, in flight."""
        return TransportStatistics(
            sent=self._sent,
            failed=dict(self._failed),
            in_flight=self._in_flight,
            peak_in_flight=self._peak_in_flight,
            tokens=len(self.__tokens),
        )

    def __repr__(self) -> str:
        state = "open" if self._gql is not None else "closed"
        return (
            f"Transport({self.graphql_url!r}, tokens={len(self.__tokens)}, {state}, "
            f"sent={self._sent}, in_flight={self._in_flight})"
        )
