"""shopify-bulk: mass product changes for Shopify, with an urgent lane and one cost-aware scheduler.

The public names are re-exported here; everything else is private to its module::

    async with bulk.Shop.connect("NAME.myshopify.com", tokens) as shop:   # or "sim://"
        await shop.inventory.set([{"sku": "A-1", "location_name": "Main", "quantity": 5}])
        run = shop.submit(updates)            # iterable / async iterable of update models
        result = await run.wait()
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
from bulk.lanes.urgent import InventoryResult, InventoryStatus
from bulk.models import (
    DescriptionUpdate,
    Image,
    ImageUpdate,
    InventoryUpdate,
    Lane,
    OutcomeStatus,
    PriceUpdate,
    ProductRef,
    RowError,
    Source,
    VariantRef,
)
from bulk.runs import RunHandle
from bulk.shop import Shop, ShopConfig, set_inventory, submit_sync
from bulk.submission import SubmissionResult

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BulkError",
    "ConfigError",
    "CoordinationUnavailableError",
    "DescriptionUpdate",
    "GraphQLRequestError",
    "Image",
    "ImageUpdate",
    "InputError",
    "InventoryResult",
    "InventoryStatus",
    "InventoryUpdate",
    "JournalError",
    "Lane",
    "LimitReachedError",
    "MaxCostExceededError",
    "NetworkError",
    "OutcomeStatus",
    "PermitLostError",
    "PriceUpdate",
    "ProductRef",
    "RowError",
    "RunHandle",
    "SchedulerError",
    "ServerError",
    "Shop",
    "ShopConfig",
    "ShopifyError",
    "Source",
    "SubmissionResult",
    "ThrottledError",
    "UserErrorsError",
    "VariantRef",
    "__version__",
    "set_inventory",
    "submit_sync",
]
