"""Products' descriptions and image sets in the catalog cache, so the planner can tell them unchanged.

Kept in tables of their own in the catalog's SQLite file (:class:`ProductContent`), filled from the same
bulk query export as prices (``queries/catalog_export.graphql`` carries ``descriptionHtml`` and each
product's ``media``, one export line per image with ``__parentId``, in position order):

- **descriptions**: a digest to compare (16 bytes of BLAKE2b of the UTF-8 HTML), and the HTML itself,
  zlib-compressed, for the undo file (HTML compresses 3-5×: a 500k-product shop's descriptions stay a
  few hundred MB at most, and only what the export brought is kept);
- **media**: per product, its images in position order — media GID, the *source key* (below), alt,
  status and the first ``mediaErrors`` code.

**Which image is "the same image" (the source rule).** An image is matched by its source URL,
normalised by :func:`source_key`: scheme and host lower-cased, the default port and the ``#fragment``
dropped; path and query kept as they are (a CDN may serve different images for ``?v=1`` and ``?v=2``).
Which URL an image *has* (its ``source``): the one we sent, when this tool created it (remembered per
media GID in ``media_sources`` by the follow-up that reads new images back:
:meth:`ProductContent.remember_sources`), else the URL of its processed image on Shopify's CDN
(``image { url }``: the ``Image Src`` of Shopify's own product CSV export, so a file exported from the
shop and submitted again adds nothing), else — an image not processed yet — the export's
``originalSource.url``. Shopify never shows the URL we gave: ``originalSource.url`` is documented as
"the URL of the original image, valid only for a short period", a signed link to Shopify's stored
original (changelog 2023-07-14), and ``image.url`` is its CDN copy; the simulated shop serves both that
way. So the remembered URL is what makes a re-run find the images this tool added, and the CDN URL —
stable, unlike a signature — is what an undo file restores an image set from. An image matches its
source and its CDN URL (:attr:`ShopImage.keys`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS product_descriptions (
    product_id  TEXT PRIMARY KEY,
    digest      BLOB NOT NULL,
    html        BLOB NOT NULL  -- zlib
);
CREATE TABLE IF NOT EXISTS product_media (
    product_id  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    media_id    TEXT NOT NULL,
    source      TEXT,
    image_url   TEXT,
    alt         TEXT,
    status      TEXT,
    error       TEXT,
    PRIMARY KEY (product_id, position)
);
CREATE INDEX IF NOT EXISTS product_media_id ON product_media (media_id);
CREATE TABLE IF NOT EXISTS media_sources (
    media_id    TEXT PRIMARY KEY,
    source      TEXT NOT NULL
);
"""
_CHUNK = 500
_DEFAULT_PORTS = {"http": 80, "https": 443}


