"""Talking to Shopify's Admin GraphQL API (or the simulator): transport, cost, errors, operations.

Layers, bottom up (each module says why it exists):

- :mod:`~bulk.shopify.documents` — every GraphQL document, from ``queries/*.graphql``;
- :mod:`~bulk.shopify.cost` / :mod:`~bulk.shopify.mapping` — pure: ``extensions.cost``, and an HTTP
  answer → data or a typed :mod:`bulk.errors` error;
- :mod:`~bulk.shopify.transport` — one gql/aiohttp pool per shop, one request, no retry;
- :mod:`~bulk.shopify.client` — scheduler grant → send → settle; tenacity for 5xx/network on the
  same token; THROTTLED back through the scheduler;
- :mod:`~bulk.shopify.inventory` / :mod:`~bulk.shopify.resolve` — the urgent lane's operations.
"""

from bulk.shopify.client import Grant, RetryPolicy, SchedulerLike, ShopifyClient
from bulk.shopify.cost import QueryCost, ThrottleStatus, parse_cost
from bulk.shopify.documents import document
from bulk.shopify.endpoint import Endpoint, parse_shop, parse_tokens
from bulk.shopify.inventory import QuantityChange
from bulk.shopify.mapping import raise_for_user_errors
from bulk.shopify.transport import API_VERSION, Response, Transport, TransportConfig

__all__ = [
    "API_VERSION",
    "Endpoint",
    "Grant",
    "QuantityChange",
    "QueryCost",
    "Response",
    "RetryPolicy",
    "SchedulerLike",
    "ShopifyClient",
    "ThrottleStatus",
    "Transport",
    "TransportConfig",
    "document",
    "parse_cost",
    "parse_shop",
    "parse_tokens",
    "raise_for_user_errors",
]
