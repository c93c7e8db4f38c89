"""Column dialects: which header names mean which field, and how to tell dialects apart.

Why: the same change arrives under four spellings — our own ``simple`` columns, Shopify's product CSV
(the legacy ``Handle, Body (HTML), Variant SKU, Variant Price`` and the 2025 ``URL handle, Description,
SKU, Price`` exports) and Matrixify's ``ID, Variant ID, Command``. Each dialect maps a header name to
one canonical :class:`Field` (the fields and the update kind each serves: ``_fields.py``); everything
downstream speaks fields only.

Only columns we act on are mapped; a Shopify/Matrixify export has dozens of others, which are ignored
and listed (``ignored``) so a user can see what was not used. The ``simple`` dialect is ours, so an
unknown column there is a typo (``prcie``) and refused — silently ignoring it would drop the very
change the user asked for. Header names match case-insensitively and trimmed.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from bulk.errors import ConfigError, InputError
from bulk.ingest._fields import FIELD_KIND, KINDS, OPTIONS, Field

__all__ = [
    "DIALECTS",
    "FIELD_KIND",
    "KINDS",
    "MATRIXIFY",
    "NEEDS_LOCATION",
    "NOT_UPDATED",
    "NO_NAME",
    "OPTIONS",
    "SHOPIFY_2025",
    "SHOPIFY_LEGACY",
    "SIMPLE",
    "ColumnMap",
    "Dialect",
    "Field",
    "IgnoredColumn",
    "bind",
    "detect",
    "get",
]


@dataclass(frozen=True, slots=True)
class Dialect:
    """A named column map. ``strict`` dialects refuse unknown columns."""

    name: str
    columns: Mapping[str, Field]
    strict: bool = False


# Our own columns are the field names themselves; the Shopify/Matrixify-only fields are not offered.
_NOT_SIMPLE = {
    Field.BARCODE, Field.INVENTORY_TRACKER, Field.COMMAND, Field.VARIANT_COMMAND, Field.IMAGE_COMMAND,
    *OPTIONS,
}
SIMPLE = Dialect("simple", {f.value: f for f in Field if f not in _NOT_SIMPLE}, strict=True)

# The variant, image, inventory and option columns of Shopify's legacy product CSV, which Matrixify's
# product sheets keep under the same names.
_SHOPIFY_PRODUCT_CSV: Mapping[str, Field] = {
    "Variant SKU": Field.SKU,
    "Variant Barcode": Field.BARCODE,
    "Variant Price": Field.PRICE,
    "Variant Compare At Price": Field.COMPARE_AT,
    "Image Src": Field.IMAGE_SRC,
    "Image Alt Text": Field.IMAGE_ALT,
    "Variant Inventory Qty": Field.QUANTITY,
    "Variant Inventory Tracker": Field.INVENTORY_TRACKER,
    "Option1 Value": Field.OPTION1,
    "Option2 Value": Field.OPTION2,
    "Option3 Value": Field.OPTION3,
}

SHOPIFY_LEGACY = Dialect(
    "shopify-legacy",
    {
        "Handle": Field.HANDLE,
        "Body (HTML)": Field.DESCRIPTION,
        **_SHOPIFY_PRODUCT_CSV,
    },
)

SHOPIFY_2025 = Dialect(
    "shopify-2025",
    {
        "URL handle": Field.HANDLE,
        "Description": Field.DESCRIPTION,
        "SKU": Field.SKU,
        "Barcode": Field.BARCODE,
        "Price": Field.PRICE,
        "Compare-at price": Field.COMPARE_AT,
        "Product image URL": Field.IMAGE_SRC,
        "Image alt text": Field.IMAGE_ALT,
        "Inventory quantity": Field.QUANTITY,
        "Inventory tracker": Field.INVENTORY_TRACKER,
        "Option1 value": Field.OPTION1,
        "Option2 value": Field.OPTION2,
        "Option3 value": Field.OPTION3,
    },
)

MATRIXIFY = Dialect(
    "matrixify",
    {
        "ID": Field.PRODUCT_ID,
        "Handle": Field.HANDLE,
        "Command": Field.COMMAND,
        "Body HTML": Field.DESCRIPTION,
        "Variant ID": Field.VARIANT_ID,
        "Variant Command": Field.VARIANT_COMMAND,
        "Image Command": Field.IMAGE_COMMAND,
        "Variant Inventory Item ID": Field.INVENTORY_ITEM_ID,
        **_SHOPIFY_PRODUCT_CSV,
    },
)

# Order breaks ties in detection: a bare ``Handle, Variant SKU, Variant Price`` file is legacy Shopify.
DIALECTS: Mapping[str, Dialect] = {d.name: d for d in (SIMPLE, SHOPIFY_LEGACY, SHOPIFY_2025, MATRIXIFY)}
_TIE_ORDER = ("shopify-legacy", "shopify-2025", "matrixify", "simple")


def _norm(name: str) -> str:
    return name.strip().casefold()


def detect(header: Sequence[str], *, file: str) -> Dialect:
    """The dialect whose column names best match ``header``.

    Exact-case matches count first (``sku,price`` is simple, ``SKU,Price`` is 2025), then
    case-insensitive ones; ties go to the order of ``_TIE_ORDER``.
    """
    names = {h.strip() for h in header}
    folded = {_norm(h) for h in header}

    def score(dialect: Dialect) -> tuple[int, int, int]:
        exact = sum(1 for n in dialect.columns if n in names)
        loose = sum(1 for n in dialect.columns if _norm(n) in folded)
        return exact, loose, -_TIE_ORDER.index(dialect.name)

    best = max(DIALECTS.values(), key=score)
    if score(best)[1] == 0:
        raise InputError(
            "cannot tell the column dialect from the header: expected e.g. 'sku,price' (simple),"
            " 'Handle,Variant SKU,Variant Price' (Shopify) or 'URL handle,SKU,Price' (Shopify 2025);"
            f" choose one with dialect= ({', '.join(DIALECTS)})",
            file=file,
            line=1,
        )
    return best


def get(name: str) -> Dialect:
    """The dialect called ``name``; an unknown name is a :class:`~bulk.errors.ConfigError`."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ConfigError(f"unknown dialect {name!r}: choose one of {', '.join(DIALECTS)}") from None


