"""Product media of the simulated shop: images that are processed after the mutation returns.

Why a lifecycle: Shopify answers ``productUpdate(media:)`` / ``productSet(files:)`` at once and fetches
and processes the image afterwards; the media's ``status`` goes ``UPLOADED`` → ``PROCESSING`` →
``READY``, or ``FAILED`` with ``mediaErrors`` when the source cannot be downloaded (``MediaStatus`` and
``MediaErrorCode`` of the 2026-04 schema). A client that reports an image ``applied`` when the
mutation returns is wrong for every image Shopify cannot fetch; the simulator makes that visible.

Each added image carries the wall times at which it starts processing and at which it ends, fixed when
it is created (:class:`MediaTiming`), so its status is a pure function of the time it is read. A source
under one of the shop's *unreachable* hosts (``bulk sim --unreachable-host HOST``,
``sim://?unreachable=HOST``) ends ``FAILED`` with ``IMAGE_DOWNLOAD_FAILURE``.

Base images (the generated catalog's) are READY from the start. Ids: base image ``i`` of product ``p``
is ``p*10+i``; added images are numbered above every base id (:class:`MediaStore`).

**Which URLs the shop shows** (:meth:`Media.image_url`, :meth:`Media.original_url`): never the one
given. Shopify hosts a media image on its CDN (``MediaImage``: "an image hosted on Shopify's content
delivery network") and documents ``MediaImageOriginalSource.url`` as "the URL of the original image,
valid only for a short period" — "a signed URL that is valid only for a short period of time", giving
access to the originally uploaded image (changelog, 2023-07-14, "url available on
MediaImage.originalSource"). So ``image.url`` is the shop's own copy, and ``originalSource.url`` a
signed link to its stored original. Where the docs are silent (what those URLs look like, whether a
read signs anew) the stricter choice: a new signature and expiry on every read, so no two reads — and
no read and the URL given — are ever equal; a client must know which image is which URL by itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MEDIA_UPLOADED_S = 0.5
"""An added image is ``UPLOADED`` for this long (simulated seconds), then ``PROCESSING``."""
MEDIA_PROCESSING_S = 2.0
"""An added image ends (``READY`` or ``FAILED``) this long after it was added."""

CDN_FILES = "https://cdn.shopify.sim/s/files/1/0000/0001/files/"
"""Where an added image's processed copy is served (``Image.url``), as ``cdn.shopify.com/s/files/…``."""
ORIGINALS = "https://storage.shopify.sim/s/files/1/0000/0001/originals/"
"""Where the signed links to stored originals point (``MediaImageOriginalSource.url``)."""
ORIGINAL_URL_TTL_S = 300
"""How long a signed ``originalSource.url`` is said to be valid (its ``expires``), in seconds."""

DOWNLOAD_FAILURE: dict[str, Any] = {
    "code": "IMAGE_DOWNLOAD_FAILURE",
    "details": None,
    "message": "Media could not be processed because the image could not be downloaded.",
}
"""The ``MediaError`` of a source that cannot be fetched (message = the enum value's description)."""


@dataclass(frozen=True, kw_only=True)
class MediaTiming:
    """How long added media take, and which hosts the shop cannot download from."""

    uploaded_s: float = MEDIA_UPLOADED_S
    processing_s: float = MEDIA_PROCESSING_S
    unreachable_hosts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "unreachable_hosts", frozenset(h.lower() for h in self.unreachable_hosts))
        if not 0 <= self.uploaded_s <= self.processing_s:
            raise ValueError("media timing: 0 <= uploaded_s <= processing_s")

    def reachable(self, url: str) -> bool:
        """Whether the shop can download ``url``: its host is not a listed host nor under one."""
        host = (urlsplit(url).hostname or "").lower()
        return not any(host == h or host.endswith("." + h) for h in self.unreachable_hosts)


