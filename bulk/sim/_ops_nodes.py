"""Plain dicts for the shop's objects, as graphql-core's default resolver wants them.

Why dicts built on demand: the catalog holds numbers, not objects; a node is made only when a query
asks for it (O(1) each), and its keys are the GraphQL field names so nested scalars need no resolver.
Fields that cost more (connections, sums) have resolvers (:mod:`bulk.sim._node_fields`, through
:meth:`Nodes.type_resolvers`), which the
bulk query exporter reuses so a bulk export and a normal query can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulk.sim._catalog import BASE_TIME, LOCATIONS, Catalog, Media
from bulk.sim._node_fields import FieldResolvers
from bulk.sim._ops_common import ShopCore
from bulk.sim._values import (
    ITEM_GID,
    LOCATION_GID,
    MEDIA_GID,
    PRODUCT_GID,
    VARIANT_GID,
    gid_number,
    iso,
    level_key,
    money,
)


class Nodes:
    """Builds the node dict of any catalog object from its number."""

    def __init__(self, core: ShopCore) -> None:
        self.core = core
        self.catalog: Catalog = core.catalog

    def product(self, p: int) -> dict[str, Any] | None:
        """Product ``p`` or None if it does not exist."""
        c = self.catalog
        if not c.has_product(p):
            return None
        return {
            "__typename": "Product",
            "id": f"{PRODUCT_GID}{p}",
            "handle": c.handle(p),
            "title": f"Product {p}",
            "descriptionHtml": c.description_html(p),
            "status": "ACTIVE",
            "createdAt": iso(BASE_TIME),
            "updatedAt": iso(c.product_updated(p)),
            "options": [
                {"__typename": "ProductOption", "name": name, "position": i + 1}
                for i, name in enumerate(c.option_names(p))
            ],
            "_p": p,
        }

    def variant(self, vid: int) -> dict[str, Any] | None:
        """Variant ``vid`` (with its inventory item inline) or None."""
        c = self.catalog
        if not c.has_variant(vid):
            return None
        p, v = divmod(vid, 10)
        compare = c.compare_at_cents(vid)
        return {
            "__typename": "ProductVariant",
            "id": f"{VARIANT_GID}{vid}",
            "sku": c.sku(vid),
            "title": f"Variant {v}",
            "displayName": f"Product {p} - Variant {v}",
            "price": money(c.price_cents(vid)),
            "compareAtPrice": None if compare is None else money(compare),
            "updatedAt": iso(c.variant_updated(vid)),
            "inventoryItem": self.item(vid),
            "selectedOptions": [
                {"__typename": "SelectedOption", "name": name, "value": value}
                for name, value in c.selected_options(vid)
            ],
            "_vid": vid,
        }

    def item(self, vid: int) -> dict[str, Any] | None:
        """Inventory item ``vid`` or None."""
        c = self.catalog
        if not c.has_variant(vid):
            return None
        return {
            "__typename": "InventoryItem",
            "id": f"{ITEM_GID}{vid}",
            "sku": c.sku(vid),
            "tracked": True,
            "updatedAt": iso(c.item_updated(vid)),
            "_vid": vid,
        }

    @staticmethod
    def location(loc: int) -> dict[str, Any] | None:
        """Location ``loc`` or None."""
        name = LOCATIONS.get(loc)
        if name is None:
            return None
        return {"__typename": "Location", "id": f"{LOCATION_GID}{loc}", "name": name, "isActive": True}

    def level(self, vid: int, loc: int) -> dict[str, Any] | None:
        """The inventory level of item ``vid`` at ``loc`` or None."""
        location = self.location(loc)
        if location is None or not self.catalog.has_variant(vid):
            return None
        return {
            "__typename": "InventoryLevel",
            "id": level_key(vid, loc),
            "location": location,
            "item": self.item(vid),
            "_vid": vid,
            "_loc": loc,
        }

    def media(self, p: int) -> list[dict[str, Any]]:
        """Product ``p``'s images as MediaImage dicts, in position order."""
        now = self.core.wall()
        return [self.media_node(m, now) for m in self.catalog.media(p)]

    def media_node(self, m: Media, now: float | None = None) -> dict[str, Any]:
        """One image as a MediaImage dict, its status as of ``now`` (wall time; default: now).

        ``image`` and ``preview.image`` stay null until the image is READY, as Shopify serves them
        while it downloads and processes the source. Neither ``image.url`` nor ``originalSource.url`` is
        the URL given: the shop's CDN copy, and a signed link to the stored original (sim/_media.py)."""
        now = self.core.wall() if now is None else now
        status = m.status(now)
        ready = status == "READY"
        image = {"id": f"gid://shopify/ImageSource/{m.id}", "url": m.image_url(), "altText": m.alt} \
            if ready else None
        return {
            "__typename": "MediaImage",
            "id": f"{MEDIA_GID}{m.id}",
            "alt": m.alt,
            "mediaContentType": "IMAGE",
            "status": status,
            "fileStatus": status,  # FileStatus has the same four values
            "image": image,
            "preview": {"image": image, "status": status},
            "originalSource": {"url": m.original_url(now)},
            "mediaErrors": m.errors(now),
            "mediaWarnings": [],
        }

    def media_by_id(self, mid: int) -> dict[str, Any] | None:
        """Image ``mid`` as a MediaImage dict, or None."""
        m = self.catalog.find_media(mid)
        return None if m is None else self.media_node(m)

    def by_gid(self, gid: str) -> dict[str, Any] | None:
        """Any catalog node by GID (None if unknown)."""
        for prefix, build in self._by_prefix():
            n = gid_number(gid, prefix)
            if n is not None:
                return build(n)
        return None

    def _by_prefix(self) -> list[tuple[str, Callable[[int], dict[str, Any] | None]]]:
        return [
            (PRODUCT_GID, self.product),
            (VARIANT_GID, self.variant),
            (ITEM_GID, self.item),
            (LOCATION_GID, self.location),
            (MEDIA_GID, self.media_by_id),
        ]

    def type_resolvers(self) -> dict[str, dict[str, Callable[..., Any]]]:
        """Resolvers of non-root fields (:mod:`bulk.sim._node_fields`)."""
        return FieldResolvers(self).table()


