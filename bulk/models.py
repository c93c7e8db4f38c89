"""The update kinds every source produces (CSV/JSONL readers, SQL, library calls), lanes and outcomes.

One input row becomes one update; each update remembers where it came from (:class:`Source`) so every
outcome, error and report line can name the file and line. Money is :class:`~decimal.Decimal`, never
float. Models are frozen: the planner coalesces them, it never edits them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Lane(enum.IntEnum):
    """Scheduler priority; a lower number is served first."""

    URGENT = 0  # inventory that must reach the shop within a second or two
    NORMAL = 1  # small direct batches of mass changes
    BULK = 2  # bulk-operation control calls (staged upload, run, poll)
    BACKGROUND = 3  # what may wait for every other lane: reading back a run's new images (media_check)


class Source(BaseModel):
    """Where an update came from: a file and 1-based line, or a library call's index."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int


class _Update(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source


class VariantRef(BaseModel):
    """A product variant, by GID, by SKU (SKUs may be ambiguous in a shop: resolution checks), or — for
    variants without a SKU, as Shopify's own CSV import identifies them — by its product's URL handle
    and its option values in option order (``Option1 Value``, ``Option2 Value``…; trailing empty
    options omitted, e.g. ``("Default Title",)`` for a product without options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: str | None = None
    sku: str | None = None
    handle: str | None = None
    options: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_key(self) -> VariantRef:
        if bool(self.handle) != bool(self.options):
            raise ValueError("a handle and option values name a variant together: give both")
        if not (self.variant_id or self.sku or self.handle):
            raise ValueError("a variant needs a variant_id, a sku, or a handle and option values")
        return self

    def key(self) -> str:
        """A stable identity for coalescing: the GID when known, else ``sku:…``, else ``options:`` and
        the JSON array of the handle and option values (unambiguous whatever the values hold)."""
        if self.variant_id or self.sku:
            return self.variant_id or f"sku:{self.sku}"
        named = [self.handle, *self.options]
        return "options:" + json.dumps(named, ensure_ascii=False, separators=(",", ":"))


class ProductRef(BaseModel):
    """A product, by GID or by URL handle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str | None = None
    handle: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ProductRef:
        if not (self.product_id or self.handle):
            raise ValueError("a product needs a product_id or a handle")
        return self

    def key(self) -> str:
        """A stable identity for coalescing: the GID when known, else ``handle:…``."""
        return self.product_id or f"handle:{self.handle}"


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


class PriceUpdate(_Update):
    """New price and/or compare-at price of one variant. ``None`` = leave as is;
    ``clear_compare_at`` removes the compare-at price."""

    kind: Literal["price"] = "price"
    variant: VariantRef
    price: Money | None = None
    compare_at_price: Money | None = None
    clear_compare_at: bool = False

    @model_validator(mode="after")
    def _changes_something(self) -> PriceUpdate:
        if self.price is None and self.compare_at_price is None and not self.clear_compare_at:
            raise ValueError("a price update needs a price or a compare-at price")
        return self


class DescriptionUpdate(_Update):
    """New description (HTML) of one product."""

    kind: Literal["description"] = "description"
    product: ProductRef
    description_html: str


class Image(BaseModel):
    """One image by URL, with its alt text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Annotated[str, Field(pattern=r"^https?://")]
    alt: str = ""


class ImageUpdate(_Update):
    """Images of one product: appended to its media, or replacing all of it."""

    kind: Literal["image"] = "image"
    product: ProductRef
    images: tuple[Image, ...]
    mode: Literal["append", "replace"] = "append"
    more_lines: tuple[int, ...] = ()  # further rows of the same file whose images this update carries
    # (a product CSV's continuation rows): they share its outcome


class InventoryUpdate(_Update):
    """Set the available quantity of one inventory item at one location.

    ``change_from`` makes it a compare-and-set: applied only if the shop still has that quantity.
    """

    kind: Literal["inventory"] = "inventory"
    inventory_item_id: str | None = None
    sku: str | None = None
    location_id: str | None = None
    location_name: str | None = None
    quantity: int
    change_from: int | None = None

    @model_validator(mode="after")
    def _identified(self) -> InventoryUpdate:
        if not (self.inventory_item_id or self.sku):
            raise ValueError("an inventory change needs an inventory_item_id or a sku")
        if not (self.location_id or self.location_name):
            raise ValueError("an inventory change needs a location_id or a location_name")
        return self


Update = PriceUpdate | DescriptionUpdate | ImageUpdate | InventoryUpdate


class OutcomeStatus(enum.StrEnum):
    """Every input row ends in exactly one of these (invariant 5). Per-row code reads the text from
    :data:`STATUS_TEXT`: ``status.value`` is an enum descriptor call, 10x a dict lookup, and a million
    rows of report and journal records spent seconds in it."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"  # a no-op: the shop already had the value, or a later row superseded it
    REJECTED = "rejected"


STATUS_TEXT: dict[OutcomeStatus, str] = {s: s.value for s in OutcomeStatus}


class RowError(BaseModel):
    """A rejected input row: file, line, column and a reason a person can act on."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    column: str | int | None = None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f":{self.column}" if self.column is not None else "")
        return f"{where}: {self.reason}"


class RowNote(RowError):
    """A data row that carries nothing to change (only ignored columns, an untracked quantity, empty
    cells): its outcome is decided at reading — ``unchanged`` with this reason, not an error (readers
    do not count it against ``max_errors``). A subclass of :class:`RowError` so that every stream of
    updates and row errors can carry it unchanged; consumers that tell outcomes apart check it first."""

    reason: str = "nothing to change on this row"


RowId = tuple[str, int]
"""An input row: (file, 1-based line)."""

Outcomes = dict[RowId, tuple[OutcomeStatus, str]]
"""Every row's outcome and reason (empty when there is none), as a run reports them."""

OnEvent = Callable[[str, dict[str, Any]], None]
"""A progress callback: an event's name and its figures (the CLI's display, a run handle, a bench)."""
