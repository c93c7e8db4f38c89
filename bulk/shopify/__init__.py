"""Talking to Shopify's Admin GraphQL API (or the simulator): transport, cost, errors, operations.

Layers, bottom up (each module says why it exists):

- :mod:`~bulk.shopify.documents` — every GraphQL document, from ``queries/*.graphql``;
- :mod:`~bulk.shopify._cost` / :mod:`~bulk.shopify.mapping` — pure: ``extensions.cost`` (parsed by
  the scheduler's one parser), and an HTTP answer → data or a typed :mod:`bulk.errors` error;
- :mod:`~bulk.shopify._policy` — pure: every documented answer → class → policy (docs/errors.md), the
  per-lane budgets in seconds and the THROTTLED wait;
- :mod:`~bulk.shopify.transport` — one gql/aiohttp pool per shop, one request, no retry;
- :mod:`~bulk.shopify.client` — scheduler grant → send → settle; tenacity for transient faults on the
  same token; THROTTLED / 429 paced, then back through the scheduler; refused tokens taken out;
- :mod:`~bulk.shopify.staged` — the staged-upload POST: its policy's size limit, storage refusals;
- :mod:`~bulk.shopify.inventory` / :mod:`~bulk.shopify.resolve` — the urgent lane's operations.
"""

from bulk.shopify._cost import CostReport, ThrottleStatus, parse_cost
from bulk.shopify._policy import CAUSES, Action, LaneBudget, action_for
from bulk.shopify.client import ClientStatistics, Grant, RetryPolicy, SchedulerLike, ShopifyClient
from bulk.shopify.documents import document
from bulk.shopify.endpoint import Endpoint, parse_shop, parse_tokens
from bulk.shopify.inventory import QuantityChange
from bulk.shopify.mapping import raise_for_user_errors
from bulk.shopify.transport import API_VERSION, Response, Transport, TransportConfig, TransportStatistics

__all__ = [
    "API_VERSION",
    "CAUSES",
    "Action",
    "ClientStatistics",
    "CostReport",
    "Endpoint",
    "Grant",
    "LaneBudget",
    "QuantityChange",
    "Response",
    "RetryPolicy",
    "SchedulerLike",
    "ShopifyClient",
    "ThrottleStatus",
    "Transport",
    "TransportConfig",
    "TransportStatistics",
    "action_for",
    "document",
    "parse_cost",
    "parse_shop",
    "parse_tokens",
    "raise_for_user_errors",
]
