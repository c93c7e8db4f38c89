"""CSV bytes → ``(line, cells)`` records with physical line numbers, or row errors.

Why not ``csv.DictReader`` over a text file: we need (1) the *physical* 1-based line where each record
starts — a quoted cell may span lines, and users fix files in editors that count lines —, (2) to name
the line of a byte that is not UTF-8 instead of dying on the first one, and (3) constant memory on a
1.5M-row file. So bytes are decoded with ``surrogateescape`` (a bad byte becomes a lone surrogate,
which valid UTF-8 can never produce), each physical line is checked cheaply (``isascii`` first), and
the stdlib ``csv`` reader's ``line_num`` gives where each record ends; the next one starts one after.

The delimiter is sniffed from the header line (``,``, ``;`` or tab): spreadsheets in comma-decimal
locales save with ``;``. A UTF-8 BOM is dropped; CRLF, LF and CR line ends are all accepted.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from typing import IO

from bulk.errors import InputError
from bulk.models import RowError

_SURROGATE = re.compile("[\udc80-\udcff]")
_DELIMITERS = (",", ";", "\t")


class CsvRecords:
    """The records of one CSV stream: the header first (:attr:`header`), then ``(line, cells)``.

    Ragged rows and lines that are not UTF-8 come out as :class:`~bulk.models.RowError`; blank
    lines and rows of empty cells (spreadsheet leftovers) are skipped. Structural damage the reader
    cannot step over raises :class:`~bulk.errors.InputError`.
    """

    def __init__(self, text: IO[str], *, file: str) -> None:
        self.file = file
        self._bad_lines: list[tuple[int, int]] = []  # (line, first bad byte)
        self._lines = self._checked(text)
        first = next(self._lines, None)
        if first is None or not first.strip():
            raise InputError("the file is empty (no header line)", file=file, line=1)
        if "\x00" in first:
            raise InputError(
                "the file looks like UTF-16 (NUL bytes in the header): save it as 'CSV UTF-8'",
                file=file,
                line=1,
            )
        self.delimiter = max(_DELIMITERS, key=first.count)
        self._reader = csv.reader(itertools.chain([first], self._lines), delimiter=self.delimiter)
        header = next(self._reader)
        self._end = self._reader.line_num
        if self._bad_lines:
            line, byte = self._bad_lines[0]
            raise InputError(self._encoding_reason(byte), file=file, line=line)
        self.header: tuple[str, ...] = tuple(header)

    def __repr__(self) -> str:
        return (f"<CsvRecords {self.file!r} delimiter={self.delimiter!r} columns={len(self.header)}"
                f" at_line={self._end}>")

    def _checked(self, text: IO[str]) -> Iterator[str]:
        """Pass lines through, noting the number of each line that held an undecodable byte."""
        bad = self._bad_lines
        for number, line in enumerate(text, 1):
            if not line.isascii() and (match := _SURROGATE.search(line)):
                bad.append((number, ord(match.group()) - 0xDC00))
            yield line

    @staticmethod
    def _encoding_reason(byte: int) -> str:
        return f"not valid UTF-8 (byte 0x{byte:02X}): save the file as 'CSV UTF-8' (or re-encode it)"

    def __iter__(self) -> Iterator[tuple[int, list[str]] | RowError]:
        reader, width, bad, file = self._reader, len(self.header), self._bad_lines, self.file
        while True:
            start = self._end + 1
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                raise InputError(f"unreadable CSV: {exc}", file=file, line=start) from exc
            if cells is None:
                return
            self._end = reader.line_num
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
            yield start, cells

    @staticmethod
    def _ragged_reason(cells: list[str], width: int) -> str:
        hint = " (an unclosed quote?)" if len(cells) < width and any("\n" in c for c in cells) else ""
        return f"row has {len(cells)} cells but the header has {width}{hint}"
