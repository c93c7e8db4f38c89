"""Resolve coalesced objects against the catalog cache, drop no-ops, and emit mutation lines.

Input: a :class:`~bulk.plan._coalesce.Coalescer` (last write per object field). Output: a
:class:`Plan` — mutation lines (one ``productVariantsBulkUpdate`` per product, variants grouped, at
most 250 per line; one ``productUpdate`` per product for its description and appended images, or one
``productSet`` when its image set is replaced: :mod:`bulk.plan._products`), the old values for the undo
file, and the final outcome of every row that will *not* be sent (unknown or ambiguous key,
unchanged value, superseded by a later row). Rows that are sent get their outcome from the result.

Pure: reads the catalog, writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any, Literal

from bulk.catalog import Ambiguous, CatalogStore, PriceColumns
from bulk.ingest.values import money_text
from bulk.models import Image, OutcomeStatus
from bulk.plan._coalesce import (
    COMPARE_AT,
    DESCRIPTION,
    MEDIA,
    PRICE,
    UNSET,
    Coalescer,
    FieldValue,
    RowId,
    VariantFields,
    variant_keys,
)
from bulk.plan._products import ProductOverlay, ShopState, fill_undo, plan_product

MAX_VARIANTS_PER_LINE = 250  # Shopify's input-list limit

LineKind = Literal["variants", "product", "media", "set"]
SAME = "the shop already has this value"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanStatistics:
    """A snapshot of one plan: lines to send, the rows they carry, rows already decided by status."""

    lines: int
    rows_in_lines: int
    applied: int
    unchanged: int
    rejected: int


@dataclass(frozen=True, slots=True)
class PlannedLine:
    """One mutation's variables, and the input rows whose outcome it decides."""

    # "variants" → productVariantsBulkUpdate; "product" (a description) and "media" (images appended, a
    # description too maybe) → productUpdate; "set" (an image set) → productSet
    kind: LineKind
    variables: dict[str, Any]
    rows: tuple[RowId, ...]
    media_rows: tuple[RowId, ...] = ()  # the rows of images it adds (their verdict: bulk.lanes.media_check)


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

    def statistics(self) -> PlanStatistics:
        """Lines to send and rows already decided, by status."""
        by_status = {s: 0 for s in OutcomeStatus}
        for o in self.outcomes:
            by_status[o.status] += 1
        return PlanStatistics(lines=len(self.lines), rows_in_lines=sum(len(x.rows) for x in self.lines),
                              applied=by_status[OutcomeStatus.APPLIED],
                              unchanged=by_status[OutcomeStatus.UNCHANGED],
                              rejected=by_status[OutcomeStatus.REJECTED])


@dataclass(frozen=True, slots=True)
class LookedUp:
    """A chunk's variants as worked out ahead by the process that reads the file
    (:mod:`bulk.sources._reader_process`): their catalog rows, in the order the coalescer sees them, and
    which of them the run named before (``named_before[i]`` is 1) — only those can be in the overlay,
    so the others skip a lookup in its millions of entries."""

    shop: PriceColumns
    named_before: bytes

    @classmethod
    def of_chunk(cls, catalog: CatalogStore, chunk: Iterable[object], named: set[int]) -> LookedUp:
        """A chunk's variants in the catalog, and which of them the run ``named`` before (hashes of
        their GIDs, updated here: a collision only costs the planner a needless overlay lookup)."""
        shop = catalog.price_columns(variant_keys(chunk))
        flags = bytearray(len(shop))
        for i, variant_id in enumerate(shop.variant_ids):
            if variant_id is not None:
                tag = hash(variant_id)
                if tag in named:
                    flags[i] = 1
                else:
                    named.add(tag)
        return cls(shop, bytes(flags))


class _Amounts(dict[str, Decimal]):
    """Money text → Decimal, each distinct text parsed once: a file has few distinct prices, and
    parsing is most of what comparing amounts exactly costs."""

    def __missing__(self, text: str) -> Decimal:
        value = self[text] = Decimal(text)
        return value


class _MoneyTexts(dict[str, str]):
    """The catalog's amount text → Money input text, as the undo file writes it: each text once."""

    def __missing__(self, text: str) -> str:
        value = self[text] = money_text(Decimal(text))
        return value


_MAX_CACHED = 100_000  # distinct amounts kept parsed across chunks (a shop has far fewer prices)


