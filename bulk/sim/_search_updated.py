"""The ``updated_at`` search filter of ``products`` and ``productVariants`` (and of bulk exports).

Shopify's search syntax takes ``updated_at:>'2020-10-21T23:39:20Z'``, ``>=``, ``<``, ``<=`` and the
value ``now`` (filter tables of ``QueryRoot.products`` / ``productVariants`` in the 2026-04 schema).
The simulator compares in whole seconds, the resolution ``updatedAt`` is served in: an object
updated at 10:00:00.7 shows ``10:00:00Z`` and is *not* ``updated_at:>'10:00:00Z'`` — so a client that
syncs "after the newest ``updatedAt`` I saw" misses writes made later in that same second unless it
keeps an overlap (the stricter reading; docs/simulator.md). Values other than a full ISO date-time, a
date (midnight UTC) or ``now`` (e.g. Shopify's example ``'2024'``, whose bound the docs do not define)
are refused, never guessed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from bulk.sim._ops_common import Term, bad_request, not_implemented
from bulk.sim._values import parse_iso

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True, slots=True)
class UpdatedFilter:
    """The ANDed ``updated_at`` bounds of one search; ``matches(updated)`` on wall times."""

    bounds: tuple[tuple[str, float], ...] = ()

    def matches(self, updated: float) -> bool:
        """Whether an object last updated at wall time ``updated`` passes every bound."""
        shown = float(math.floor(updated))  # what updatedAt says (whole seconds)
        return all(_OPS[op](shown, value) for op, value in self.bounds)

    @property
    def active(self) -> bool:
        """Whether the search had any ``updated_at`` term."""
        return bool(self.bounds)


def updated_filter(terms: list[Term], now: float) -> UpdatedFilter:
    """The ``updated_at`` terms of ``terms`` (others are ignored here) as a filter; ``now`` is the
    shop's wall time, for the value ``now``. A GraphQL error for ``updated_at:X`` (equality is not
    in the documented examples) or a value the simulator cannot read."""
    bounds: list[tuple[str, float]] = []
    for t in terms:
        if t.field != "updated_at":
            continue
        if t.op not in _OPS:
            raise not_implemented(f"Search term 'updated_at:{t.value}' (use >, >=, < or <=)")
        if t.value.lower() == "now":
            value = float(math.floor(now))
        else:
            if len(t.value) < 10:  # '2024', '2024-05': a bound Shopify's docs do not define
                raise bad_request(f"Invalid date in search: {t.value!r} (give a date or a date-time)")
            try:
                value = parse_iso(t.value)
            except ValueError as exc:
                raise bad_request(f"Invalid date in search: {t.value!r}") from exc
        bounds.append((t.op, value))
    return UpdatedFilter(tuple(bounds))
