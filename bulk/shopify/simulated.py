"""Is this shop the simulator? What a run needs to know about a simulated shop, embedded or served.

Why: a rehearsal must say plainly that the shop is simulated, and a simulator sped up ``×N`` refills
its buckets ``N`` times faster than the scheduler's model would assume, so the model must run on the
shop's time. An embedded ``sim://`` shop tells us directly; one served by ``bulk sim`` on loopback
answers ``GET /_sim/stats``. Only plain-http loopback URLs are asked (a real shop is https and is never
probed); any failure means "not a simulator".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bulk.clock import Clock, ScaledClock

PROBE_TIMEOUT_S = 3.0  # a busy simulator (parsing a staged file) may answer late


@dataclass(frozen=True, slots=True)
class Simulation:
    """A simulated shop: its plan, size and clock speed (shop seconds per real second)."""

    plan: str
    products: int
    speed: float = 1.0
    served_at: str | None = None  # the base URL of a shop ``bulk sim`` serves; None when embedded
    bulk_lines_per_s: float | None = None  # an embedded shop's bulk pace (its ETA model uses it)
    tokens: int | None = None  # an embedded shop's token count

    @property
    def embedded(self) -> bool:
        """The shop runs in this process (``sim://``), started and stopped with the session."""
        return self.served_at is None

    def clock(self) -> Clock | None:
        """The shop's own clock when it runs faster (or slower) than real time; None at speed 1."""
        return None if self.speed == 1 else ScaledClock(self.speed)

    def shop_seconds(self, real_seconds: float) -> float:
        """How long ``real_seconds`` of this run were on the shop's clock."""
        return real_seconds * self.speed


def stats_url(graphql_url: str) -> str | None:
    """Where a served simulator answers its statistics, if ``graphql_url`` may be one (plain http
    on loopback, as :func:`bulk.shopify.endpoint.parse_shop` allows only for a simulator)."""
    parts = urlsplit(graphql_url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    return f"http://{parts.netloc}/_sim/stats"


async def probe(graphql_url: str) -> Simulation | None:
    """The served simulator behind ``graphql_url``, or None (not loopback, or not answering as one)."""
    url = stats_url(graphql_url)
    if url is None:
        return None
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                return None
            stats: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    if not isinstance(stats, dict) or stats.get("simulated") is not True:
        return None
    shop = stats.get("shop")
    shop = shop if isinstance(shop, dict) else {}
    return Simulation(plan=str(stats.get("plan", "?")), products=int(shop.get("products", 0)),
                      speed=float(stats.get("speed", 1.0)), served_at=url.removesuffix("/_sim/stats"))