@dataclass(slots=True)
class Media:
    """One product image. ``processing_at`` / ``done_at`` are wall times (0 for base images)."""

    id: int
    alt: str | None
    url: str
    processing_at: float = 0.0
    done_at: float = 0.0
    failed: bool = False  # the source cannot be downloaded: ends FAILED instead of READY
    hosted: bool = False  # ``url`` is the shop's own CDN copy already (the generated catalog's)

    def status(self, now: float) -> str:
        """``MediaStatus`` at wall time ``now``."""
        if now < self.processing_at:
            return "UPLOADED"
        if now < self.done_at:
            return "PROCESSING"
        return "FAILED" if self.failed else "READY"

    def image_url(self) -> str:
        """``Image.url``: the processed copy on the shop's CDN, named after the source's file name
        (``?v=`` tells copies of one name apart, as Shopify's ``?v=`` does); a generated image's own."""
        if self.hosted:
            return self.url
        return f"{CDN_FILES}{quote(self._file_name())}?v={self.id}"

    def original_url(self, now: float) -> str:
        """``MediaImageOriginalSource.url`` read at wall time ``now``: a link to the stored original,
        signed anew on every read (see the module docstring), never the URL given."""
        expires = int(now) + ORIGINAL_URL_TTL_S
        signature = hashlib.sha256(f"{self.id}:{now!r}".encode()).hexdigest()[:32]
        return f"{ORIGINALS}{self.id}/{quote(self._file_name())}?expires={expires}&signature={signature}"

    def _file_name(self) -> str:
        name = unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])
        return name or "image"

    def errors(self, now: float) -> list[dict[str, Any]]:
        """``mediaErrors`` at wall time ``now`` (only a FAILED image has one)."""
        return [dict(DOWNLOAD_FAILURE)] if self.failed and now >= self.done_at else []


@dataclass
class MediaStore:
    """Every product's media list (generated until written) and every image by id."""

    products: int
    timing: MediaTiming = field(default_factory=MediaTiming)
    _lists: dict[int, list[Media]] = field(default_factory=dict)
    _files: dict[int, Media] = field(default_factory=dict)  # every image materialised or added
    _owner: dict[int, int] = field(default_factory=dict)  # image -> product, for written lists
    _next: int = 0

    def __post_init__(self) -> None:
        self._next = self.products * 10 + 10  # above every base id

    @staticmethod
    def base(p: int) -> list[Media]:
        """Product ``p``'s generated images (``1 + p % 2`` of them)."""
        return [
            Media(
                p * 10 + i, f"Product {p} image {i}", f"https://cdn.shopify.sim/products/product-{p}-{i}.jpg",
                hosted=True,
            )
            for i in range(1 + p % 2)
        ]

    def of(self, p: int) -> list[Media]:
        """Product ``p``'s images in position order (the stored list: do not mutate it)."""
        got = self._lists.get(p)
        return got if got is not None else self.base(p)

    def _materialise(self, p: int) -> list[Media]:
        got = self._lists.get(p)
        if got is None:
            got = self._lists[p] = self.base(p)
            for m in got:
                self._files[m.id] = m
                self._owner[m.id] = p
        return got

    def find(self, mid: int, has_product: Callable[[int], bool]) -> Media | None:
        """The image ``mid`` (attached to a product or not), or None."""
        got = self._files.get(mid)
        if got is not None:
            return got
        p, i = divmod(mid, 10)
        if mid < self.products * 10 + 10 and has_product(p) and i < 1 + p % 2 and p not in self._lists:
            return next(m for m in self._materialise(p) if m.id == mid)
        return None

    def owner(self, mid: int, has_product: Callable[[int], bool]) -> int | None:
        """The product image ``mid`` is attached to, if any (the simulator keeps one per image)."""
        got = self._owner.get(mid)
        if got is not None:
            return got
        p = mid // 10
        if p not in self._lists and mid < self.products * 10 + 10:
            return p if has_product(p) and mid % 10 < 1 + p % 2 else None
        return None

    def new(self, alt: str | None, url: str, now: float) -> Media:
        """A new image from ``url``, added at wall time ``now`` (not attached yet)."""
        t = self.timing
        m = Media(self._next, alt, url, now + t.uploaded_s, now + t.processing_s, not t.reachable(url))
        self._next += 1
        self._files[m.id] = m
        return m

    def reprocess(self, m: Media, url: str, now: float) -> None:
        """``fileUpdate(originalSource:)``: the image is fetched and processed again."""
        t = self.timing
        m.url, m.processing_at, m.done_at = url, now + t.uploaded_s, now + t.processing_s
        m.failed, m.hosted = not t.reachable(url), False

    def set_list(self, p: int, items: Iterable[Media]) -> None:
        """Product ``p``'s media become exactly ``items``, in order (a product holds an image once)."""
        items = list(items)  # may be a view of the old list
        for m in self._materialise(p):
            if self._owner.get(m.id) == p:
                del self._owner[m.id]
        out: list[Media] = []
        for m in items:
            if m.id not in self._owner:
                self._owner[m.id] = p
                out.append(m)
        self._lists[p] = out

    def count(self) -> int:
        """How many products have a written media list."""
        return len(self._lists)
