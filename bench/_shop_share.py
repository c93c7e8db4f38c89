"""Each urgent change's time beside the shop's own time for exactly the requests it waited for.

Why per change: a change for a SKU seen for the first time is two requests in a row (its lookup, then
the write), one for a known SKU is one. Comparing every change with the shop's p99 for *one* request
(what ``latency_by_operation`` gives per root field) counts the lookup's whole time as ours. The lane
keeps, per change, the shop's ids (``X-Request-Id``) of the requests it waited for
(:class:`bulk.lanes.urgent.ChangeTiming`); the simulator tells, per id, the latency it drew and the
time it took to serve the request (``POST /_sim/requests``). Their sum is the shop's share of that
change; the rest of the change's time is ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bulk.lanes.urgent import ChangeTiming
from bulk.sim.percentiles import nearest_rank

Shop = Mapping[str, Mapping[str, Any]]  # request id → {"root", "drawn_ms", "served_ms"}


def shop_ms(timing: ChangeTiming, shop: Shop, key: str) -> float | None:
    """The shop's ``key`` (``drawn_ms`` or ``served_ms``) summed over the change's requests; None when
    the shop no longer knows one of them or did not answer it (the change then tells nothing)."""
    if not timing.request_ids:
        return None
    total = 0.0
    for request_id in timing.request_ids:
        value = shop.get(request_id, {}).get(key)
        if value is None:
            return None
        total += float(value)
    return total


def shop_share(timings: Sequence[ChangeTiming], shop: Shop) -> dict[str, Any]:
    """Per kind of change (``known``: no lookup request; ``first_seen``: a lookup first) and over all: the
    shop's p99 for the changes' requests (drawn and served) and ours (a change's time minus what the
    shop took to serve its requests), in ms; ``unmatched``: changes some request of which the shop
    did not name (a failed request) or no longer keeps."""
    kinds: dict[str, list[ChangeTiming]] = {"all": list(timings), "known": [], "first_seen": []}
    for t in timings:  # a known SKU's change waited for no lookup on the wire
        kinds["first_seen" if t.lookup_http_s > 0 else "known"].append(t)
    return {kind: _figures(group, shop) for kind, group in kinds.items()}


def _figures(timings: Sequence[ChangeTiming], shop: Shop) -> dict[str, Any]:
    drawn, served, ours = [], [], []
    for t in timings:
        d, s = shop_ms(t, shop, "drawn_ms"), shop_ms(t, shop, "served_ms")
        if d is None or s is None:
            continue
        drawn.append(d)
        served.append(s)
        ours.append(t.total_s * 1000 - s)
    return {"count": len(timings), "unmatched": len(timings) - len(drawn), "sim_p99_ms": _rank(drawn, 99),
            "sim_served_p99_ms": _rank(served, 99), "ours_p99_ms": _rank(ours, 99)}


def _rank(values: list[float], percent: float) -> float | None:
    return round(nearest_rank(values, percent), 1) if values else None


def burst_split(timings: Sequence[ChangeTiming], shop: Shop) -> dict[str, Any]:
    """One burst's changes (the lane answers a burst's changes before the next burst comes): the
    median change's time, the shop's share of it (drawn, served) and ours, with the median lookup
    and wire phases, in ms."""
    drawn = [d for t in timings if (d := shop_ms(t, shop, "drawn_ms")) is not None]
    served = [(t, s) for t in timings if (s := shop_ms(t, shop, "served_ms")) is not None]
    return {"changes": len(timings), "p50_ms": _rank([t.total_s * 1000 for t in timings], 50),
            "sim_p50_ms": _rank(drawn, 50), "sim_served_p50_ms": _rank([s for _, s in served], 50),
            "ours_p50_ms": _rank([t.total_s * 1000 - s for t, s in served], 50),
            "lookup_p50_ms": _rank([t.lookup_s * 1000 for t in timings], 50),
            "lookup_http_p50_ms": _rank([t.lookup_http_s * 1000 for t in timings], 50),
            "http_p50_ms": _rank([t.http_s * 1000 for t in timings], 50)}
