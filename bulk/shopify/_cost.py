"""Read ``extensions.cost`` — what a request was charged and what the token's bucket holds now.

Why parse it at all: the scheduler models each token's bucket and must re-sync to the shop's own
``throttleStatus`` after every answer (a bucket shared with other apps, a restore-rate change on a plan
upgrade), and a THROTTLED answer's cost says how long until the request could be paid. Pure: no I/O.

There is one parser, :func:`bulk.scheduler.core.parse_cost` (the scheduler is pure and must not import
this package; this package may import its pure types). This module only finds the object inside an
answer's ``extensions``. Shopify sends::

    "extensions": {"cost": {"requestedQueryCost": 12, "actualQueryCost": 10,
                            "throttleStatus": {"maximumAvailable": 2000.0,
                                               "currentlyAvailable": 1990, "restoreRate": 100.0}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulk.scheduler.core import CostReport, ThrottleStatus, parse_cost, seconds_until_affordable

__all__ = ["CostReport", "ThrottleStatus", "cost_dict", "cost_of", "parse_cost", "seconds_until_affordable"]


def cost_dict(extensions: Mapping[str, Any] | None) -> dict[str, Any]:
    """``extensions.cost`` as a plain dict (``{}`` when absent): what the scheduler's ``settle`` takes."""
    if not extensions:
        return {}
    raw = extensions.get("cost")
    return dict(raw) if isinstance(raw, Mapping) else {}


def cost_of(extensions: Mapping[str, Any] | None) -> CostReport | None:
    """The parsed cost of an answer (``None`` when it carries none, or no ``requestedQueryCost``)."""
    report = parse_cost(cost_dict(extensions) or None)
    return report if report is not None and report.requested is not None else None