SUPPORTED: dict[str, frozenset[str]] = {
    "Node": frozenset({"id"}),
    "Product": frozenset(
        {
            "id",
            "handle",
            "title",
            "descriptionHtml",
            "status",
            "createdAt",
            "updatedAt",
            "variants",
            "media",
            "totalInventory",
            "options",
        }
    ),
    "ProductOption": frozenset({"name", "position"}),
    "ProductVariant": frozenset(
        {
            "id",
            "sku",
            "title",
            "displayName",
            "price",
            "compareAtPrice",
            "updatedAt",
            "inventoryItem",
            "product",
            "inventoryQuantity",
            "selectedOptions",
        }
    ),
    "SelectedOption": frozenset({"name", "value"}),
    "InventoryItem": frozenset(
        {"id", "sku", "tracked", "updatedAt", "variant", "inventoryLevel", "inventoryLevels"}
    ),
    "InventoryLevel": frozenset({"id", "location", "item", "quantities"}),
    "InventoryQuantity": frozenset({"id", "name", "quantity", "updatedAt"}),
    "Location": frozenset({"id", "name", "isActive"}),
    "Media": frozenset(
        {"id", "alt", "mediaContentType", "status", "preview", "mediaErrors", "mediaWarnings"}
    ),
    "MediaImage": frozenset(
        {
            "id",
            "alt",
            "mediaContentType",
            "status",
            "fileStatus",
            "image",
            "preview",
            "originalSource",
            "mediaErrors",
            "mediaWarnings",
        }
    ),
    "File": frozenset({"id", "alt", "fileStatus"}),
    "MediaImageOriginalSource": frozenset({"url"}),
    "MediaPreviewImage": frozenset({"image", "status"}),
    "Image": frozenset({"id", "url", "altText"}),
    "MediaError": frozenset({"code", "details", "message"}),
    "MediaWarning": frozenset({"code", "message"}),
    "PageInfo": frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}),
    **{
        f"{t}Connection": frozenset({"edges", "nodes", "pageInfo"})
        for t in (
            "Product",
            "ProductVariant",
            "InventoryItem",
            "InventoryLevel",
            "Location",
            "Media",
            "BulkOperation",
        )
    },
    **{
        f"{t}Edge": frozenset({"cursor", "node"})
        for t in (
            "Product",
            "ProductVariant",
            "InventoryItem",
            "InventoryLevel",
            "Location",
            "Media",
            "BulkOperation",
        )
    },
}
"""Fields this module serves, for ``ShopState.SUPPORTED_FIELDS``."""
