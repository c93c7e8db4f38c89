"""Plan product fields — description and image set — against what the catalog says the shop has.

Pure (reads the catalog, writes nothing); :func:`bulk.plan.diff.build_plan` calls it and wraps what it
decides into planned lines and row outcomes. The rules (docs/input-formats.md says them to users):

- **description**: unchanged when the catalog's description is the same HTML, byte for byte (compared
  by digest: :func:`bulk.catalog.media.description_digest`); otherwise sent with ``productUpdate``.
- **images, append**: the images whose source the product does not have yet are added, in the given
  order (``productUpdate(media:)``); an image matches by normalised source URL
  (:func:`bulk.catalog.media.source_key`), its alt text is not compared (an existing image keeps its
  alt: change alt with ``replace``); an image that ended FAILED counts as absent (a re-run tries it
  again). Nothing to add: ``unchanged``.
- **images, replace**: the product's media become exactly the given list, in order (``productSet``
  with ``files``: entries ``{id}`` keep an image the product has — no new download — and entries
  ``{originalSource}`` add one; images not listed are removed from the product). Unchanged when the
  product already has exactly these sources with these alts in this order and no FAILED image.
- the undo record of a product holds its description and its image set (as a ``replace``) from before.

A product the catalog knows nothing of (an export without descriptions/media) is never ``unchanged``:
its fields are sent, and its undo record holds only what was known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bulk.catalog import CatalogStore
from bulk.catalog.media import ShopImage, description_digest, source_key
from bulk.models import Image

SAME_DESCRIPTION = "the shop already has this description"
SAME_IMAGES = "the product already has these images"
SAME_SET = "the product already has exactly these images"

Row = tuple[str, int]
Kind = Literal["product", "media", "set"]
ImageSpec = tuple[frozenset[str], str]  # (the URL keys an image matches, alt)


@dataclass
class ProductOverlay:
    """Product fields planned by earlier chunks of this run (the catalog does not know them yet)."""

    digests: dict[str, bytes] = field(default_factory=dict)
    images: dict[str, list[ImageSpec]] = field(default_factory=dict)


@dataclass
class ProductDecision:
    """What one product's fields came to: a line to send (or none), rows decided now, undo records."""

    kind: Kind | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    media_rows: list[Row] = field(default_factory=list)  # the rows of the images sent
    unchanged: list[tuple[Row, str]] = field(default_factory=list)
    undo: list[dict[str, Any]] = field(default_factory=list)


def plan_product(
    product_id: str,
    description: tuple[str, list[Row]] | None,
    media: tuple[str, Sequence[Image], list[Row]] | None,
    shop: ShopState,
    overlay: ProductOverlay,
) -> ProductDecision:
    """Decide one product's description and image set (either may be None: not in the input)."""
    out = ProductDecision()
    product: dict[str, Any] = {}
    if description is not None:
        html, rows = description
        digest = description_digest(html)
        before = overlay.digests.get(product_id, shop.digests.get(product_id))
        if before == digest:
            out.unchanged += [(row, SAME_DESCRIPTION) for row in rows]
        else:
            product["descriptionHtml"] = html
            out.rows += rows
            if product_id not in overlay.digests and product_id in shop.digests:
                # the HTML is read for changed products only, in one go: see fill_undo
                out.undo.append({"kind": "description", "productId": product_id})
            overlay.digests[product_id] = digest
    files: list[dict[str, Any]] | None = None
    new_media: list[dict[str, str]] | None = None
    if media is not None:
        mode, images, rows = media
        current = shop.images.get(product_id)
        planned = overlay.images.get(product_id)
        sent = True
        have = planned if planned is not None else _specs(current)
        if mode == "replace":
            wanted = [(source_key(i.url), i.alt) for i in images]
            if planned is None and current is not None and have is not None and _same_set(wanted, have) \
                    and not any(img.failed for img in current):
                out.unchanged += [(row, SAME_SET) for row in rows]
                sent = False
            else:
                files = _files(images, current if planned is None else None)
                out.rows += rows
                overlay.images[product_id] = [(frozenset((key,)), alt) for key, alt in wanted]
        else:
            sources = set().union(*(keys for keys, _ in have or []))
            new = [i for i in _distinct(images) if source_key(i.url) not in sources]
            if not new:
                out.unchanged += [(row, SAME_IMAGES) for row in rows]
                sent = False
            else:
                new_media = [{"originalSource": i.url, "alt": i.alt, "mediaContentType": "IMAGE"}
                             for i in new]
                out.rows += rows
                overlay.images[product_id] = [*(have or []),
                                              *((frozenset((source_key(i.url),)), i.alt) for i in new)]
        if sent:
            out.media_rows = sorted(set(rows))
        if sent and planned is None and current is not None:
            out.undo.append({"kind": "image", "productId": product_id, "mode": "replace",
                             "images": [{"url": img.source or img.image_url, "alt": img.alt}
                                        for img in current if not img.failed and img.keys]})
    if files is not None:
        out.kind = "set"
        out.variables = {"identifier": {"id": product_id}, "input": {**product, "files": files}}
    elif product or new_media:
        out.kind = "media" if new_media else "product"  # "media": the bulk answer names the media
        out.variables = {"product": {"id": product_id, **product}}
        if new_media:
            out.variables["media"] = new_media
    # one row may carry both fields (a product CSV row): sent if either is, else unchanged once
    out.rows = sorted(set(out.rows))
    sent_rows = set(out.rows)
    out.unchanged = list({row: (row, why) for row, why in reversed(out.unchanged)
                          if row not in sent_rows}.values())[::-1]
    return out