@dataclass
class Overlay:
    """Values planned by earlier chunks of this run, by variant GID: the catalog does not know them yet.

    Two flat maps of money text (not a dict per variant): at 1.5M variants this is the run's largest
    state. It also keeps the amounts parsed so far, so each distinct price is parsed once a run."""

    prices: dict[str, str] = field(default_factory=dict)
    compare_ats: dict[str, str | None] = field(default_factory=dict)  # None: cleared
    amounts: _Amounts = field(default_factory=lambda: _Amounts(), repr=False, compare=False)
    undo_texts: _MoneyTexts = field(default_factory=lambda: _MoneyTexts(), repr=False, compare=False)
    products: ProductOverlay = field(default_factory=ProductOverlay)  # descriptions, image sets


def build_plan(
    coalesced: Coalescer,
    catalog: CatalogStore,
    overlay: Overlay | None = None,
    known: LookedUp | None = None,
) -> Plan:
    """Turn coalesced updates into a plan against what the catalog says the shop has now.

    ``overlay`` carries values planned by earlier chunks of the same run (the catalog does not know
    them yet); it is read as the current value and updated with this plan's changes. ``known``: the
    catalog rows of exactly these variants, looked up ahead; otherwise they are looked up here."""
    plan = Plan()
    for loser, winner in coalesced.superseded.items():
        plan.outcomes.append(
            RowOutcome(loser, OutcomeStatus.UNCHANGED, f"superseded by {winner[0]}:{winner[1]}")
        )
    overlay = Overlay() if overlay is None else overlay
    _plan_variants(plan, coalesced.variants, catalog, known, overlay)
    _plan_products(plan, dict(coalesced.products()), catalog, overlay.products)
    return plan


def _differs(new: str | None, before: str | None, amounts: _Amounts) -> bool:
    """Different amounts (``12.5`` is ``12.50``); ``None`` (no compare-at price) equals only ``None``."""
    return new != before and (new is None or before is None or amounts[new] != amounts[before])


def _variant_rows(price_row: RowId | None, compare_row: RowId | None) -> tuple[RowId, ...]:
    """The distinct rows behind a variant's fields, in input order."""
    if price_row is None:
        return (compare_row,)  # type: ignore[return-value]  # a slot has at least one field
    if compare_row is None or compare_row == price_row:
        return (price_row,)
    return (price_row, compare_row) if price_row < compare_row else (compare_row, price_row)


def _unresolved(key: str, found: Ambiguous | None) -> str:
    if found is None:
        what = f"SKU {key[4:]!r}" if key.startswith("sku:") else f"variant {key}"
        return f"unknown {what}: not in the catalog (run `bulk catalog sync`?)"
    if key.startswith("options:"):  # a variant without SKU, by handle + option values
        return (f"ambiguous variant {key}: {len(found.matches)} variants of that product have these option "
                "values; use the variant ID or a SKU")
    return f"ambiguous SKU {found.key!r}: {len(found.matches)} variants share it; use the variant ID"


