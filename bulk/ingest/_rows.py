"""One CSV record (canonical fields) → updates, with rows grouped by product.

Why grouping: a Shopify export spreads one product over several rows that share its handle — the
first carries the description, each may carry one image — so a :class:`RowBuilder` keeps the current
:class:`~bulk.ingest._groups.ProductGroup` and emits its images when the handle changes. The same rules
serve every dialect (each cell is parsed by :mod:`bulk.ingest._cells`):

- A row with any bad cell yields only its errors: nothing from a half-understood row is sent.
- A price or quantity needs a variant (SKU or variant ID; inventory item ID for quantities); a row
  without one gets an error for that part only — its description or image (product-level) still apply.
  A price row of a Shopify export without a SKU names its variant as Shopify's own import does: by
  the product handle and the option values (``Option1 Value``…), a :class:`~bulk.models.VariantRef`
  the catalog resolves.
- A product's description comes from its first row with a non-empty body; another body later in the
  same group is a conflict, reported. An empty body means "no change", never "erase".
- Images are appended unless told to replace (``image_mode`` / Matrixify ``Image Command``).
- Inventory needs a quantity and a location (column or option); a row whose inventory-tracker column
  is empty is untracked in Shopify: skipped and counted, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Literal

from bulk.ingest import _build
from bulk.ingest._cells import Cells, Counters
from bulk.ingest._groups import MAX_IMAGES, ProductGroup
from bulk.ingest.batch import MoneyTexts, PriceRows, plain_price
from bulk.ingest.dialects import OPTIONS, ColumnMap, Field
from bulk.ingest.values import (
    Rejected,
    parse_location,
    parse_quantity,
    parse_url,
)
from bulk.models import Image, RowError, RowNote, Update

Out = list[Update | RowError]
_COMMANDS_OK = {"", "MERGE", "UPDATE"}
_PRICE_ONLY = {Field.SKU, Field.VARIANT_ID, Field.PRICE, Field.COMPARE_AT}


class RowBuilder:
    """Turns the records of one file into updates; call :meth:`finish` after the last record."""

    def __init__(
        self,
        columns: ColumnMap,
        *,
        file: str,
        kinds: Collection[str],
        location: str | None,
        image_mode: Literal["append", "replace"],
        counters: Counters,
        decimal_comma: bool = False,
        notes: bool = False,
    ) -> None:
        self.columns = columns
        self.decimal_comma = decimal_comma  # the delimiter is ';' or tab: see values.parse_money
        self.file = file
        self.default_location = parse_location(location) if location else (None, None)
        self.image_mode = image_mode
        self.counters = counters
        self.notes = notes  # a RowNote for each row that carries nothing to change
        self._group: ProductGroup | None = None
        self._present = tuple(columns.index.items())
        self._options = tuple(columns.index[f] for f in OPTIONS if f in columns.index)
        self._unlocated = (columns.unlocated_quantity, columns.unlocated_tracker)
        self._money_texts = MoneyTexts()
        self._cells = Cells(columns, counters, decimal_comma=decimal_comma)  # one cell → value or error
        ix = columns.index
        # Price-only files (the 1.5M-row case) take a short path for plain rows: see _feed_prices.
        fast = Field.PRICE in ix and (Field.SKU in ix or Field.VARIANT_ID in ix) and set(ix) <= _PRICE_ONLY
        self._fast_ix = (ix.get(Field.SKU, -1), ix.get(Field.VARIANT_ID, -1), ix.get(Field.PRICE, -1),
                         ix.get(Field.COMPARE_AT, -1))
        self.price_only = fast  # plain rows may go to :meth:`take_plain_price`
        self.feed_record: Callable[[int, list[str]], Out] = self._feed_prices if fast else self.feed

    def __repr__(self) -> str:
        group = self._group.key if self._group else None
        return f"<RowBuilder dialect={self.columns.dialect.name} group={group!r}>"

    def _col(self, f: Field) -> str | None:
        return self.columns.name(f) if f in self.columns.index else None

    def _feed_prices(self, line: int, cells: list[str]) -> Out:
        """:meth:`feed` for price-only files: a plain row (see :func:`~bulk.ingest.batch.plain_price`)
        is built directly, any other goes through :meth:`feed`. Equivalence is property-tested."""
        plain = plain_price(cells, self._fast_ix)
        if plain is None:
            return self.feed(line, cells)
        sku, variant_id, price, compare = plain
        self.counters.updates["price"] += 1
        amount, compare_at = Decimal(price), Decimal(compare) if compare else None
        return [_build.price(self.file, line, sku, variant_id, amount, compare_at, False)]

    def take_plain_price(self, batch: PriceRows, line: int, cells: list[str]) -> bool:
        """Add the row to ``batch`` if it is a plain price row (:attr:`price_only` files only), as the
        update :meth:`feed` would make of it; False for any other row, which the caller feeds."""
        plain = plain_price(cells, self._fast_ix)
        if plain is None:
            return False
        sku, variant_id, price, compare = plain
        self.counters.updates["price"] += 1
        texts = self._money_texts
        batch.append(line, sku, variant_id, texts[price], texts[compare] if compare else None)
        return True

    def feed(self, line: int, cells: list[str]) -> Out:
        """Updates (or errors) from one record; may first close the previous product group."""
        get = {f: cells[i] for f, i in self._present}.get
        errors: list[RowError] = []

        def bad(f: Field, reason: str) -> None:
            errors.append(RowError(file=self.file, line=line, column=self._col(f), reason=reason))

        sku = self._cells.code(get(Field.SKU, ""), "SKU", Field.SKU, bad)
        self._cells.code(get(Field.BARCODE, ""), "barcode", Field.BARCODE, bad)
        variant_id = self._cells.gid(get(Field.VARIANT_ID, ""), "ProductVariant", Field.VARIANT_ID, bad)
        product_id = self._cells.gid(get(Field.PRODUCT_ID, ""), "Product", Field.PRODUCT_ID, bad)
        handle = get(Field.HANDLE, "").strip() or None
        for f in (Field.COMMAND, Field.VARIANT_COMMAND):
            if (command := get(f, "").strip().upper()) not in _COMMANDS_OK:
                bad(f, f"command {command!r} is not supported: this tool only updates existing products")
        out: Out = []
        key = product_id or (f"handle:{handle}" if handle else None)
        if self._group is not None and self._group.key != key:
            out.extend(self._close())
        if key is not None and self._group is None:
            self._group = ProductGroup(key, handle, product_id, line)
        group = self._group
        plan: list[Callable[[], Update]] = []
        unidentified: list[str] = []  # kinds this row asks for without saying which variant/item

        price_text, compare_text = get(Field.PRICE, "").strip(), get(Field.COMPARE_AT, "").strip()
        if price_text or compare_text:
            clear = compare_text.lower() == "clear"
            price = self._cells.money(price_text, Field.PRICE, bad)
            compare = None if clear else self._cells.money(compare_text, Field.COMPARE_AT, bad)
            if sku or variant_id:
                plan.append(lambda: _build.price(self.file, line, sku, variant_id, price, compare, clear))
            elif handle and (options := self._option_values(cells)):
                plan.append(lambda: _build.price_by_options(self.file, line, handle, options, price, compare,
                                                           clear))
            else:
                unidentified.append("price")

        body = get(Field.DESCRIPTION, "")
        has_body = bool(body.strip())
        if has_body:
            if group is None:
                bad(Field.DESCRIPTION, "a description needs a handle or product ID on the same row")
            elif group.description_line is not None:
                bad(Field.DESCRIPTION,
                    f"a second description for this product (the first is on line {group.description_line})")
            else:
                plan.append(lambda: _build.description(self.file, line, handle, product_id, body))

        image: Image | None = None
        mode: Literal["append", "replace"] | None = None  # None: as the product's other rows, or default
        if src := get(Field.IMAGE_SRC, "").strip():
            url = parse_url(src)
            if isinstance(url, Rejected):
                bad(Field.IMAGE_SRC, url.reason)
            elif group is None:
                bad(Field.IMAGE_SRC, "an image needs a handle or product ID on the same row")
            elif len(group.images) >= MAX_IMAGES:
                bad(Field.IMAGE_SRC, f"more than {MAX_IMAGES} images for one product")
            else:
                image = _build.image(url, get(Field.IMAGE_ALT, "").strip())
            mode = self._cells.mode(get(Field.IMAGE_MODE, "") or get(Field.IMAGE_COMMAND, ""), bad)
            if group is not None and group.mode is not None and mode is not None and mode != group.mode:
                bad(Field.IMAGE_SRC, f"image mode {mode!r} differs from {group.mode!r} above")

        untracked = False
        if self._unlocated[0] >= 0:
            self._count_unlocated(cells)
        if quantity_text := get(Field.QUANTITY, "").strip():
            untracked = self._inventory(line, get, quantity_text, sku, bad, plan, unidentified)

        if errors:
            if group is not None and group.rejected_line is None:
                group.rejected_line = line
            return [*out, *errors]
        self.counters.untracked_skipped += untracked
        if group is not None:
            if image is not None:
                if group.image_line:
                    group.more_image_lines.append(line)
                group.image_line = group.image_line or line
                group.images.append(image)
                group.mode = group.mode or mode
            if has_body:
                group.description_line = line
        if unidentified:
            column = self._col(Field.SKU) or self._col(Field.VARIANT_ID) or self._col(Field.INVENTORY_ITEM_ID)
            what = " and ".join(unidentified)
            reason = f"no SKU or variant ID on this row: its {what} change cannot be applied"
            if "price" in unidentified and self._options:
                reason += " (nor a handle with option values, which name a variant without a SKU)"
            out.append(RowError(file=self.file, line=line, column=column, reason=reason))
        for make in plan:
            update = make()
            self.counters.updates[update.kind] += 1
            if update.kind == "price" and update.variant.options:
                self.counters.variants_by_options += 1
            out.append(update)
        if self.notes and not plan and not unidentified and image is None and not has_body:
            out.append(RowNote(file=self.file, line=line))  # still one outcome: unchanged (invariant 5)
        return out

    def _option_values(self, cells: list[str]) -> tuple[str, ...]:
        """The row's option values in option order, trailing empty ones dropped (``()``: none)."""
        values = [cells[i].strip() for i in self._options]
        while values and not values[-1]:
            values.pop()
        return tuple(values)

    def _count_unlocated(self, cells: list[str]) -> None:
        """Count a quantity this file carries but cannot apply (no location); untracked ones are not
        requests (Shopify does not track them) and are not counted."""
        quantity, tracker = self._unlocated
        if cells[quantity].strip() and (tracker < 0 or cells[tracker].strip()):
            self.counters.quantities_not_applied += 1

    def _inventory(
        self,
        line: int,
        get: Callable[[Field, str], str],
        quantity_text: str,
        sku: str | None,
        bad: Callable[[Field, str], None],
        plan: list[Callable[[], Update]],
        unidentified: list[str],
    ) -> bool:
        """Plan this row's inventory update; True if it is skipped as untracked."""
        if Field.INVENTORY_TRACKER in self.columns.index and not get(Field.INVENTORY_TRACKER, "").strip():
            return True
        quantity = parse_quantity(quantity_text)
        change_from = parse_quantity(text) if (text := get(Field.CHANGE_FROM, "").strip()) else None
        item_id = self._cells.gid(
            get(Field.INVENTORY_ITEM_ID, ""), "InventoryItem", Field.INVENTORY_ITEM_ID, bad)
        location_id, location_name = self.default_location
        if where := get(Field.LOCATION, "").strip():
            location_id, location_name = parse_location(where)
        if isinstance(quantity, Rejected):
            bad(Field.QUANTITY, quantity.reason)
        elif isinstance(change_from, Rejected):
            bad(Field.CHANGE_FROM, change_from.reason)
        elif not (location_id or location_name):
            bad(Field.LOCATION if Field.LOCATION in self.columns.index else Field.QUANTITY,
                "no location for this quantity: fill the location column or pass the location option")
        elif not (item_id or sku):
            unidentified.append("inventory")
        else:
            plan.append(lambda: _build.inventory(
                self.file, line, item_id, sku, location_id, location_name, quantity, change_from))
        return False

    def _close(self) -> Out:
        """End the current product group: its images become one update (or one error)."""
        group, self._group = self._group, None
        if group is None:
            return []
        column = self._col(Field.IMAGE_SRC)
        result = group.close(file=self.file, default_mode=self.image_mode, image_column=column)
        if result is None:
            return []
        if not isinstance(result, RowError):
            self.counters.updates["image"] += 1
        return [result]

    def finish(self) -> Out:
        """Close the last product group (call once, after the last record)."""
        return self._close()
