"""CSV bytes → ``(line, cells)`` records with physical line numbers, or row errors.

Why not ``csv.DictReader`` over a text file: we need (1) the *physical* 1-based line where each record
starts — a quoted cell may span lines, and users fix files in editors that count lines —, (2) to name
the line of a byte that cannot be decoded instead of dying on the first one, and (3) constant memory
on a 1.5M-row file. So bytes are decoded with an escaping error handler (a bad byte becomes a lone
surrogate, which valid text never holds: :data:`bulk.ingest._encoding.ERRORS`), each physical line is
checked cheaply (``isascii`` first), and the stdlib ``csv`` reader's ``line_num`` gives where each
record ends; the next one starts one after.

The delimiter is sniffed from the header line (``,``, ``;`` or tab): spreadsheets in comma-decimal
locales save with ``;``, Excel's "Unicode Text" with tabs. The text arrives decoded (the encoding is
chosen by :mod:`bulk.ingest._encoding`); a BOM left in it is dropped; CRLF, LF and CR line ends are all
accepted.

Big cells: Shopify accepts a product description of up to 512 KB (:data:`MAX_CELL_BYTES`), and the
stdlib ``csv`` module refuses any field over 128 Ki characters by default — one big description
(an embedded image) made the whole file fatal. The module's limit is process-wide, so it is raised
once, to :data:`HARD_CELL_CHARS` (far above anything Shopify takes, and bounded, so an unclosed quote
cannot swallow a whole 100 MB file into one cell); a used cell over :data:`MAX_CELL_BYTES` rejects its
row (file, line, column) and reading goes on. Only records whose lines add up to more than a
quarter of the limit are measured: a UTF-8 character is at most 4 bytes, so the common row pays one
addition per line.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from typing import IO

from bulk.errors import InputError
from bulk.ingest.values import MAX_FIELD_BYTES, too_big
from bulk.models import RowError

_SURROGATE = re.compile("[\udc00-\udcff]")  # a byte the codec could not decode (encoding.ERRORS)
_DELIMITERS = (",", ";", "\t")

MAX_CELL_BYTES = MAX_FIELD_BYTES  # Shopify's description limit, the largest field a product CSV has
HARD_CELL_CHARS = 16 * 1024 * 1024  # the csv module's limit: past it, the file cannot be read on
_MEASURE_FROM = MAX_CELL_BYTES // 4  # a record with fewer characters cannot hold a cell over the limit
if csv.field_size_limit() < HARD_CELL_CHARS:
    csv.field_size_limit(HARD_CELL_CHARS)


class CsvRecords:
    """The records of one CSV stream: the header first (:attr:`header`), then ``(line, cells)``.

    Ragged rows and lines that are not UTF-8 come out as :class:`~bulk.models.RowError`; blank
    lines and rows of empty cells (spreadsheet leftovers) are skipped. Structural damage the reader
    cannot step over raises :class:`~bulk.errors.InputError`.
    """

    def __init__(self, text: IO[str], *, file: str, encoding: str = "UTF-8") -> None:
        self.file = file
        self.encoding = encoding  # its name, for messages
        self._bad_lines: list[tuple[int, int]] = []  # (line, first bad byte)
        self._long = False  # a line longer than _MEASURE_FROM was read since the last record
        self._lines = self._checked(text)
        first = next(self._lines, None)
        if first is not None and first.startswith("\ufeff"):
            first = first[1:]  # a BOM the codec kept (e.g. UTF-16 LE forced on a file that has one)
        if first is None or not first.strip():
            raise InputError("the file is empty (no header line)", file=file, line=1)
        if "\x00" in first:
            raise InputError(
                f"NUL bytes in the header: the file looks like UTF-16, not {encoding}: "
                "pass encoding='utf-16' (or save it as 'CSV UTF-8')",
                file=file,
                line=1,
            )
        self.delimiter = max(_DELIMITERS, key=first.count)
        self._reader = csv.reader(itertools.chain([first], self._lines), delimiter=self.delimiter)
        header = self._next(1)
        if header is None:
            raise InputError("the file is empty (no header line)", file=file, line=1)
        self._end = self._reader.line_num
        self._long = False
        if self._bad_lines:
            line, byte = self._bad_lines[0]
            raise InputError(self._encoding_reason(byte), file=file, line=line)
        self.header: tuple[str, ...] = tuple(header)
        self.measured: frozenset[int] | None = None  # positions whose size counts (None: all)

    @property
    def line(self) -> int:
        """The physical line the last record (or the header) ended on."""
        return self._end

    def __repr__(self) -> str:
        return (f"<CsvRecords {self.file!r} delimiter={self.delimiter!r} columns={len(self.header)}"
                f" at_line={self._end}>")

    def _checked(self, text: IO[str]) -> Iterator[str]:
        """Pass lines through, noting the number of each line that held an undecodable byte."""
        bad = self._bad_lines
        number = 0
        try:
            for number, line in enumerate(text, 1):  # number is read after the loop too
                if len(line) > _MEASURE_FROM:
                    self._long = True
                if not line.isascii() and (match := _SURROGATE.search(line)):
                    bad.append((number, ord(match.group()) - 0xDC00))
                yield line
        except UnicodeDecodeError as exc:  # errors no handler can map, e.g. an odd byte in UTF-16
            raise InputError(f"not valid {self.encoding} ({exc.reason}) after this line",
                             file=self.file, line=max(number, 1)) from exc

    def _next(self, start: int) -> list[str] | None:
        """The next record from the csv module, its errors as :class:`InputError` at ``start``."""
        try:
            return next(self._reader, None)
        except csv.Error as exc:
            reason = f"unreadable CSV: {exc}"
            if "field limit" in str(exc):
                reason = (f"a cell of more than {HARD_CELL_CHARS:,} characters starts on or after this line"
                          " (an unclosed quote?); the file cannot be read past it")
            raise InputError(reason, file=self.file, line=start) from exc

    def _encoding_reason(self, byte: int) -> str:
        if self.encoding == "UTF-8":
            return (f"not valid UTF-8 (byte 0x{byte:02X}): save the file as 'CSV UTF-8', or pass"
                    " encoding='cp1252' if the whole file is Windows-1252")
        return f"not valid {self.encoding} (byte 0x{byte:02X}): re-save the file as 'CSV UTF-8'"

    def _oversized(self, start: int, cells: list[str]) -> RowError | None:
        """The first (measured) cell over :data:`MAX_CELL_BYTES`, as an error; None if none."""
        measured = self.measured
        for i, cell in enumerate(cells):
            if (measured is None or i in measured) and (size := too_big(cell)) is not None:
                return RowError(
                    file=self.file, line=start, column=self.header[i].strip() or i + 1,
                    reason=(f"cell of {size:,} bytes: Shopify accepts at most {MAX_CELL_BYTES:,}"
                            " bytes (512 KB) in a product field; the row is not used"),
                )
        return None

    def __iter__(self) -> Iterator[tuple[int, list[str]] | RowError]:
        reader, width, bad, file = self._reader, len(self.header), self._bad_lines, self.file
        while True:
            start = self._end + 1
            cells = self._next(start)
            if cells is None:
                return
            self._end = reader.line_num
            measure = self._long or self._end != start  # a long line, or a record over several lines
            self._long = False
            if bad:
                line, byte = bad[0]
                if line <= self._end:
                    del bad[:]  # all bad lines so far belong to this record: one error per record
                    yield RowError(file=file, line=line, reason=self._encoding_reason(byte))
                    continue
            if len(cells) != width:
                if not cells or (len(cells) > width and not any(cells[width:])):
                    if not cells:
                        continue  # a blank line
                    cells = cells[:width]  # trailing empty cells from a spreadsheet
                else:
                    yield RowError(file=file, line=start, reason=self._ragged_reason(cells, width))
                    continue
            if not cells[0] and not any(cells):
                continue
            if measure and sum(map(len, cells)) > _MEASURE_FROM and (big := self._oversized(start, cells)):
                yield big
                continue
            yield start, cells

    @staticmethod
    def _ragged_reason(cells: list[str], width: int) -> str:
        hint = " (an unclosed quote?)" if len(cells) < width and any("\n" in c for c in cells) else ""
        return f"row has {len(cells)} cells but the header has {width}{hint}"