def _plan_variants(
    plan: Plan, variants: dict[str, VariantFields], catalog: CatalogStore, known: LookedUp | None,
    overlay: Overlay
) -> None:
    """The hot loop of planning, one pass per variant: kept flat on purpose (a call costs as much as
    a line here). The price field is compared inline; the rarer compare-at field through helpers."""
    keys = list(variants)
    if known is not None and known.shop.keys == keys:
        shop, named_before = known.shop, known.named_before
    else:
        shop, named_before = catalog.price_columns(keys), b"\x01" * len(keys)  # any may be in the overlay
    amounts, undo_texts = overlay.amounts, overlay.undo_texts
    for cache in (amounts, undo_texts):
        if len(cache) > _MAX_CACHED:
            cache.clear()
    outcomes, unchanged = plan.outcomes, OutcomeStatus.UNCHANGED
    planned_prices, planned_compares = overlay.prices, overlay.compare_ats
    per_product: dict[str, list[tuple[dict[str, Any], tuple[RowId, ...]]]] = {}
    for i, ((price, price_row, compare, compare_row), vid, product_id, shop_price, shop_compare) in enumerate(
        zip(variants.values(), shop.variant_ids, shop.product_ids, shop.prices, shop.compare_ats, strict=True)
    ):
        rows = (price_row,) if compare_row is None else _variant_rows(price_row, compare_row)
        if vid is None or product_id is None:
            reason = _unresolved(keys[i], shop.ambiguous.get(i))
            outcomes.extend(RowOutcome(row, OutcomeStatus.REJECTED, reason) for row in rows)
            continue
        change: dict[str, Any] = {"id": vid}
        old: dict[str, Any] | None = None  # the undo file keeps the shop's value from before the run
        sent_price = sent_compare = False
        if price is not UNSET:
            before = planned_prices.get(vid, UNSET) if named_before[i] else UNSET
            first = before is UNSET
            if first:
                before = shop_price
            if price != before and (before is None or amounts[price] != amounts[before]):
                change[PRICE] = planned_prices[vid] = price
                sent_price = True
                if first:
                    old = {"variantId": vid, "productId": product_id,
                           PRICE: None if shop_price is None else undo_texts[shop_price]}
        if compare is not UNSET:
            first = not named_before[i] or vid not in planned_compares
            if _differs(compare, shop_compare if first else planned_compares[vid], amounts):
                change[COMPARE_AT] = planned_compares[vid] = compare
                sent_compare = True
                if first:
                    old = old or {"variantId": vid, "productId": product_id}
                    old[COMPARE_AT] = None if shop_compare is None else undo_texts[shop_compare]
        if not (sent_price or sent_compare):
            outcomes.extend(RowOutcome(row, unchanged, SAME) for row in rows)
            continue
        if len(rows) > 1 and not (sent_price and sent_compare):  # two rows, one wrote the same value
            kept = compare_row if sent_price else price_row
            outcomes.append(RowOutcome(kept, unchanged, SAME))
            rows = (price_row,) if sent_price else (compare_row,)
        changes = per_product.get(product_id)
        if changes is None:
            per_product[product_id] = [(change, rows)]
        else:
            changes.append((change, rows))
        if old is not None:
            plan.undo.append(old)
    lines = plan.lines
    for product_id, changes in per_product.items():
        if len(changes) == 1:  # most products: one changed variant
            change, rows = changes[0]
            lines.append(PlannedLine("variants", {"productId": product_id, "variants": [change]}, rows))
            continue
        for at in range(0, len(changes), MAX_VARIANTS_PER_LINE):
            part = changes[at : at + MAX_VARIANTS_PER_LINE]
            variables = {"productId": product_id, "variants": [c for c, _ in part]}
            lines.append(PlannedLine("variants", variables, tuple(chain.from_iterable([r for _, r in part]))))


def _rows_of(fields: dict[str, FieldValue]) -> list[RowId]:
    """The distinct rows behind a product's fields, in input order."""
    slots = list(fields.values())
    if len(slots) == 1 and len(slots[0].rows) == 1:
        return slots[0].rows  # the common case: one row wrote one field
    return sorted({r for slot in slots for r in slot.rows})


def _reject_all(plan: Plan, fields: dict[str, FieldValue], reason: str) -> None:
    for row in _rows_of(fields):
        plan.outcomes.append(RowOutcome(row, OutcomeStatus.REJECTED, reason))


def _plan_products(plan: Plan, objects: dict[str, dict[str, FieldValue]], catalog: CatalogStore,
                   overlay: ProductOverlay) -> None:
    """Resolve each product, then decide its description and image set (:mod:`bulk.plan._products`)."""
    handles = [k[7:] for k in objects if k.startswith("handle:")]
    by_handle = catalog.products_by_handle(handles)
    by_id = catalog.products_by_id(k for k in objects if not k.startswith("handle:"))
    resolved: list[tuple[str, dict[str, FieldValue]]] = []
    for key, fields in objects.items():
        rec = by_handle.get(key[7:]) if key.startswith("handle:") else by_id.get(key)
        if rec is None:
            _reject_all(plan, fields, f"unknown product {key}: not in the catalog (run `bulk catalog sync`?)")
        elif isinstance(rec, Ambiguous):
            _reject_all(plan, fields, f"ambiguous handle {rec.key!r}: use the product ID")
        else:
            resolved.append((rec.product_id, fields))
    shop = ShopState.load(catalog, [p for p, f in resolved if DESCRIPTION in f],
                          [p for p, f in resolved if MEDIA in f])
    undo: list[dict[str, Any]] = []
    for product_id, fields in resolved:
        described = fields.get(DESCRIPTION)
        imaged = fields.get(MEDIA)
        media: tuple[str, tuple[Image, ...]] | None = imaged.value if imaged else None  # type: ignore[assignment]
        decided = plan_product(
            product_id,
            None if described is None else (str(described.value), described.rows),
            None if media is None or imaged is None else (media[0], media[1], imaged.rows),
            shop, overlay)
        plan.outcomes += (RowOutcome(row, OutcomeStatus.UNCHANGED, why) for row, why in decided.unchanged)
        if decided.kind is not None:
            plan.lines.append(PlannedLine(decided.kind, decided.variables, tuple(decided.rows),
                                          tuple(decided.media_rows)))
        undo += decided.undo
    fill_undo(undo, catalog)
    plan.undo += undo
