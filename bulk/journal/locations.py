"""Where a journal lives: a PostgreSQL URL, a SQLite file, or the default SQLite file.

Connection strings may carry a password; :func:`mask` is applied before a location is logged, shown in
a ``repr`` or put in an error message, so secrets never leave the process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bulk.errors import ConfigError

__all__ = ["Location", "default_sqlite_path", "mask", "parse_location"]

_PG_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed journal location: ``backend`` is ``"pg"`` or ``"sqlite"``; ``target`` the URL or path."""

    backend: str
    target: str

    def __repr__(self) -> str:
        return f"Location(backend={self.backend!r}, target={mask(self.target)!r})"


def default_sqlite_path() -> Path:
    """``$XDG_DATA_HOME/bulk/journal.sqlite3``, i.e. ``~/.local/share/bulk/journal.sqlite3`` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bulk" / "journal.sqlite3"


def parse_location(url_or_path: str | os.PathLike[str] | None) -> Location:
    """Tell a PostgreSQL URL from a SQLite path (``sqlite:///abs/path``, a plain path or ``:memory:``)."""
    if url_or_path is None or str(url_or_path) == "":
        return Location("sqlite", str(default_sqlite_path()))
    text = str(url_or_path)
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    if scheme in _PG_SCHEMES:
        return Location("pg", text)
    if scheme == "sqlite":
        path = text[len("sqlite://") :]
        if not path or path == "/":
            raise ConfigError(f"journal URL {text!r} names no file: use sqlite:///path/to/journal.sqlite3")
        return Location("sqlite", path[1:] if path == "/:memory:" else path)
    if scheme:
        raise ConfigError(f"unsupported journal URL scheme {scheme!r}: use postgresql:// or a file path")
    return Location("sqlite", text)


def mask(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also ``password=`` in query strings)."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{host}"
        query = "&".join(
            f"{k}=***" if k.lower() == "password" else f"{k}={v}" if sep else k
            for k, sep, v in (item.partition("=") for item in parts.query.split("&") if item)
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparseable URL>"
