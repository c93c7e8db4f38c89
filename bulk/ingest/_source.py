"""Where a reader's bytes come from: a path (``.gz`` decompressed on the fly) or a caller's stream, the
format its name suggests, and an encoding the caller forced (checked against the format)."""

from __future__ import annotations

import gzip
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, cast

from bulk.errors import ConfigError
from bulk.ingest import _encoding as encoding_
from bulk.ingest.statistics import Format

_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


def forced_encoding(name: str | None, format: Format) -> encoding_.Encoding | None:
    """The encoding a caller forced, checked: JSON text is UTF-8 by definition (RFC 8259)."""
    if name is None:
        return None
    forced = encoding_.forced(name)
    if format == "jsonl" and forced.name != "UTF-8":
        raise ConfigError(f"JSONL files are UTF-8 (RFC 8259): encoding {name!r} cannot apply to them")
    return forced


def guess_format(name: str) -> Format:
    """JSONL for ``.jsonl``/``.ndjson``/``.json`` (``.gz`` or not), else CSV."""
    suffixes = Path(name.removesuffix(".gz")).suffixes
    return "jsonl" if suffixes and suffixes[-1].lower() in _JSONL_SUFFIXES else "csv"


def open_source(source: str | os.PathLike[str] | IO[bytes]) -> AbstractContextManager[IO[bytes]]:
    """A binary stream; ``.gz`` files are decompressed on the fly. A caller's stream stays open."""
    if not isinstance(source, (str, os.PathLike)):
        return nullcontext(source)
    path = Path(source)
    try:
        if path.suffix == ".gz":
            return cast("IO[bytes]", gzip.open(path, "rb"))
        return path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot open {path}: {exc.strerror}") from exc