class IgnoredColumn(NamedTuple):
    """A column of the file that no update is made from, and why (shown to the user)."""

    name: str
    reason: str


# Why a column is not used (the CLI prints these; ``--location`` and ``--kind`` are its flags for the
# ``location`` and ``kind`` options).
NOT_UPDATED = "not a column this tool updates"
NO_NAME = "no header name"
NEEDS_LOCATION = "quantities need a location: pass --location NAME_OR_ID (the location option)"


def _kind_not_asked(kind: str) -> str:
    return f"{kind} changes were not asked for (--kind)"


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """A dialect bound to one file's header: where each field is, and what was ignored."""

    dialect: Dialect
    header: tuple[str, ...]
    index: Mapping[Field, int]
    ignored: tuple[IgnoredColumn, ...]
    # Quantity (and tracker) positions of a file whose quantities are ignored for want of a location:
    # the reader counts the quantities it could not apply. -1: none.
    unlocated_quantity: int = -1
    unlocated_tracker: int = -1

    def name(self, field: Field) -> str:
        """The header name of ``field`` in this file (for error messages)."""
        return self.header[self.index[field]].strip()

    def used(self) -> tuple[tuple[str, str], ...]:
        """``(header name, field)`` of every column updates are made from, in file order."""
        by_position = sorted(self.index.items(), key=lambda item: item[1])
        return tuple((self.header[i].strip(), f.value) for f, i in by_position)


