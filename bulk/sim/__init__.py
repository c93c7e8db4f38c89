"""The simulated Shopify shop: same HTTP/GraphQL surface and rate limits, on loopback.

Public API (everything else in ``bulk.sim`` is private)::

    async with SimShop(SimConfig(products=1000, plan="plus")) as shop:
        shop.graphql_url, shop.url, shop.stats(), shop.state
    parse_sim_url("sim://?products=1000&plan=plus") -> SimConfig

and :mod:`bulk.sim.percentiles` (``nearest_rank``), the percentile its ``/_sim/stats`` and the
benchmarks report.

See docs/simulator.md for what is simulated and every choice made where Shopify's docs are silent.
"""

from bulk.sim._config import DEFAULT_TOKENS, SimConfig, parse_sim_url
from bulk.sim._shop import SimShop

__all__ = ["DEFAULT_TOKENS", "SimConfig", "SimShop", "parse_sim_url"]
