"""The simulated shop's catalog: a deterministic base with an overlay of written values.

Why an overlay: a 1.5M-product shop must exist the moment it is made, in a few MB. Every value is a
pure function of the product number until something writes it; writes land in small dicts that
shadow the base. Construction is O(1); memory grows only with what was written.

The scheme (other parts and fixtures rely on it exactly):

- product ``p`` in ``1..N``: GID ``gid://shopify/Product/{p}``, handle ``product-{p}``, title
  ``Product {p}``, descriptionHtml ``<p>Description of product {p}.</p>``;
- ``1 + p % 3`` variants ``v = 0..``: GID ``gid://shopify/ProductVariant/{p*10+v}``, SKU
  ``SKU-{p:07d}-{v}``, inventory item ``gid://shopify/InventoryItem/{p*10+v}``;
- price in cents ``1000 + (p*37 + v*11) % 9000``; compareAtPrice = price + 500 cents for even ``p``,
  null for odd ``p``; Money is served as a string with two decimals (``"12.34"``);
- locations ``gid://shopify/Location/1..3``: "Main Warehouse", "Store Front", "Overflow";
- available quantity of item ``(p, v)`` at location ``loc``: ``(p*7 + v*3 + loc) % 50``;
- media: ``1 + p % 2`` images, ``gid://shopify/MediaImage/{p*10+i}``, alt ``Product {p} image {i}``,
  URL ``https://cdn.shopify.sim/products/product-{p}-{i}.jpg``; an added image gets the next free id
  and goes UPLOADED → PROCESSING → READY (or FAILED) on the shop's clock (``bulk/sim/_media.py``);
- createdAt = updatedAt = :data:`BASE_TIME` until written; what moves ``updatedAt`` (see
  docs/simulator.md): a variant write moves the variant's and its product's; a description or media
  write moves the product's; an inventory quantity write moves the product's (the schema's
  ``Product.updatedAt`` counts inventory adjustments) and the inventory item's, not the variant's;
- a :class:`~bulk.sim._seed.CatalogSeed` (``sim://?match=FILE``) adds products *after* the generated
  ones, numbered on, with the handles and SKUs an input file names; values follow the same formulas.

SKUs are resolved by parsing them (no index). Every applied write is counted per object so tests can
see a change applied twice (:meth:`Catalog.write_count`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bulk.sim._catalog_identity import CatalogIdentity
from bulk.sim._media import MEDIA_PROCESSING_S, Media, MediaStore, MediaTiming
from bulk.sim._values import ITEM_GID, LOCATION_GID, PRODUCT_GID, VARIANT_GID, gid_number, level_key

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
"""Wall time (epoch seconds) at which every unwritten object was created and last updated."""

__all__ = ["BASE_TIME", "LOCATIONS", "MEDIA_PROCESSING_S", "Catalog", "Media"]

LOCATIONS: dict[int, str] = {1: "Main Warehouse", 2: "Store Front", 3: "Overflow"}


@dataclass(slots=True)
class _ProductOverlay:
    description_html: str | None = None
    updated: float | None = None


@dataclass(slots=True)
class _VariantOverlay:
    price: int | None = None
    compare_at: int | None = None
    compare_at_set: bool = False
    updated: float | None = None


@dataclass
class Catalog(CatalogIdentity):
    """Deterministic products, variants, inventory and locations, plus the overlay of writes.

    ``products`` counts every product; the last ``len(seed)`` of them are the seeded ones. Which
    objects exist and what they are called: :class:`~bulk.sim._catalog_identity.CatalogIdentity`."""

    media_timing: MediaTiming = field(default_factory=MediaTiming)
    _product: dict[int, _ProductOverlay] = field(default_factory=dict)
    _variant: dict[int, _VariantOverlay] = field(default_factory=dict)
    _available: dict[tuple[int, int], int] = field(default_factory=dict)
    _item_updated: dict[int, float] = field(default_factory=dict)
    _writes: Counter[str] = field(default_factory=Counter)
    media_store: MediaStore = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.media_store = MediaStore(self.products, self.media_timing)

    # -- current values -------------------------------------------------------------------------
    def price_cents(self, vid: int) -> int:
        """Current price of variant ``vid`` in cents."""
        o = self._variant.get(vid)
        if o is not None and o.price is not None:
            return o.price
        p, v = divmod(vid, 10)
        return 1000 + (p * 37 + v * 11) % 9000

    def compare_at_cents(self, vid: int) -> int | None:
        """Current compareAtPrice of variant ``vid`` in cents (None = unset)."""
        o = self._variant.get(vid)
        if o is not None and o.compare_at_set:
            return o.compare_at
        p, v = divmod(vid, 10)
        return None if p % 2 else 1000 + (p * 37 + v * 11) % 9000 + 500

    def description_html(self, p: int) -> str:
        """Current descriptionHtml of product ``p``."""
        o = self._product.get(p)
        if o is not None and o.description_html is not None:
            return o.description_html
        return f"<p>Description of product {p}.</p>"

    def media(self, p: int) -> list[Media]:
        """Current images of product ``p``, in position order."""
        return list(self.media_store.of(p))

    def find_media(self, mid: int) -> Media | None:
        """Image ``mid`` (attached to a product or not), or None."""
        return self.media_store.find(mid, self.has_product)

    def media_owner(self, mid: int) -> int | None:
        """The product image ``mid`` is attached to, if any (one product per image here)."""
        return self.media_store.owner(mid, self.has_product)

    def available(self, vid: int, loc: int) -> int:
        """Current ``available`` quantity of inventory item ``vid`` at location ``loc``."""
        got = self._available.get((vid, loc))
        if got is not None:
            return got
        p, v = divmod(vid, 10)
        return (p * 7 + v * 3 + loc) % 50

    def product_updated(self, p: int) -> float:
        """Wall time of product ``p``'s last write (or of a variant of it)."""
        o = self._product.get(p)
        return o.updated if o is not None and o.updated is not None else BASE_TIME

    def variant_updated(self, vid: int) -> float:
        """Wall time of variant ``vid``'s last write."""
        o = self._variant.get(vid)
        return o.updated if o is not None and o.updated is not None else BASE_TIME

    def item_updated(self, vid: int) -> float:
        """Wall time of inventory item ``vid``'s last quantity change."""
        return self._item_updated.get(vid, BASE_TIME)

    def written_products_since(self, after: float) -> list[int]:
        """Products updated strictly after ``after``, ascending; only written ones can be."""
        return sorted(p for p, o in self._product.items() if o.updated is not None and o.updated > after)

    def written_products(self) -> list[int]:
        """Products whose updatedAt moved from :data:`BASE_TIME`, ascending."""
        return sorted(p for p, o in self._product.items() if o.updated is not None)

    def written_variants(self) -> list[int]:
        """Variants whose updatedAt moved from :data:`BASE_TIME`, ascending."""
        return sorted(v for v, o in self._variant.items() if o.updated is not None)

    # -- writes ---------------------------------------------------------------------------------
    def set_variant(
        self,
        vid: int,
        *,
        now: float,
        price: int | None = None,
        compare_at: int | None = None,
        set_compare_at: bool = False,
    ) -> None:
        """Apply one variant write (price and/or compareAtPrice); bumps the product's updatedAt."""
        o = self._variant.setdefault(vid, _VariantOverlay())
        if price is not None:
            o.price = price
        if set_compare_at:
            o.compare_at, o.compare_at_set = compare_at, True
        o.updated = now
        self._touch_product(vid // 10, now)
        self._writes[f"{VARIANT_GID}{vid}"] += 1

    def update_product(
        self,
        p: int,
        *,
        now: float,
        description_html: str | None = None,
        add_media: list[tuple[str | None, str]] | None = None,
    ) -> None:
        """Apply one product write: new description and/or appended images ``(alt, url)``."""
        o = self._touch_product(p, now)
        if description_html is not None:
            o.description_html = description_html
        if add_media:
            store = self.media_store
            store.set_list(p, [*store.of(p), *(store.new(alt, url, now) for alt, url in add_media)])
        self._writes[f"{PRODUCT_GID}{p}"] += 1

    def set_media(
        self, p: int, items: list[Media], *, now: float, description_html: str | None = None
    ) -> None:
        """Apply one product write whose media become exactly ``items`` (images made by
        :meth:`new_media` or found by :meth:`find_media`), in order; an image attached to another
        product moves here (one product per image in the simulator)."""
        o = self._touch_product(p, now)
        if description_html is not None:
            o.description_html = description_html
        for m in items:
            owner = self.media_owner(m.id)
            if owner is not None and owner != p:
                self.detach_media(owner, [m.id], now=now)
        self.media_store.set_list(p, items)
        self._writes[f"{PRODUCT_GID}{p}"] += 1

    def new_media(self, alt: str | None, url: str, *, now: float) -> Media:
        """A new image from ``url`` (processing starts now), not attached to a product yet."""
        return self.media_store.new(alt, url, now)

    def detach_media(self, p: int, ids: list[int], *, now: float) -> None:
        """Apply one product write removing images ``ids`` from product ``p`` (they stay as files)."""
        drop = set(ids)
        self.media_store.set_list(p, [m for m in self.media_store.of(p) if m.id not in drop])
        self._touch_product(p, now)
        self._writes[f"{PRODUCT_GID}{p}"] += 1

    def set_available(self, vid: int, loc: int, quantity: int, *, now: float) -> None:
        """Apply one ``available`` quantity write at one location: moves the inventory item's and the
        product's updatedAt (not the variant's; see the module docstring)."""
        self._available[(vid, loc)] = quantity
        self._item_updated[vid] = now
        self._touch_product(vid // 10, now)
        self._writes[level_key(vid, loc)] += 1

    def touch_product(self, p: int, *, now: float) -> None:
        """Apply one product write that changes nothing the overlay holds (e.g. an image's alt)."""
        self._touch_product(p, now)
        self._writes[f"{PRODUCT_GID}{p}"] += 1

    def _touch_product(self, p: int, now: float) -> _ProductOverlay:
        o = self._product.setdefault(p, _ProductOverlay())
        o.updated = now
        return o

    # -- accounting -----------------------------------------------------------------------------
    def write_count(self, gid: str, location_id: str | None = None) -> int:
        """How many writes were applied to one object.

        ``gid`` is a Product or ProductVariant GID, or an InventoryItem GID together with the
        ``location_id`` of the level written.
        """
        if location_id is not None:
            vid = gid_number(gid, ITEM_GID)
            loc = gid_number(location_id, LOCATION_GID)
            return 0 if vid is None or loc is None else self._writes[level_key(vid, loc)]
        return self._writes[gid]

    def statistics(self) -> dict[str, Any]:
        """Size of the shop and of the overlay, and write accounting."""
        return {
            "products": self.products,
            "variants": self.total_variants(),
            "overlay_products": len(self._product),
            "overlay_variants": len(self._variant),
            "overlay_levels": len(self._available),
            "overlay_media_lists": self.media_store.count(),
            "objects_written": len(self._writes),
            "writes_total": sum(self._writes.values()),
            "objects_written_more_than_once": sum(1 for n in self._writes.values() if n > 1),
        }

    def __repr__(self) -> str:
        return (
            f"Catalog(products={self.products}, written={len(self._writes)}, "
            f"writes={sum(self._writes.values())})"
        )