def bind(
    dialect: Dialect,
    header: Sequence[str],
    *,
    file: str,
    kinds: Collection[str] = KINDS,
    location_known: bool = False,
) -> ColumnMap:
    """Bind ``dialect`` to ``header``: duplicates and (strict dialects) unknown names are refused.

    Columns of kinds not wanted, and inventory columns when no location can be known, are ignored
    (each with its reason) — unless quantities are all the file could be for: see
    :func:`_check_inventory`.
    """
    lookup = {_norm(n): f for n, f in dialect.columns.items()}
    index: dict[Field, int] = {}
    ignored: list[tuple[int, IgnoredColumn]] = []  # with the position: listed in file order
    seen: dict[str, int] = {}
    for position, raw in enumerate(header):
        name = raw.strip()
        if not name:
            ignored.append((position, IgnoredColumn(f"(unnamed column {position + 1})", NO_NAME)))
            continue
        key = _norm(name)
        if key in seen:
            raise InputError(
                f"duplicate column {name!r} (columns {seen[key] + 1} and {position + 1})",
                file=file,
                line=1,
                column=name,
            )
        seen[key] = position
        field = lookup.get(key)
        if field is None:
            if dialect.strict:
                close = difflib.get_close_matches(key, list(lookup), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known columns: {', '.join(lookup)}"
                raise InputError(f"unknown column {name!r}{hint}", file=file, line=1, column=name)
            ignored.append((position, IgnoredColumn(name, NOT_UPDATED)))
            continue
        kind = FIELD_KIND.get(field)
        if kind is not None and kind not in kinds:
            ignored.append((position, IgnoredColumn(name, _kind_not_asked(kind))))
            continue
        index[field] = position
    quantity, tracker = _check_inventory(dialect, header, index, ignored, file=file, kinds=kinds,
                                         location_known=location_known)
    ignored.sort(key=lambda item: item[0])
    return ColumnMap(dialect, tuple(header), index, tuple(column for _, column in ignored), quantity, tracker)


_UPDATE_FIELDS = (Field.PRICE, Field.COMPARE_AT, Field.DESCRIPTION, Field.IMAGE_SRC)


def _check_inventory(
    dialect: Dialect,
    header: Sequence[str],
    index: dict[Field, int],
    ignored: list[tuple[int, IgnoredColumn]],
    *,
    file: str,
    kinds: Collection[str],
    location_known: bool,
) -> tuple[int, int]:
    """A quantity needs a location: a column or the ``location`` option. Without one, the quantity
    column is an error naming the flag when quantities are all the file could be for (the ``simple``
    dialect, ``kind=inventory`` alone, or no price/description/image column: an inventory export);
    otherwise (a full product export sent for its prices) it is ignored, with that reason, and the
    reader counts the quantities not applied. Returns the ignored quantity and tracker positions."""
    if Field.QUANTITY not in index or location_known or Field.LOCATION in index:
        return -1, -1
    name = header[index[Field.QUANTITY]].strip()
    if dialect.strict:
        reason = f"a quantity column needs a 'location' column, or {NEEDS_LOCATION}"
    elif set(kinds) == {"inventory"}:
        reason = f"only quantities were asked for (kind inventory), and {NEEDS_LOCATION}"
    elif not any(f in index for f in _UPDATE_FIELDS):
        reason = f"quantities are the only changes this file holds, and {NEEDS_LOCATION}"
    else:
        reason = ""
    if reason:
        raise InputError(reason, file=file, line=1, column=name)
    quantity, tracker = index[Field.QUANTITY], index.get(Field.INVENTORY_TRACKER, -1)
    for field in (Field.QUANTITY, Field.CHANGE_FROM, Field.INVENTORY_ITEM_ID, Field.INVENTORY_TRACKER):
        if field in index:
            position = index.pop(field)
            ignored.append((position, IgnoredColumn(header[position].strip(), NEEDS_LOCATION)))
    return quantity, tracker
