"""Resolve coalesced objects against the catalog cache, drop no-ops, and emit mutation lines.

Input: a :class:`~bulk.plan.coalesce.Coalescer` (last write per object field). Output: a
:class:`Plan` — mutation lines (one ``productVariantsBulkUpdate`` per product, variants grouped, at
most 250 per line; one ``productUpdate`` per product for descriptions/images), the old values for the
undo file, and the final outcome of every row that will *not* be sent (unknown or ambiguous key,
unchanged value, superseded by a later row). Rows that are sent get their outcome from the result.

Pure: reads the catalog, writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from bulk.catalog import Ambiguous, CatalogStore, VariantRecord
from bulk.models import Image, OutcomeStatus
from bulk.plan.coalesce import COMPARE_AT, DESCRIPTION, MEDIA, PRICE, Coalescer, FieldValue, RowId

_T = TypeVar("_T")

MAX_VARIANTS_PER_LINE = 250  # Shopify's input-list limit

LineKind = Literal["variants", "product"]


@dataclass(frozen=True, slots=True)
class PlannedLine:
    """One mutation's variables, and the input rows whose outcome it decides."""

    kind: LineKind  # "variants" → productVariantsBulkUpdate, "product" → productUpdate
    variables: dict[str, Any]
    rows: tuple[RowId, ...]


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """A row's final outcome decided at planning time."""

    row: RowId
    status: OutcomeStatus
    reason: str


@dataclass
class Plan:
    """What to send, what to undo, and what was decided without sending."""

    lines: list[PlannedLine] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    undo: list[dict[str, Any]] = field(default_factory=list)

    def statistics(self) -> dict[str, int]:
        """Lines to send and rows already decided, by status."""
        by_status = {s.value: 0 for s in OutcomeStatus}
        for o in self.outcomes:
            by_status[o.status.value] += 1
        return {"lines": len(self.lines), "rows_in_lines": sum(len(x.rows) for x in self.lines), **by_status}


Overlay = dict[str, dict[str, object]]  # variant GID -> field -> value planned earlier in this run


def build_plan(coalesced: Coalescer, catalog: CatalogStore, overlay: Overlay | None = None) -> Plan:
    """Turn coalesced updates into a plan against what the catalog says the shop has now.

    ``overlay`` carries values planned by earlier chunks of the same run (the catalog does not know
    them yet); it is read as the current value and updated with this plan's changes."""
    plan = Plan()
    for loser, winner in coalesced.superseded.items():
        plan.outcomes.append(
            RowOutcome(loser, OutcomeStatus.UNCHANGED, f"superseded by {winner[0]}:{winner[1]}")
        )
    variants: dict[str, dict[str, FieldValue]] = {}
    products: dict[str, dict[str, FieldValue]] = {}
    for key, fields in coalesced.objects():
        (products if DESCRIPTION in fields or MEDIA in fields else variants)[key] = fields
    _plan_variants(plan, variants, catalog, {} if overlay is None else overlay)
    _plan_products(plan, products, catalog)
    return plan


def _resolve_variants(
    keys: list[str], catalog: CatalogStore
) -> dict[str, VariantRecord | Ambiguous]:
    by_id = catalog.variants_by_id(k for k in keys if not k.startswith("sku:"))
    by_sku = catalog.variants_by_sku(k[4:] for k in keys if k.startswith("sku:"))
    out: dict[str, VariantRecord | Ambiguous] = dict(by_id)
    out.update({f"sku:{sku}": rec for sku, rec in by_sku.items()})
    return out


def _money(value: object) -> str:
    """Shopify's Money input: a plain decimal string (``12.5`` and ``12.50`` are both valid).
    ``str`` of a Decimal is exact and 4× cheaper than formatting; only exponent notation, which
    Money does not accept, is rewritten."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


def _rows_of(fields: dict[str, FieldValue]) -> list[RowId]:
    """The distinct rows behind an object's fields, in input order."""
    slots = list(fields.values())
    if len(slots) == 1 and len(slots[0].rows) == 1:
        return slots[0].rows  # the common case: one row wrote one field
    return sorted({r for slot in slots for r in slot.rows})


def _reject_all(plan: Plan, fields: dict[str, FieldValue], reason: str) -> None:
    for row in _rows_of(fields):
        plan.outcomes.append(RowOutcome(row, OutcomeStatus.REJECTED, reason))


