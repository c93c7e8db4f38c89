"""What a reader did with one file — how it read it, which columns it used and which it ignored
and why, what it cleaned or could not apply — as one picklable snapshot.

Why a module of its own: this is the reader's account to the user ("nothing ignored silently"), read
by the CLI, the planner's second process and the tests; it changes for other reasons than reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bulk.ingest.dialects import IgnoredColumn

Format = Literal["csv", "jsonl"]


@dataclass(frozen=True, slots=True)
class IngestStatistics:
    """A snapshot of one reader's progress, and the description of what it did with the file: how
    it read it (encoding, delimiter, dialect), which columns it used and which it ignored and why,
    and what it cleaned or could not apply. :meth:`summary` says it in words for the CLI."""

    file: str
    format: Format
    dialect: str | None  # None for JSONL, or before the header was read
    delimiter: str | None
    records: int  # data records (CSV rows after the header, JSONL lines) read so far
    updates: dict[str, int] = field(default_factory=dict)  # by kind
    errors: int = 0
    ignored_columns: tuple[str, ...] = ()  # names only (see ``ignored`` for the reasons)
    apostrophes_stripped: int = 0  # Excel's leading ' removed from SKUs/barcodes
    untracked_skipped: int = 0  # quantities of items whose inventory is not tracked
    finished: bool = False
    encoding: str | None = None  # "UTF-8", "UTF-16 LE", "Windows-1252"… (None before reading)
    encoding_reason: str | None = None  # "byte-order mark", "valid UTF-8", "forced"…
    columns_used: tuple[tuple[str, str], ...] = ()  # (header name, field) in file order
    ignored: tuple[IgnoredColumn, ...] = ()  # (header name, why) in file order
    decimal_comma: bool = False  # the delimiter (';' or tab) let prices use a decimal comma
    quantities_not_applied: int = 0  # quantity cells read without a location (ignored column)
    variants_by_options: int = 0  # price updates naming a SKU-less variant by handle + options

    def summary(self) -> list[str]:
        """What the reader did, in lines a person reads (the CLI prints them)."""
        if self.format == "jsonl":
            lines = [f"{self.file}: JSONL, {self.encoding or 'UTF-8'}"]
        else:
            delimiter = {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter or "", "?")
            lines = [f"{self.file}: CSV, dialect {self.dialect or '?'}, encoding {self.encoding or '?'}"
                     f" ({self.encoding_reason or '?'}), delimiter {delimiter}"
                     + (", decimal comma accepted in prices" if self.decimal_comma else "")]
        if self.columns_used:
            lines.append("columns used: " + ", ".join(f"{name} ({what})" for name, what in self.columns_used))
        by_reason: dict[str, list[str]] = {}
        for column in self.ignored:
            by_reason.setdefault(column.reason, []).append(column.name)
        for reason, names in by_reason.items():
            lines.append(f"columns ignored ({reason}): {', '.join(names)}")
        if self.quantities_not_applied:
            lines.append(f"{self.quantities_not_applied} quantities not applied: pass --location to"
                         " apply them")
        if self.apostrophes_stripped:
            lines.append(f"{self.apostrophes_stripped} leading apostrophes (Excel's text marker) removed from"
                         " SKUs/barcodes")
        if self.untracked_skipped:
            lines.append(f"{self.untracked_skipped} quantities skipped: inventory not tracked for those"
                         " variants")
        if self.variants_by_options:
            lines.append(f"{self.variants_by_options} variants without SKU named by handle + option values")
        return lines
