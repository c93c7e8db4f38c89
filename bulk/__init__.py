"""shopify-bulk: mass product changes for Shopify, with an urgent lane and one cost-aware scheduler.

The public names are re-exported here; everything else is private to its module::

    async with bulk.Shop.connect("NAME.myshopify.com", tokens) as shop:   # or "sim://"
        await shop.inventory.set([{"sku": "A-1", "location_name": "Main", "quantity": 5}])
        run = shop.submit(updates)            # iterable / async iterable of update models
        result = await run.wait()
"""

import importlib
from typing import TYPE_CHECKING, Any

from bulk.errors import (
    AuthError,
    BulkError,
    ConfigError,
    CoordinationUnavailableError,
    GraphQLRequestError,
    InputError,
    InternalServerError,
    JournalError,
    LimitReachedError,
    MaxCostExceededError,
    MaybeAppliedError,
    NetworkError,
    NoTokenLeftError,
    PermitLostError,
    RunStoppedError,
    SchedulerError,
    ServerError,
    ShopifyError,
    ShopUnavailableError,
    StorageRefusedError,
    ThrottledError,
    TokenRefusedError,
    TransientError,
    UserErrorsError,
)

# The rest is imported on first use (PEP 562): a process that needs one part — a fleet worker, the
# scheduler's chaos worker, ``bulk --help`` — does not pay ~1 s of importing the whole package (a
# respawned worker's import competed for the CPU with the live ones).
_LAZY = {
    **dict.fromkeys(("InventoryResult", "InventoryStatus"), "bulk.lanes.urgent"),
    **dict.fromkeys(("DescriptionUpdate", "Image", "ImageUpdate", "InventoryUpdate", "Lane", "OutcomeStatus",
                     "PriceUpdate", "ProductRef", "RowError", "Source", "VariantRef"), "bulk.models"),
    "RunHandle": "bulk.session.runs",
    **dict.fromkeys(("Shop", "ShopConfig"), "bulk.session.shop"),
    **dict.fromkeys(("set_inventory", "submit_sync"), "bulk.session.scripts"),
    "SubmissionResult": "bulk.submit.submission",
}

if TYPE_CHECKING:
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
    from bulk.session.runs import RunHandle
    from bulk.session.scripts import set_inventory, submit_sync
    from bulk.session.shop import Shop, ShopConfig
    from bulk.submit.submission import SubmissionResult


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bulk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
    "InternalServerError",
    "InventoryResult",
    "InventoryStatus",
    "InventoryUpdate",
    "JournalError",
    "Lane",
    "LimitReachedError",
    "MaxCostExceededError",
    "MaybeAppliedError",
    "NetworkError",
    "NoTokenLeftError",
    "OutcomeStatus",
    "PermitLostError",
    "PriceUpdate",
    "ProductRef",
    "RowError",
    "RunHandle",
    "RunStoppedError",
    "SchedulerError",
    "ServerError",
    "Shop",
    "ShopConfig",
    "ShopUnavailableError",
    "ShopifyError",
    "Source",
    "StorageRefusedError",
    "SubmissionResult",
    "ThrottledError",
    "TokenRefusedError",
    "TransientError",
    "UserErrorsError",
    "VariantRef",
    "__version__",
    "set_inventory",
    "submit_sync",
]