def _plan_variants(
    plan: Plan, objects: dict[str, dict[str, FieldValue]], catalog: CatalogStore, overlay: Overlay
) -> None:
    resolved = _resolve_variants(list(objects), catalog)
    per_product: dict[str, list[tuple[dict[str, Any], list[RowId]]]] = {}
    unchanged = OutcomeStatus.UNCHANGED
    for key, fields in objects.items():
        rec = resolved.get(key)
        if rec is None:
            what = f"SKU {key[4:]!r}" if key.startswith("sku:") else f"variant {key}"
            _reject_all(plan, fields, f"unknown {what}: not in the catalog (run `bulk catalog sync`?)")
            continue
        if isinstance(rec, Ambiguous):
            _reject_all(plan, fields, f"ambiguous SKU {rec.key!r}: {len(rec.matches)} variants share it; "
                        "use the variant ID")
            continue
        vid = rec.variant_id
        change: dict[str, Any] = {"id": vid}
        old: dict[str, Any] | None = None
        changed: list[RowId] = []
        earlier = overlay.get(vid)
        for name, original in ((PRICE, rec.price), (COMPARE_AT, rec.compare_at_price)):
            slot = fields.get(name)
            if slot is None:
                continue
            current = earlier[name] if earlier is not None and name in earlier else original
            new = slot.value
            if new == current:
                continue
            if current is original:  # the undo file keeps the shop's value from before the run
                if old is None:
                    old = {"variantId": vid, "productId": rec.product_id}
                old[name] = None if original is None else _money(original)
            if earlier is None:
                earlier = overlay[vid] = {}
            earlier[name] = new
            change[name] = None if new is None else _money(new)
            changed += slot.rows
        if not changed:
            for row in _rows_of(fields):
                plan.outcomes.append(RowOutcome(row, unchanged, "the shop already has this value"))
            continue
        rows = _rows_of(fields)
        if len(rows) > 1 or len(changed) > 1:  # one row may have changed two fields
            changed_set = set(changed)
            for row in rows:
                if row not in changed_set:
                    plan.outcomes.append(RowOutcome(row, unchanged, "the shop already has this value"))
            changed = sorted(changed_set)
        per_product.setdefault(rec.product_id, []).append((change, changed))
        if old is not None:
            plan.undo.append(old)
    for product_id, changes in per_product.items():
        for chunk in _chunks(changes, MAX_VARIANTS_PER_LINE):
            plan.lines.append(
                PlannedLine(
                    "variants",
                    {"productId": product_id, "variants": [c for c, _ in chunk]},
                    tuple(r for _, rows in chunk for r in rows),
                )
            )


def _plan_products(plan: Plan, objects: dict[str, dict[str, FieldValue]], catalog: CatalogStore) -> None:
    handles = [k[7:] for k in objects if k.startswith("handle:")]
    by_handle = catalog.products_by_handle(handles)
    by_id = catalog.products_by_id(k for k in objects if not k.startswith("handle:"))
    for key, fields in objects.items():
        rec = by_handle.get(key[7:]) if key.startswith("handle:") else by_id.get(key)
        if rec is None:
            _reject_all(plan, fields, f"unknown product {key}: not in the catalog (run `bulk catalog sync`?)")
            continue
        if isinstance(rec, Ambiguous):
            _reject_all(plan, fields, f"ambiguous handle {rec.key!r}: use the product ID")
            continue
        variables: dict[str, Any] = {"product": {"id": rec.product_id}}
        rows: set[RowId] = set()
        if (slot := fields.get(DESCRIPTION)) is not None:
            variables["product"]["descriptionHtml"] = slot.value
            rows.update(slot.rows)
        if (slot := fields.get(MEDIA)) is not None:
            media: tuple[str, tuple[Image, ...]] = slot.value  # type: ignore[assignment]
            mode, images = media
            if mode == "replace":
                _reject_all(plan, {MEDIA: slot}, "image mode 'replace' is not supported yet; use 'append'")
            else:
                variables["media"] = [_media(img) for img in images]
                rows.update(slot.rows)
        if rows:
            plan.lines.append(PlannedLine("product", variables, tuple(sorted(rows))))


def _media(image: Image) -> dict[str, str]:
    return {"originalSource": image.url, "alt": image.alt, "mediaContentType": "IMAGE"}


def _chunks(items: list[_T], size: int) -> Iterator[list[_T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