@dataclass
class ShopState:
    """What the catalog has of a batch of products: description digests and HTML (only of products
    whose description the input names), images (only of products whose images it names)."""

    digests: dict[str, bytes]
    images: dict[str, list[ShopImage]]

    @classmethod
    def load(cls, catalog: CatalogStore, described: Sequence[str], imaged: Sequence[str]) -> ShopState:
        """Read the catalog for these products (a few queries per 500 products)."""
        content = catalog.content
        digests = content.descriptions(described) if described else {}
        return cls(digests, content.images(imaged) if imaged else {})


def fill_undo(records: list[dict[str, Any]], catalog: CatalogStore) -> None:
    """Put the old HTML into the description undo records of changed products (read in one go:
    decompressing every described product's HTML would cost more than the comparison)."""
    wanted = [r["productId"] for r in records
              if r.get("kind") == "description" and "descriptionHtml" not in r]
    if not wanted:
        return
    html = catalog.content.description_html(wanted)
    for record in records:
        if record.get("kind") == "description" and "descriptionHtml" not in record:
            record["descriptionHtml"] = html.get(record["productId"], "")

def _specs(current: list[ShopImage] | None) -> list[ImageSpec] | None:
    """The product's images as compared: failed ones count as absent."""
    if current is None:
        return None
    return [(img.keys or frozenset((img.media_id,)), img.alt) for img in current if not img.failed]


def _same_set(wanted: list[tuple[str, str]], have: list[ImageSpec]) -> bool:
    """The product has exactly these images (by any of their URLs) with these alts, in this order."""
    return len(wanted) == len(have) and all(
        key in keys and alt == had for (key, alt), (keys, had) in zip(wanted, have, strict=True))


def _distinct(images: Sequence[Image]) -> list[Image]:
    """The first image of each source (an append adds a source once)."""
    seen: set[str] = set()
    out = []
    for image in images:
        key = source_key(image.url)
        if key not in seen:
            seen.add(key)
            out.append(image)
    return out


def _files(images: Sequence[Image], current: list[ShopImage] | None) -> list[dict[str, Any]]:
    """productSet ``files`` for this list: the product's own image of a source is kept by id (each
    once), any other source is a new image."""
    unused = [img for img in current or [] if not img.failed and img.keys]
    files: list[dict[str, Any]] = []
    for image in images:
        key = source_key(image.url)
        mine = next((img for img in unused if key in img.keys), None)
        if mine is not None:
            unused.remove(mine)
            files.append({"id": mine.media_id, "alt": image.alt})
        else:
            files.append({"originalSource": image.url, "alt": image.alt, "contentType": "IMAGE"})
    return files
