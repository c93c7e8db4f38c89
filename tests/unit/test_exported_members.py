"""The public surface of ``bulk`` is exactly what ``__all__`` says, and every name in it is documented."""

from __future__ import annotations

import bulk

EXPECTED = {
    "TransientError",
    "TokenRefusedError",
    "StorageRefusedError",
    "ShopUnavailableError",
    "RunStoppedError",
    "NoTokenLeftError",
    "InternalServerError",
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
    "MaybeAppliedError",
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
}


def test_the_public_names_are_pinned() -> None:
    assert set(bulk.__all__) == EXPECTED


def test_every_public_name_exists_and_is_documented() -> None:
    for name in bulk.__all__:
        value = getattr(bulk, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"bulk.{name} has no docstring"
