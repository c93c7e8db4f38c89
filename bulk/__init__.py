"""shopify-bulk: mass product changes for Shopify, with an urgent lane and one cost-aware scheduler.

The public names are re-exported here; everything else is private to its module.
"""

from bulk.errors import (
    AuthError,
    BulkError,
    ConfigError,
    CoordinationUnavailableError,
    GraphQLRequestError,
    InputError,
    JournalError,
    LimitReachedError,
    MaxCostExceededError,
    NetworkError,
    PermitLostError,
    SchedulerError,
    ServerError,
    ShopifyError,
    ThrottledError,
    UserErrorsError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BulkError",
    "ConfigError",
    "CoordinationUnavailableError",
    "GraphQLRequestError",
    "InputError",
    "JournalError",
    "LimitReachedError",
    "MaxCostExceededError",
    "NetworkError",
    "PermitLostError",
    "SchedulerError",
    "ServerError",
    "ShopifyError",
    "ThrottledError",
    "UserErrorsError",
    "__version__",
]
