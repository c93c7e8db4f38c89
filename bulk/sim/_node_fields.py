"""Resolvers of the node fields that cost more than a dict key: connections (a product's variants and
media, an item's levels), sums (``totalInventory``, ``inventoryQuantity``) and the links between
objects. Shared by normal queries and the bulk query exporter, so the two never disagree."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bulk.sim._catalog import LOCATIONS
from bulk.sim._ops_common import connection, list_source
from bulk.sim._values import LOCATION_GID, gid_number, iso

if TYPE_CHECKING:
    from bulk.sim._ops_nodes import Nodes


class FieldResolvers:
    """``(parent, info, **args)`` resolvers over the node dicts :class:`~bulk.sim._ops_nodes.Nodes` builds."""

    def __init__(self, nodes: Nodes) -> None:
        self.nodes = nodes

    def product_variants(self, parent: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        """``Product.variants``."""
        p = parent["_p"]
        return connection(list_source(list(self.nodes.catalog.variant_ids(p)), self.nodes.variant), **args)

    def product_media(self, parent: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        """``Product.media``."""
        nodes = self.nodes.media(parent["_p"])
        return connection(list_source(list(range(len(nodes))), lambda i: nodes[i]), **args)

    def product_total_inventory(self, parent: dict[str, Any], info: Any) -> int:
        """``Product.totalInventory``: available summed over variants and locations."""
        c = self.nodes.catalog
        return sum(c.available(vid, loc) for vid in c.variant_ids(parent["_p"]) for loc in LOCATIONS)

    def variant_product(self, parent: dict[str, Any], info: Any) -> dict[str, Any] | None:
        """``ProductVariant.product``."""
        return self.nodes.product(parent["_vid"] // 10)

    def variant_inventory_quantity(self, parent: dict[str, Any], info: Any) -> int:
        """``ProductVariant.inventoryQuantity``: available summed over locations."""
        return sum(self.nodes.catalog.available(parent["_vid"], loc) for loc in LOCATIONS)

    def item_variant(self, parent: dict[str, Any], info: Any) -> dict[str, Any] | None:
        """``InventoryItem.variant``."""
        return self.nodes.variant(parent["_vid"])

    def item_level(self, parent: dict[str, Any], info: Any, *, locationId: str, **_: Any) -> Any:
        """``InventoryItem.inventoryLevel(locationId:)``."""
        loc = gid_number(locationId, LOCATION_GID)
        return None if loc is None else self.nodes.level(parent["_vid"], loc)

    def item_levels(self, parent: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        """``InventoryItem.inventoryLevels``."""
        args.pop("includeInactive", None)
        vid = parent["_vid"]
        return connection(list_source(sorted(LOCATIONS), lambda loc: self.nodes.level(vid, loc)), **args)

    def level_quantities(self, parent: dict[str, Any], info: Any, *, names: list[str]) -> list[Any]:
        """``InventoryLevel.quantities(names:)``: ``available`` and ``on_hand`` (equal: nothing is
        committed in the simulated shop); other names are served as 0."""
        qty = self.nodes.catalog.available(parent["_vid"], parent["_loc"])
        return [
            {
                "id": f"gid://shopify/InventoryQuantity/{parent['_loc']}?inventory_item_id="
                f"{parent['_vid']}&name={name}",
                "name": name,
                "quantity": qty if name in ("available", "on_hand") else 0,
                "updatedAt": iso(self.nodes.catalog.item_updated(parent["_vid"])),
            }
            for name in names
        ]

    def table(self) -> dict[str, dict[str, Callable[..., Any]]]:
        """Resolvers of non-root fields, by type and field name."""
        return {
            "Product": {
                "variants": self.product_variants,
                "media": self.product_media,
                "totalInventory": self.product_total_inventory,
            },
            "ProductVariant": {
                "product": self.variant_product,
                "inventoryQuantity": self.variant_inventory_quantity,
            },
            "InventoryItem": {
                "variant": self.item_variant,
                "inventoryLevel": self.item_level,
                "inventoryLevels": self.item_levels,
            },
            "InventoryLevel": {"quantities": self.level_quantities},
        }
