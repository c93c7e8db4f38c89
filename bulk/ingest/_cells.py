"""One cell of a record → its value, or a reason reported through ``bad(field, reason)`` (the row
builder, :mod:`bulk.ingest._rows`, collects them: a row with any bad cell yields only its errors), and
the tallies kept while reading."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from bulk.ingest.dialects import ColumnMap, Field
from bulk.ingest.values import Rejected, parse_code, parse_gid, parse_money

_MODES: dict[str, Literal["append", "replace"]] = {
    "append": "append", "merge": "append", "replace": "replace"
}


@dataclass
class Counters:
    """Mutable tallies kept while reading (snapshotted into the reader's statistics)."""

    apostrophes_stripped: int = 0
    untracked_skipped: int = 0
    quantities_not_applied: int = 0  # quantity cells of a file read without a location
    variants_by_options: int = 0  # price updates naming their variant by handle + option values
    updates: dict[str, int] = field(
        default_factory=lambda: {"price": 0, "description": 0, "image": 0, "inventory": 0}
    )


class Cells:
    """Parses cells for one file: its columns, its decimal separator, its counters."""

    def __init__(self, columns: ColumnMap, counters: Counters, *, decimal_comma: bool) -> None:
        self.columns = columns
        self.counters = counters
        self.decimal_comma = decimal_comma  # the delimiter is ';' or tab: see values.parse_money

    def mode(self, text: str, bad: Callable[[Field, str], None]) -> Literal["append", "replace"] | None:
        """An image mode (``append``/``merge``/``replace``, any case); None when empty or refused."""
        if not (text := text.strip()):
            return None
        mode = _MODES.get(text.lower())
        if mode is None:
            f = Field.IMAGE_MODE if Field.IMAGE_MODE in self.columns.index else Field.IMAGE_COMMAND
            bad(f, f"image mode {text!r} is not one of append, replace")
        return mode

    def money(self, text: str, f: Field, bad: Callable[[Field, str], None]) -> Decimal | None:
        """A price or compare-at price (a decimal comma where the delimiter allows it)."""
        if not text:
            return None
        value = parse_money(text, decimal_comma=self.decimal_comma)
        if isinstance(value, Rejected):
            bad(f, value.reason if f is Field.PRICE else value.reason.replace("price", "compare-at price", 1))
            return None
        return value

    def code(self, text: str, what: str, f: Field, bad: Callable[[Field, str], None]) -> str | None:
        """A SKU or barcode (a spreadsheet's leading apostrophe stripped and counted)."""
        if not text:
            return None
        value = parse_code(text, what)
        if isinstance(value, Rejected):
            bad(f, value.reason)
            return None
        if text.lstrip().startswith("'"):
            self.counters.apostrophes_stripped += 1
        return value or None

    @staticmethod
    def gid(text: str, resource: str, f: Field, bad: Callable[[Field, str], None]) -> str | None:
        """A GID of ``resource`` (or its bare number)."""
        if not text.strip():
            return None
        value = parse_gid(text, resource)
        if isinstance(value, Rejected):
            bad(f, value.reason)
            return None
        return value
