"""Typed values → :mod:`bulk.models` updates.

Why a module: this is the one place where reader output becomes model instances, so the cost of
validation is paid (and measured) here. Every value arriving here was already checked by
:mod:`bulk.ingest.values`, whose rules are stricter than the models'. Full pydantic validation of a
price row costs ~6 µs — most of the ingest budget at 1.5M rows — so :func:`price`, the hot path,
builds the (frozen) models with ``model_construct`` semantics from proven values; the rarer kinds go
through full validation. ``tests/unit/test_ingest_build.py`` checks with Hypothesis that both routes
give equal models for every input the value parsers accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from bulk.models import (
    DescriptionUpdate,
    Image,
    ImageUpdate,
    InventoryUpdate,
    PriceUpdate,
    ProductRef,
    Source,
    VariantRef,
)

_set = object.__setattr__
_new = object.__new__


def price(
    file: str,
    line: int,
    sku: str | None,
    variant_id: str | None,
    price: Decimal | None,
    compare_at: Decimal | None,
    clear_compare_at: bool,
) -> PriceUpdate:
    """A price update from proven values (at least one of sku/variant_id, of price/compare/clear).

    The hot path of a 1.5M-row file. It does what ``model_construct`` does (set ``__dict__``, the
    fields-set and the empty extra/private slots) without pydantic's per-call field inspection, which
    costs more than validating. Equality with :func:`price_validated` is tested.
    """
    source = _new(Source)
    _set(source, "__dict__", {"file": file, "line": line})
    _set(source, "__pydantic_fields_set__", {"file", "line"})
    _set(source, "__pydantic_extra__", None)
    _set(source, "__pydantic_private__", None)
    variant = _new(VariantRef)
    _set(variant, "__dict__", {"variant_id": variant_id, "sku": sku, "handle": None, "options": ()})
    if variant_id is None:
        _set(variant, "__pydantic_fields_set__", {"sku"})
    else:
        _set(variant, "__pydantic_fields_set__", {"variant_id"} if sku is None else {"sku", "variant_id"})
    _set(variant, "__pydantic_extra__", None)
    _set(variant, "__pydantic_private__", None)
    update_set = {"source", "variant"}
    if price is not None:
        update_set.add("price")
    if compare_at is not None:
        update_set.add("compare_at_price")
    if clear_compare_at:
        update_set.add("clear_compare_at")
    result: PriceUpdate = _new(PriceUpdate)
    _set(result, "__dict__", {
        "source": source,
        "kind": "price",
        "variant": variant,
        "price": price,
        "compare_at_price": compare_at,
        "clear_compare_at": clear_compare_at,
    })
    _set(result, "__pydantic_fields_set__", update_set)
    _set(result, "__pydantic_extra__", None)
    _set(result, "__pydantic_private__", None)
    return result


def price_validated(
    file: str,
    line: int,
    sku: str | None,
    variant_id: str | None,
    price: Decimal | None,
    compare_at: Decimal | None,
    clear_compare_at: bool,
) -> PriceUpdate:
    """:func:`price` through full pydantic validation: the reference the fast path is tested against."""
    data: dict[str, Any] = {"source": {"file": file, "line": line}, "variant": {}}
    if sku is not None:
        data["variant"]["sku"] = sku
    if variant_id is not None:
        data["variant"]["variant_id"] = variant_id
    if price is not None:
        data["price"] = price
    if compare_at is not None:
        data["compare_at_price"] = compare_at
    if clear_compare_at:
        data["clear_compare_at"] = True
    return PriceUpdate.model_validate(data)


def price_by_options(
    file: str,
    line: int,
    handle: str,
    options: tuple[str, ...],
    price: Decimal | None,
    compare_at: Decimal | None,
    clear_compare_at: bool,
) -> PriceUpdate:
    """A price update for a variant without a SKU, named by its product handle and option values
    (validated: such rows are the exception, not the 1.5M-row hot path)."""
    return PriceUpdate(
        source=Source(file=file, line=line),
        variant=VariantRef(handle=handle, options=options),
        price=price,
        compare_at_price=compare_at,
        clear_compare_at=clear_compare_at,
    )


def description(
    file: str, line: int, handle: str | None, product_id: str | None, html: str
) -> DescriptionUpdate:
    """A description update (validated: these are one per product, not per variant)."""
    return DescriptionUpdate(
        source=Source(file=file, line=line),
        product=ProductRef(product_id=product_id, handle=handle),
        description_html=html,
    )


def image(url: str, alt: str) -> Image:
    """One image of a product group."""
    return Image(url=url, alt=alt)


def images(
    file: str,
    line: int,
    handle: str | None,
    product_id: str | None,
    items: list[Image],
    mode: Literal["append", "replace"],
    *,
    more_lines: Sequence[int] = (),
) -> ImageUpdate:
    """The images of one product group, sourced at the group's first line (and carrying the other
    lines that added an image, which share its outcome)."""
    return ImageUpdate(
        source=Source(file=file, line=line),
        product=ProductRef(product_id=product_id, handle=handle),
        images=tuple(items),
        mode=mode,
        more_lines=tuple(more_lines),
    )


def inventory(
    file: str,
    line: int,
    item_id: str | None,
    sku: str | None,
    location_id: str | None,
    location_name: str | None,
    quantity: int,
    change_from: int | None,
) -> InventoryUpdate:
    """A set-quantity update (validated: inventory rows are few and urgent, not the bulk path)."""
    return InventoryUpdate(
        source=Source(file=file, line=line),
        inventory_item_id=item_id,
        sku=sku,
        location_id=location_id,
        location_name=location_name,
        quantity=quantity,
        change_from=change_from,
    )
