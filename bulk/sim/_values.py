"""How the simulated shop writes identities, times and money: GIDs, ISO dates, Money strings.

Shared by the catalog and every operation so a GID or a price is spelled one way everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

PRODUCT_GID = "gid://shopify/Product/"
VARIANT_GID = "gid://shopify/ProductVariant/"
ITEM_GID = "gid://shopify/InventoryItem/"
LOCATION_GID = "gid://shopify/Location/"
MEDIA_GID = "gid://shopify/MediaImage/"


def iso(ts: float) -> str:
    """Shopify's DateTime: UTC, whole seconds, ``Z`` suffix."""
    return _iso_second(int(ts))


@lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    # cached: every product node of a bulk line formats a few timestamps, mostly of the same seconds
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp (``Z`` or offset; naive means UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def money(cents: int) -> str:
    """Cents as Shopify's Money string."""
    return f"{cents // 100}.{cents % 100:02d}"


def gid_number(gid: object, prefix: str) -> int | None:
    """The numeric id of ``gid`` if it has ``prefix``, else None (never raises)."""
    if not isinstance(gid, str) or not gid.startswith(prefix):
        return None
    tail = gid[len(prefix) :]
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


def level_key(vid: int, loc: int) -> str:
    """Shopify's InventoryLevel GID for item ``vid`` at location ``loc`` (the write-accounting key)."""
    return f"gid://shopify/InventoryLevel/{loc}?inventory_item_id={vid}"


def cents_of(value: Any) -> int | None:
    """Money input (string or number) as cents, or None if it is not a valid price."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
        return None
    if amount != amount.quantize(Decimal("0.01")):
        return None  # stricter than Shopify, which may round: more than 2 decimals is refused
    return int(amount * 100)
