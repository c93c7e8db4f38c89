"""What every group of simulated operations shares: the shop core, errors, connections, search syntax.

Why one place: Shopify applies the same pagination rules (``first`` or ``last``, at most 250, opaque
cursors) and the same search syntax (``field:value``, ``field:>value``) to every connection, and the
simulator must refuse the same things the same way everywhere.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

from bulk.clock import Clock
from bulk.sim._catalog import Catalog

MAX_PAGE = 250
NOT_IMPLEMENTED = "NOT_IMPLEMENTED_IN_SIMULATOR"


@dataclass
class ShopCore:
    """The state every operation group reads: catalog, clock, and the sim clock → wall time map."""

    catalog: Catalog
    clock: Clock
    shop_name: str = "Simulated Shop"
    _wall0: float = field(default_factory=time.time)
    _mono0: float = 0.0

    def __post_init__(self) -> None:
        self._mono0 = self.clock.now()

    def wall(self, now: float | None = None) -> float:
        """Wall time (epoch seconds) for sim time ``now`` (default: the clock's now).

        A ScaledClock at speed 20 makes wall time run 20x too: every timestamp the shop prints
        (updatedAt, createdAt, completedAt) stays consistent with the filters it accepts.
        """
        return self._wall0 + ((self.clock.now() if now is None else now) - self._mono0)


def user_error(field_path: list[str] | None, message: str, code: str | None = None) -> dict[str, Any]:
    """One ``userErrors`` entry."""
    return {"field": field_path, "message": message, "code": code}


def bad_request(message: str, code: str = "BAD_REQUEST") -> GraphQLError:
    """A top-level GraphQL error, as Shopify sends for an argument it refuses."""
    return GraphQLError(message, extensions={"code": code})


def not_implemented(what: str) -> GraphQLError:
    """The simulator does not serve this argument or input field: say so instead of ignoring it."""
    return GraphQLError(
        f"{what} is not implemented by the simulated shop (bulk.sim)", extensions={"code": NOT_IMPLEMENTED}
    )


def reject_unknown_keys(
    value: dict[str, Any], allowed: frozenset[str], where: str, defaults: dict[str, Any] | None = None
) -> None:
    """Raise :func:`not_implemented` for any input field outside ``allowed`` (a field left at its
    schema default, which graphql-core fills in, is not the caller's doing and passes)."""
    for key in value:
        if key not in allowed and not (defaults and key in defaults and value[key] == defaults[key]):
            raise not_implemented(f"Input field '{key}' of {where}")


def encode_cursor(key: int) -> str:
    """An opaque cursor for integer position ``key``."""
    return base64.urlsafe_b64encode(f"sim:{key}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The position inside ``cursor``; a GraphQL error if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if text.startswith("sim:"):
            return int(text[4:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise bad_request(f"Invalid cursor: {cursor!r}")


Source = Callable[[int | None, bool], Iterator[tuple[int, dict[str, Any]]]]
"""``source(after_key, descending)`` yields ``(key, node)`` strictly after ``after_key`` in that order."""


def connection(
    source: Source,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool | None = False,
    **ignored: Any,
) -> dict[str, Any]:
    """A Relay connection page, with Shopify's rules: exactly one of first/last, at most 250."""
    for name in ignored:
        if ignored[name] is not None and name not in ("sortKey",):
            raise not_implemented(f"Connection argument '{name}'")
    if (first is None) == (last is None):
        raise bad_request("you must provide one of first or last")
    size = first if first is not None else last
    assert size is not None
    if size < 0 or size > MAX_PAGE:
        raise bad_request(f"The page size {size} is outside 0..{MAX_PAGE}", "MAX_PAGE_SIZE_EXCEEDED")
    descending = bool(reverse) != (last is not None)
    cursor = after if first is not None else before
    start = decode_cursor(cursor) if cursor is not None else None
    items: list[tuple[int, dict[str, Any]]] = []
    more = False
    for item in source(start, descending):
        if len(items) == size:
            more = True
            break
        items.append(item)
    if last is not None:
        items.reverse()
    edges = [{"cursor": encode_cursor(k), "node": node} for k, node in items]
    return {
        "edges": edges,
        "nodes": [node for _, node in items],
        "pageInfo": {
            "hasNextPage": more if first is not None else before is not None,
            "hasPreviousPage": more if last is not None else after is not None,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def range_source(lo: int, hi: int, node: Callable[[int], dict[str, Any] | None]) -> Source:
    """A source over integer keys ``lo..hi`` (inclusive) whose nodes come from ``node`` (None = skip)."""

    def source(after: int | None, descending: bool) -> Iterator[tuple[int, dict[str, Any]]]:
        keys = (
            range(min(hi, after - 1) if after is not None else hi, lo - 1, -1)
            if descending
            else range(max(lo, after + 1) if after is not None else lo, hi + 1)
        )
        for key in keys:
            got = node(key)
            if got is not None:
                yield key, got

    return source


def list_source(keys: list[int], node: Callable[[int], dict[str, Any] | None]) -> Source:
    """A source over an explicit ascending list of keys."""

    def source(after: int | None, descending: bool) -> Iterator[tuple[int, dict[str, Any]]]:
        ordered = reversed(keys) if descending else iter(keys)
        for key in ordered:
            if after is not None and (key >= after if descending else key <= after):
                continue
            got = node(key)
            if got is not None:
                yield key, got

    return source


_TERM = re.compile(r"""(\w+):(<=|>=|<|>)?("[^"]*"|'[^']*'|[^\s'"]+)""")


@dataclass(frozen=True, slots=True)
class Term:
    """One ``field:[op]value`` term of a search query."""

    field: str
    op: str  # "=", "<", ">", "<=", ">="
    value: str


def parse_search(query: str | None, allowed: frozenset[str]) -> list[Term]:
    """Terms of a search query, ANDed; a GraphQL error for syntax or fields the sim does not support.

    Shopify silently treats unknown syntax as free text; the simulator refuses it instead so that a
    client never believes a filter was applied when it was not.
    """
    if not query or not query.strip():
        return []
    terms: list[Term] = []
    rest = query.strip()
    while rest:
        m = _TERM.match(rest)
        if m is None:
            raise not_implemented(f"Search syntax {rest!r}")
        name, op, value = m.group(1), m.group(2) or "=", m.group(3)
        if name not in allowed:
            raise not_implemented(f"Search field '{name}'")
        if value[:1] in "'\"":
            value = value[1:-1]
        terms.append(Term(name, op, value))
        rest = rest[m.end() :].lstrip()
        if rest.upper().startswith("AND "):
            rest = rest[4:].lstrip()
    return terms