def source_key(url: str) -> str:
    """The normalised form of an image URL two images are matched by (see the module docstring)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.netloc.rsplit('@', 1)[0]}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def description_digest(html: str) -> bytes:
    """What two descriptions are compared by: equal HTML, byte for byte, is the same description."""
    return hashlib.blake2b(html.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentStatistics:
    """A snapshot of the descriptions and images the cache holds."""

    descriptions: int
    media: int


@dataclass(frozen=True, slots=True)
class ShopImage:
    """One image of a product as the catalog has it."""

    media_id: str
    source: str | None  # source key (see :func:`source_key` and the module docstring), None if none
    alt: str
    status: str | None  # MediaStatus: UPLOADED, PROCESSING, READY, FAILED
    error: str | None = None  # the first mediaErrors code of a FAILED image
    image_url: str | None = None  # key of the processed image's URL (what Shopify's CSV export shows)

    @property
    def keys(self) -> frozenset[str]:
        """The URL keys this image matches: its source, and the URL of the processed image."""
        return frozenset(k for k in (self.source, self.image_url) if k)

    @property
    def failed(self) -> bool:
        """Shopify could not process it: it counts as absent when images are compared."""
        return self.status == "FAILED"


class ProductContent:
    """Descriptions and media of products, in the catalog's SQLite connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        db.executescript(_SCHEMA)
        self._positions: dict[str, int] = {}  # product → next position, while an export loads

    # -- filling (from the catalog export) -------------------------------------------------------
    def tap(self, lines: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Pass export lines through, keeping what they say of descriptions and media.

        A product line replaces what the cache had of that product's media (its images follow it in
        the export, parent first, as bulk query results are documented); each image line is added at
        the product's next position."""
        db, positions = self._db, self._positions
        for line in lines:
            gid = str(line.get("id", ""))
            if "/Product/" in gid:
                html = line.get("descriptionHtml")
                if isinstance(html, str):
                    packed = zlib.compress(html.encode("utf-8", "surrogatepass"))
                    db.execute("INSERT OR REPLACE INTO product_descriptions VALUES (?, ?, ?)",
                               (gid, description_digest(html), packed))
                    db.execute("DELETE FROM product_media WHERE product_id = ?", (gid,))
                    if len(positions) >= 10_000:  # images follow their product: older ones are done
                        positions.clear()
                    positions[gid] = 0
            elif line.get("__parentId") and "/Product/" in str(line["__parentId"]) and _is_media(gid):
                self._add_media(line, gid)
            yield line

    def _add_media(self, line: Mapping[str, Any], gid: str) -> None:
        parent = str(line["__parentId"])
        position = self._positions.get(parent)
        if position is None:  # its product line came long before (or in an earlier load)
            row = self._db.execute("SELECT count(*) FROM product_media WHERE product_id = ?", (parent,))
            position = int(row.fetchone()[0])
        self._positions[parent] = position + 1
        url = (line.get("originalSource") or {}).get("url")
        shown = (line.get("image") or {}).get("url")
        errors = line.get("mediaErrors") or []
        self._db.execute(
            "INSERT OR REPLACE INTO product_media VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (parent, position, gid, None if url is None else source_key(str(url)),
             None if shown is None else source_key(str(shown)), line.get("alt") or "",
             line.get("status"), errors[0].get("code") if errors else None))

    def remember_sources(self, sources: Iterable[tuple[str, str]]) -> None:
        """``(media GID, URL we sent)`` of images this tool created: their source from now on."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO media_sources VALUES (?, ?)",
                                 ((mid, source_key(url)) for mid, url in sources))

    def set_status(self, statuses: Iterable[tuple[str, str, str | None]]) -> None:
        """``(media GID, status, error code)`` read back after a run (processing ends without moving the
        product's ``updatedAt``, so an incremental sync would not bring it)."""
        with self._db:
            self._db.executemany("UPDATE product_media SET status = ?, error = ? WHERE media_id = ?",
                                 ((status, error, mid) for mid, status, error in statuses))

    # -- reading -----------------------------------------------------------------------------------
    def descriptions(self, product_ids: Sequence[str]) -> dict[str, bytes]:
        """Digest of each product's description the catalog knows (absent: unknown)."""
        out: dict[str, bytes] = {}
        for batch in _batches(product_ids):
            sql = f"SELECT product_id, digest FROM product_descriptions WHERE product_id IN ({_marks(batch)})"
            out.update((pid, bytes(digest)) for pid, digest in self._db.execute(sql, batch))
        return out

    def description_html(self, product_ids: Sequence[str]) -> dict[str, str]:
        """Each product's description HTML (for the undo file; absent: unknown)."""
        out: dict[str, str] = {}
        for batch in _batches(product_ids):
            sql = f"SELECT product_id, html FROM product_descriptions WHERE product_id IN ({_marks(batch)})"
            out.update((pid, zlib.decompress(html).decode("utf-8", "surrogatepass"))
                       for pid, html in self._db.execute(sql, batch))
        return out

    def images(self, product_ids: Sequence[str]) -> dict[str, list[ShopImage]]:
        """Each product's images in position order (a product without images: an empty list; absent:
        the export said nothing of its media)."""
        out: dict[str, list[ShopImage]] = {}
        for batch in _batches(product_ids):
            known = f"SELECT product_id FROM product_descriptions WHERE product_id IN ({_marks(batch)})"
            out.update((pid, []) for (pid,) in self._db.execute(known, batch))
            # the source: remembered (ours), else the CDN copy's (stable), else the signed original's
            sql = ("SELECT m.product_id, m.media_id, coalesce(s.source, m.image_url, m.source), m.alt, "
                   "m.status, m.error, "
                   "m.image_url "
                   "FROM product_media m LEFT JOIN media_sources s ON s.media_id = m.media_id "
                   f"WHERE m.product_id IN ({_marks(batch)}) ORDER BY m.product_id, m.position")
            for pid, mid, source, alt, status, error, shown in self._db.execute(sql, batch):
                out.setdefault(pid, []).append(ShopImage(mid, source, alt or "", status, error, shown))
        return out

    def statistics(self) -> ContentStatistics:
        """Descriptions and images held."""
        count = self._db.execute
        return ContentStatistics(
            descriptions=int(count("SELECT count(*) FROM product_descriptions").fetchone()[0]),
            media=int(count("SELECT count(*) FROM product_media").fetchone()[0]))

    def __repr__(self) -> str:
        s = self.statistics()
        return f"ProductContent(descriptions={s.descriptions}, media={s.media})"


def _is_media(gid: str) -> bool:
    return any(f"/{kind}/" in gid for kind in ("MediaImage", "Video", "ExternalVideo", "Model3d"))


def _batches(keys: Sequence[str]) -> Iterator[list[str]]:
    keys = list(dict.fromkeys(keys))
    for at in range(0, len(keys), _CHUNK):
        yield keys[at : at + _CHUNK]


def _marks(batch: Sequence[str]) -> str:
    return ",".join("?" * len(batch))
