"""Input readers: CSV (four column dialects) and JSONL files → updates and row errors.

The public surface is this facade; the modules behind it are private and may move::

    with read_updates("prices.csv", location="Main warehouse", max_errors=100) as reader:
        for item in reader:                  # Update | RowError, in file order, streamed
            ...
    reader.statistics()                      # what it did: encoding, dialect, columns used/ignored…
    reader.statistics().summary()            # the same in words

See ``docs/input-formats.md`` for the columns of each dialect and the rules for bad values.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import IO, Literal

from bulk.ingest._reader import UpdateReader
from bulk.ingest.csv_reader import MAX_CELL_BYTES
from bulk.ingest.dialects import DIALECTS, KINDS, IgnoredColumn
from bulk.ingest.statistics import Format, IngestStatistics

__all__ = [
    "DIALECTS", "KINDS", "MAX_CELL_BYTES", "Format", "IgnoredColumn", "IngestStatistics", "UpdateReader",
    "read_updates",
]


def read_updates(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    dialect: str | None = None,
    kind: str | Collection[str] | None = None,
    max_errors: int = 1000,
    location: str | None = None,
    image_mode: Literal["append", "replace"] = "append",
    name: str | None = None,
    format: Format | None = None,
    encoding: str | None = None,
    notes: bool = False,
) -> UpdateReader:
    """A one-pass iterator over ``source`` (a path, or a binary stream named ``name``); a context
    manager too, closing the file if the caller stops early.

    - ``format``: ``"csv"`` or ``"jsonl"``; by default from the suffix (``.jsonl``/``.ndjson``/``.json``
      → JSONL, anything else CSV; ``.gz`` is decompressed).
    - ``dialect``: one of :data:`DIALECTS` (``simple``, ``shopify-legacy``, ``shopify-2025``,
      ``matrixify``); detected from the header when ``None``.
    - ``kind``: only produce these update kinds (:data:`KINDS`); columns of other kinds are ignored.
    - ``max_errors``: row errors tolerated; the next one raises :class:`~bulk.errors.InputError`.
    - ``location``: a location name or ID for quantities in files without a location column.
    - ``image_mode``: ``append`` or ``replace`` for rows that do not say.
    - ``encoding``: read a CSV file in this encoding (any Python codec name: ``utf-8``, ``utf-16``,
      ``utf-16-le``, ``cp1252``/``windows-1252``, ``latin-1``…) instead of detecting it; detection
      takes a byte-order mark (UTF-8, UTF-16), else UTF-8 if the whole file is valid UTF-8, else
      Windows-1252. An unknown name is a :class:`~bulk.errors.ConfigError`; JSONL is always UTF-8.
      ``statistics().encoding`` says which was used and why.

    ``statistics()`` (:class:`IngestStatistics`) is the description of what the reader did — dialect,
    encoding, delimiter, columns used, columns ignored with the reason, quantities not applied,
    apostrophes removed — and ``statistics().summary()`` says it in words.
    - ``notes``: also yield a :class:`~bulk.models.RowNote` for every CSV row that carries nothing to
      change, so that every data row is accounted for (a submission's report does this).
    """
    return UpdateReader(
        source,
        name=name,
        format=format,
        dialect=dialect,
        kind=kind,
        max_errors=max_errors,
        location=location,
        image_mode=image_mode,
        encoding=encoding,
        notes=notes,
    )
