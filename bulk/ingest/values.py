"""Cell values → typed values, or a reason a person can act on.

Why a module of its own: the same rules apply to every dialect and to JSONL, and they are the rules a
user meets first ("why was my row rejected?"). Each parser is a pure function of the cell text that
returns the value or a :class:`Rejected` with the reason — no exceptions on the hot path, so a
1.5M-row file pays one regex match per cell when the cell is fine.

We are deliberately *stricter* than the pydantic models (``bulk.models.Money`` accepts ``1e2``,
``.5``, ``+12``, ``1_000`` or Arabic-Indic digits): a price that does not look like ``12`` or
``12.50`` in a CSV is far more often spreadsheet damage or a locale mix-up than intent. Every value we
accept is also accepted, unchanged, by the models (tested with Hypothesis), so building models from
these values without re-validating them is safe.

Spreadsheet damage: Excel turns long digit strings into ``3.65275E+11`` (the digits are lost for
good) — such SKUs/barcodes are rejected, never sent. A leading apostrophe (``'8720602828605``) is
Excel's "keep this as text" marker, not part of the value: it is *stripped* (and counted), because the
value behind it is intact — rejecting it would refuse every row of a typical hand-kept export.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple


class Rejected(NamedTuple):
    """A cell that cannot be used, and why."""

    reason: str


# ASCII digits only: ``\d`` would accept Arabic-Indic or full-width digits.
_MONEY = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?", re.ASCII)
_INT = re.compile(r"[+-]?[0-9]{1,9}", re.ASCII)
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+")
# What Excel writes for a long number: ``3.65275E+11``, ``1E+12`` (sign always present). A SKU such as
# ``12E4`` is left alone: it is more likely a real code than damage.
_EXCEL_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]+)?[eE][+-][0-9]+")
_DECIMAL_COMMA = re.compile(r"-?[0-9]+,[0-9]{1,2}")
_THOUSANDS = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_TOO_PRECISE = re.compile(r"-?[0-9]+\.[0-9]{3,}")
# Comma-decimal convention (``;``/tab files): ``12,50``, ``1.234,50`` (dots group thousands by 3).
_COMMA_DECIMAL = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]{1,2}|[0-9]+,[0-9]{1,2}", re.ASCII)
_AMBIGUOUS_GROUP = re.compile(r"-?[0-9]{1,3}(?:[.,][0-9]{3})+")  # 1,234 / 1.234: thousands or decimals?
_CURRENCY = re.compile(r"[$€£¥₹]|\b(?:USD|EUR|GBP|CAD|AUD|JPY)\b", re.IGNORECASE)
_NUMBER_ANY = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_URL = re.compile(r"https?://\S+")
_GID_ID = re.compile(r"gid://shopify/(\w+)/([0-9]+)")
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)

MAX_MONEY = Decimal("999999999999.99")
# Shopify's limit on a product description (``descriptionHtml`` / ``Body (HTML)``): the Admin API
# answers "Body (HTML) is too big (maximum is 512 KB)" past 524,287 bytes of UTF-8. shopify.dev is
# silent; the figure is as recorded by airhorns/shopify-draft-proxy (a Shopify emulator built from
# captured responses, ``product_description_html_limit_bytes``). See docs/input-formats.md.
MAX_FIELD_BYTES = 524_287


def too_big(text: str) -> int | None:
    """The UTF-8 size of ``text`` if it is over :data:`MAX_FIELD_BYTES`, else None (cheap for short
    text: a character is at most 4 bytes, so only long strings are encoded)."""
    if len(text) <= MAX_FIELD_BYTES // 4:
        return None
    size = len(text.encode("utf-8", "surrogatepass"))  # bad bytes are rejected apart
    return size if size > MAX_FIELD_BYTES else None


def is_plain_money(text: str) -> bool:
    """True if ``text`` is a price exactly as :func:`parse_money` accepts it, with no spaces around."""
    return _MONEY.fullmatch(text) is not None


def is_plain_code(text: str) -> bool:
    """True if :func:`parse_code` would return ``text`` unchanged and non-empty (the common case)."""
    return (
        text != ""
        and text[0] != "'"
        and text.strip() == text
        and not (text[0] in "0123456789" and _EXCEL_SCIENTIFIC.fullmatch(text))
    )


def money_text(value: Decimal) -> str:
    """Shopify's Money input for ``value``: a plain decimal string (``12.5`` and ``12.50`` are both
    valid). ``str`` of a Decimal is exact and 4× cheaper than formatting; only exponent notation, which
    Money does not accept, is rewritten."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


def plain_money_text(text: str) -> str:
    """``money_text(Decimal(text))`` for a ``text`` that :func:`is_plain_money` accepts, without the
    Decimal: the same digits, less any leading zeros (``012.50`` → ``12.50``)."""
    if len(text) > 1 and text[0] == "0" and text[1] != ".":
        return money_text(Decimal(text))
    return text


