"""Input readers: CSV (four column dialects) and JSONL files → updates and row errors.

The public surface is this facade; the modules behind it are private and may move::

    with read_updates("prices.csv", location="Main warehouse", max_errors=100) as reader:
        for item in reader:                  # Update | RowError, in file order, streamed
            ...
    reader.statistics()                      # dialect, ignored columns, counts

See ``docs/input-formats.md`` for the columns of each dialect and the rules for bad values.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import IO, Literal

from bulk.ingest.dialects import DIALECTS, KINDS
from bulk.ingest.reader import Format, IngestStatistics, UpdateReader

__all__ = ["DIALECTS", "KINDS", "Format", "IngestStatistics", "UpdateReader", "read_updates"]


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
        notes=notes,
    )
