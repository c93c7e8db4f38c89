"""The latency the simulator added to each request, by the request's root field (for benchmarks).

Why: a client's latency figure means little without the shop's own — ``bench blackfriday`` compares
its urgent changes' latency with the p99 of what the simulator itself waited before answering
``inventorySetQuantities``. Kept per root field in a bounded window, in real milliseconds (the
simulated delay divided by the clock's speed: what a client actually waits).

Beside the drawn delay, the time the shop took to serve each answered request: from its handler's
first step to the answer being ready — the drawn delay plus the simulator's own work and waits on its
busy event loop (on a 2-core box beside 15 bulk operations: tens of ms the drawn figure leaves out).
What it cannot see is the time before its handler ran (the socket, the loop's backlog).

Per request too, by the ``X-Request-Id`` every answer carries (as Shopify's do): a client that kept the
ids of the requests one piece of its work made asks ``POST /_sim/requests`` what the shop drew and
took for exactly those (``bench blackfriday``: an urgent change for a SKU seen for the first time is
a lookup and a write, and its own share is its time minus the shop's for both)."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from bulk.sim.percentiles import nearest_rank

WINDOW = 20_000  # latest requests kept per root field
REQUESTS_KEPT = 100_000  # latest requests kept by id (bench blackfriday asks for its urgent ones at its end)
_ROOT = re.compile(r"\{\s*(?:\w+\s*:\s*)?(\w+)")  # the first field of the operation (an alias skipped)


def root_field(query: str) -> str:
    """The first root field a document selects (``"?"`` when none is found)."""
    match = _ROOT.search(query)
    return match.group(1) if match else "?"


class LatencyLog:
    """Added latency per root field: ``record`` while serving, ``statistics`` for ``/_sim/stats``."""

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._samples: dict[str, deque[float]] = {}
        self._served: dict[str, deque[float]] = {}
        self._requests: dict[str, dict[str, Any]] = {}  # id → root, drawn_ms, served_ms; oldest first

    def record(self, query: str, delay_s: float, request_id: str | None = None) -> None:
        """Note ``delay_s`` simulated seconds added to a request for ``query``."""
        root = root_field(query)
        drawn = delay_s / self._speed * 1000.0
        self._samples.setdefault(root, deque(maxlen=WINDOW)).append(drawn)
        if request_id is not None:
            self._requests[request_id] = {"root": root, "drawn_ms": round(drawn, 2), "served_ms": None}
            if len(self._requests) > REQUESTS_KEPT:
                del self._requests[next(iter(self._requests))]

    def served(self, query: str, real_s: float, request_id: str | None = None) -> None:
        """Note that a request for ``query`` took ``real_s`` real seconds from the handler's first step
        to its answer."""
        self._served.setdefault(root_field(query), deque(maxlen=WINDOW)).append(real_s * 1000.0)
        kept = self._requests.get(request_id) if request_id is not None else None
        if kept is not None:
            kept["served_ms"] = round(real_s * 1000.0, 2)

    def requests(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What the shop drew and took for each of ``ids`` it still keeps (real ms; ``served_ms`` is
        None for a request that ran but was not answered: dropped, abandoned, replaced by a fault)."""
        return {i: dict(self._requests[i]) for i in ids if i in self._requests}

    def statistics(self) -> dict[str, dict[str, float]]:
        """``{root field: {"count", "p50_ms", "p99_ms", "max_ms"}}`` of the drawn delay over the kept
        window, with ``"served_p50_ms"`` / ``"served_p99_ms"`` of the time taken to serve them."""
        out = {}
        for name, samples in sorted(self._samples.items()):
            out[name] = {"count": len(samples), "p50_ms": round(nearest_rank(samples, 50), 2),
                         "p99_ms": round(nearest_rank(samples, 99), 2), "max_ms": round(max(samples), 2)}
            served = self._served.get(name)
            if served:
                out[name] |= {"served_p50_ms": round(nearest_rank(served, 50), 2),
                              "served_p99_ms": round(nearest_rank(served, 99), 2)}
        return out
