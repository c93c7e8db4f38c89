"""The urgent lane's vocabulary and pure decisions: what one change's result is, the lane's knobs,
how changes are grouped into batches (and two to one pair merged), their idempotency key, and what
one answer means per item.
No I/O and no clock: :mod:`bulk.lanes.urgent` carries them out.
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bulk.shopify.inventory import MAX_QUANTITIES, QuantityChange

STALE_CODES = frozenset({"CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"})
DEADLINE_CODE = "DEADLINE"  # InventoryResult.code of a change the shop did not answer in time


class InventoryStatus(enum.StrEnum):
    """How one inventory change ended."""

    APPLIED = "applied"
    STALE = "stale"  # compare-and-set: the shop no longer had ``change_from``
    REJECTED = "rejected"  # with a reason (unknown SKU, bad location, shop refused, …)


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryResult:
    """The outcome of one change, in the order the changes were given."""

    status: InventoryStatus
    sku: str | None = None
    inventory_item_id: str | None = None
    location_id: str | None = None
    quantity: int | None = None
    reason: str | None = None
    code: str | None = None
    previous: int | None = None  # the quantity before an applied change (None: unchanged, or not said)

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` output and reports."""
        return {
            "status": self.status.value,
            "sku": self.sku,
            "inventory_item_id": self.inventory_item_id,
            "location_id": self.location_id,
            "quantity": self.quantity,
            "reason": self.reason,
            "code": self.code,
            "previous": self.previous,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UrgentConfig:
    """Micro-batching knobs. ``scope`` salts idempotency keys (default: random per lane);
    ``deadline_s``: every change has its answer within this many seconds of its submission."""

    window_s: float = 0.003
    max_batch: int = MAX_QUANTITIES
    deadline_s: float = 10.0
    scope: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= MAX_QUANTITIES:
            raise ValueError(f"max_batch must be 1..{MAX_QUANTITIES}")
        if self.window_s < 0:
            raise ValueError("window_s must be >= 0")
        if not self.deadline_s > 0:
            raise ValueError("deadline_s must be > 0")


# -- pure decisions ------------------------------------------------------------------------------


def idempotency_key(changes: Sequence[QuantityChange], *, scope: str) -> str:
    """A key derived from the batch content: the same batch always gets the same key."""
    content = [scope, [[c.inventory_item_id, c.location_id, c.quantity, c.change_from] for c in changes]]
    digest = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    return f"bulk-inv-{digest[:40]}"


def take_batch(
    pending: Sequence[QuantityChange], busy: set[tuple[str, str]], max_batch: int
) -> tuple[list[int], list[int]]:
    """Split ``pending`` (in arrival order) into (indexes to send now, indexes that must wait).

    A change waits if its pair is ``busy`` (in flight) or already taken, or the batch is full; once a
    pair must wait, every later change to it waits too (order per pair is kept).
    """
    taken: list[int] = []
    waiting: list[int] = []
    blocked = set(busy)
    for i, change in enumerate(pending):
        if change.pair in blocked or len(taken) >= max_batch:
            waiting.append(i)
            blocked.add(change.pair)
            continue
        taken.append(i)
        blocked.add(change.pair)
    return taken, waiting


def merge(earlier: QuantityChange, later: QuantityChange) -> QuantityChange | None:
    """One change with the effect of ``earlier`` then ``later`` on their (one) pair, or None.

    Why: two changes to one pair cannot travel in one call, so the later one used to wait a whole
    round trip for the earlier — in a burst of 50 web hooks over a few hundred busy items, one change in
    twenty, and the p99 was two round trips. While both still wait to leave, sending only the later
    quantity ends in the same shop state. A compare-and-set ``later`` merges only when it expects
    ``earlier``'s quantity (it would then surely pass); the merged change keeps ``earlier``'s check.
    """
    if earlier.pair != later.pair:
        raise ValueError("only changes to one (item, location) merge")
    if later.change_from is not None and later.change_from != earlier.quantity:
        return None
    return QuantityChange(inventory_item_id=later.inventory_item_id, location_id=later.location_id,
                          quantity=later.quantity, change_from=earlier.change_from)


def split_result(result: InventoryResult, quantities: Sequence[int]) -> list[InventoryResult]:
    """The applied ``result`` of a merged change, as one result per change merged into it (their
    ``quantities`` in arrival order): each replaced the quantity before it (``previous``: the shop's
    for the first, the one before it for the others; None when it did not change the quantity)."""
    final = quantities[-1]
    before = result.previous if result.previous is not None else final  # unchanged: it was the final
    out = []
    for quantity in quantities:
        out.append(replace(result, quantity=quantity, previous=before if before != quantity else None))
        before = quantity
    return out


def _item_index(error: Mapping[str, Any], size: int) -> int | None:
    path = error.get("field") or []
    if len(path) >= 3 and path[0] == "input" and path[1] == "quantities":
        try:
            index = int(path[2])
        except (TypeError, ValueError):
            return None
        return index if 0 <= index < size else None
    return None


def interpret(
    batch: Sequence[QuantityChange], payload: Mapping[str, Any]
) -> tuple[dict[int, InventoryResult], list[int]]:
    """Per-item results of one answer, and the indexes to re-send (applied nothing, no error of theirs)."""
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, Mapping)]
    applied_any = payload.get("inventoryAdjustmentGroup") is not None
    results: dict[int, InventoryResult] = {}
    general: list[Mapping[str, Any]] = []
    for error in errors:
        index = _item_index(error, len(batch))
        if index is None:
            general.append(error)
            continue
        code = error.get("code")
        status = InventoryStatus.STALE if code in STALE_CODES else InventoryStatus.REJECTED
        results.setdefault(index, change_result(batch[index], status, str(error.get("message")), code))
    if general:
        reason = "; ".join(str(e.get("message")) for e in general)
        code = general[0].get("code")
        for i, change in enumerate(batch):
            results.setdefault(i, change_result(change, InventoryStatus.REJECTED, reason, code))
        return results, []
    if errors and not applied_any:
        return results, [i for i in range(len(batch)) if i not in results]
    before = _quantities_before(payload.get("inventoryAdjustmentGroup"))
    for i, change in enumerate(batch):
        previous = before.get((change.inventory_item_id, change.location_id))
        results.setdefault(i, change_result(change, InventoryStatus.APPLIED, None, None, previous=previous))
    return results, []


def _quantities_before(group: Any) -> dict[tuple[str, str], int]:
    """(item, location) → the available quantity before the change, from the group's changes
    (``quantityAfterChange - delta``); an unchanged quantity has no change and is absent."""
    out: dict[tuple[str, str], int] = {}
    changes = group.get("changes") if isinstance(group, Mapping) else None
    for ch in changes or []:
        after, delta = ch.get("quantityAfterChange"), ch.get("delta")
        if ch.get("name") == "available" and isinstance(after, int) and isinstance(delta, int):
            item, location = (ch.get("item") or {}).get("id"), (ch.get("location") or {}).get("id")
            out[(str(item), str(location))] = after - delta
    return out


def change_result(
    change: QuantityChange, status: InventoryStatus, reason: str | None, code: Any, *,
    previous: int | None = None,
) -> InventoryResult:
    """The :class:`InventoryResult` of ``change`` with ``status`` (``code`` kept when it is text)."""
    return InventoryResult(
        status=status,
        inventory_item_id=change.inventory_item_id,
        location_id=change.location_id,
        quantity=change.quantity,
        reason=reason,
        code=code if isinstance(code, str) else None,
        previous=previous,
    )