def parse_money(text: str, *, decimal_comma: bool = False) -> Decimal | Rejected:
    """A non-negative amount with at most 2 decimals: ``12``, ``12.5``, ``12.50``.

    ``decimal_comma``: the file's delimiter is ``;`` or tab, so a comma inside a cell cannot be a
    delimiter and the comma-decimal convention is unambiguous: ``12,50`` and ``1.234,50`` (dots
    grouping thousands by three, then a comma and 1-2 decimals) are read too. ``1,234``, ``1.234``
    and ``1,234.50`` stay rejected there: thousands or decimals, and which convention, cannot be told.
    """
    text = text.strip()
    if _MONEY.fullmatch(text):
        return Decimal(text)
    if decimal_comma and _COMMA_DECIMAL.fullmatch(text):
        dotted = text.replace(".", "").replace(",", ".")
        if _MONEY.fullmatch(dotted):
            return Decimal(dotted)
    return Rejected(_money_reason(text, decimal_comma=decimal_comma))


def _money_reason(text: str, *, decimal_comma: bool = False) -> str:
    """Why ``text`` is not a price: the most specific hint first (slow path, bad cells only)."""
    if "\n" in text or "\r" in text:
        return f"price {text!r} spans several lines: is a quote left open on this line?"
    if _CURRENCY.search(text):
        return f"price {text!r} has a currency symbol or code: write the number only, e.g. 12.50"
    if _SCIENTIFIC.fullmatch(text):
        return f"price {text!r} is in scientific notation (spreadsheet damage?): write e.g. 12.50"
    if decimal_comma and text.startswith("-") and _COMMA_DECIMAL.fullmatch(text[1:]):
        return f"price {text!r} is negative"
    if decimal_comma and _AMBIGUOUS_GROUP.fullmatch(text.lstrip("-")):
        plain = text.replace(",", "").replace(".", "")
        return (f"price {text!r} is ambiguous: a thousands separator or 3 decimals? write {plain}"
                f" (or {plain},00); a decimal comma takes at most 2 decimals")
    if decimal_comma and "," in text and "." in text:
        return (f"price {text!r} mixes separators: in a file separated by ';' or tabs write a decimal"
                " comma (1.234,50 or 1234,50) or a decimal dot (1234.50), without other separators")
    if _DECIMAL_COMMA.fullmatch(text) and not _THOUSANDS.fullmatch(text):
        fixed = text.replace(",", ".")
        return f"price {text!r} uses a decimal comma: write {fixed} (a dot, no thousands separator)"
    if _THOUSANDS.fullmatch(text):
        return f"price {text!r} has a thousands separator or is ambiguous: write {text.replace(',', '')}"
    if text.startswith("-") and _NUMBER_ANY.fullmatch(text):
        return f"price {text!r} is negative"
    if _TOO_PRECISE.fullmatch(text):
        return f"price {text!r} has more than 2 decimals"
    if _NUMBER_ANY.fullmatch(text):
        return f"price {text!r} is too large (at most {MAX_MONEY})"
    return f"price {text!r} is not a number: write e.g. 12.50"


def parse_quantity(text: str) -> int | Rejected:
    """A whole number of units (negative allowed: Shopify allows oversold stock)."""
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _SCIENTIFIC.fullmatch(text):
        return Rejected(f"quantity {text!r} is in scientific notation (spreadsheet damage?)")
    return Rejected(f"quantity {text!r} is not a whole number")


def parse_code(text: str, what: str) -> str | Rejected:
    """A SKU or barcode: trimmed, Excel's leading ``'`` stripped, scientific notation rejected.

    ``what`` names the value in the reason ("SKU", "barcode"). An empty result means "no value".
    """
    text = text.strip()
    if text.startswith("'"):
        text = text[1:].strip()
    if _EXCEL_SCIENTIFIC.fullmatch(text):
        return Rejected(
            f"{what} {text!r} was turned into scientific notation by a spreadsheet: its digits are lost;"
            " re-export the file, or format the column as text before editing it"
        )
    return text


def parse_url(text: str) -> str | Rejected:
    """An image URL: ``http(s)://`` and no spaces."""
    text = text.strip()
    if _URL.fullmatch(text):
        return text
    return Rejected(f"image URL {text!r} must start with http:// or https:// and contain no spaces")


def parse_gid(text: str, resource: str) -> str | Rejected:
    """A Shopify global ID of ``resource`` (``ProductVariant``…), from a GID or a bare number."""
    text = text.strip()
    if _DIGITS.fullmatch(text):
        return f"gid://shopify/{resource}/{text}"
    match = _GID_ID.fullmatch(text)
    if match and match.group(1) == resource:
        return text
    return Rejected(f"{text!r} is not a {resource} ID (a number or gid://shopify/{resource}/…)")


def parse_location(text: str) -> tuple[str | None, str | None]:
    """A location as ``(location_id, location_name)``: a GID or number is an ID, anything else a name."""
    text = text.strip()
    gid = parse_gid(text, "Location")
    if isinstance(gid, Rejected):
        return None, text
    return gid, None
