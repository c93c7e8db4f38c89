"""The simulated shop's state behind the GraphQL front: :class:`ShopState`.

Why a facade: the front (``bulk/sim/_gateway.py``) needs one object that hands out resolvers, says
which fields are real (``SUPPORTED_FIELDS``), owns the file store and can be closed. Behind it each
group of operations lives in its own module:

- ``catalog.py`` — the deterministic catalog and its overlay of writes (and write accounting);
- ``_ops_nodes.py`` — node dicts and nested-field resolvers;
- ``_ops_products.py`` — products, variants, ``productVariantsBulkUpdate``, ``productUpdate``;
- ``ops_media.py`` + ``media.py`` — ``productSet``, ``fileUpdate``, media processing;
- ``_ops_inventory.py`` — ``inventorySetQuantities`` (``@idempotent``), inventory items, locations;
- ``_ops_uploads.py`` — ``stagedUploadsCreate``;
- ``_ops_bulk.py`` + ``bulkops.py`` + ``ops_export.py`` — bulk operations (engine, exports);
- ``files.py`` — staged uploads and result files.

Resolvers follow graphql-core: ``fn(parent, info, **args)`` with camelCase argument names;
``info.context`` is a :class:`bulk.sim._context.SimContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bulk.clock import Clock
from bulk.sim import _ops_bulk, _ops_inventory, _ops_nodes, _ops_products, _ops_uploads
from bulk.sim._bulkops import BulkEngine
from bulk.sim._catalog import Catalog
from bulk.sim._files import FileStore
from bulk.sim._media import MediaTiming
from bulk.sim._ops_common import ShopCore, Source, bad_request
from bulk.sim._ops_export import Exporter
from bulk.sim._seed import CatalogSeed
from bulk.sim._storage import UploadPolicy


def _merge(*tables: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for table in tables:
        for name, fields in table.items():
            out[name] = out.get(name, frozenset()) | fields
    return out


class ShopState:
    """Catalog, operations and bulk engine of one simulated shop."""

    SUPPORTED_FIELDS: Mapping[str, frozenset[str]] = _merge(
        _ops_nodes.SUPPORTED,
        _ops_products.SUPPORTED,
        _ops_inventory.SUPPORTED,
        _ops_bulk.SUPPORTED,
        {
            "QueryRoot": frozenset(
                {
                    "node",
                    "product",
                    "productVariant",
                    "products",
                    "productVariants",
                    "inventoryItem",
                    "inventoryItems",
                    "locations",
                    "location",
                    "shop",
                    "bulkOperation",
                    "bulkOperations",
                }
            ),
            "Mutation": frozenset(
                {
                    "productVariantsBulkUpdate",
                    "productUpdate",
                    "inventorySetQuantities",
                    "stagedUploadsCreate",
                    "bulkOperationRunMutation",
                    "bulkOperationRunQuery",
                    "bulkOperationCancel",
                }
            ),
            "Shop": frozenset({"id", "name", "myshopifyDomain"}),
        },
    )
    """Type name → the fields this shop serves; the front refuses every other field."""

    def __init__(
        self,
        *,
        products: int,
        clock: Clock,
        bulk_lines_per_s: float = 2000.0,
        fault_rate: float = 0.0,
        bulk_slowdown: float = 1.0,
        seed: int = 0,
        catalog_seed: CatalogSeed | None = None,
        media_timing: MediaTiming | None = None,
        upload_policy: UploadPolicy | None = None,
        bulk_limit: _ops_bulk.BulkLimit | None = None,
    ) -> None:
        self.clock = clock
        extra = CatalogSeed() if catalog_seed is None else catalog_seed
        # seeded products come after ``products``
        self.catalog = Catalog(products + len(extra), extra, media_timing or MediaTiming())
        self.core = ShopCore(self.catalog, clock)
        self.files = FileStore()
        self.nodes = _ops_nodes.Nodes(self.core)
        self.products_ops = _ops_products.ProductOps(self.core, self.nodes)
        self.inventory_ops = _ops_inventory.InventoryOps(self.core, self.nodes)
        self.engine = BulkEngine(
            self.core,
            self.files,
            lines_per_s=bulk_lines_per_s,
            slowdown=bulk_slowdown,
            fault_rate=fault_rate,
            seed=seed,
        )
        self.exporter = Exporter(self.nodes, self._export_source)
        self.bulk_ops = _ops_bulk.BulkOps(self.core, self.files, self.engine, self.exporter, bulk_limit)
        self.upload_ops = _ops_uploads.UploadOps(self.core, upload_policy)

    def _export_source(self, root: str, search: str | None) -> Source:
        if root == "products":
            return self.products_ops.product_source(search)
        return self.products_ops.variant_source(search)

    # -- root resolvers that span groups ----------------------------------------------------------
    def node(self, _: Any, info: Any, *, id: str) -> dict[str, Any] | None:
        """``node(id:)``: Product, ProductVariant, InventoryItem, Location or the caller's BulkOperation."""
        if not isinstance(id, str) or not id.startswith("gid://shopify/"):
            raise bad_request(f"Invalid global id '{id}'", "INVALID_GLOBAL_ID")
        found = self.nodes.by_gid(id)
        return found if found is not None else self.bulk_ops.by_gid(id, info.context.token_index)

    def shop(self, _: Any, info: Any) -> dict[str, Any]:
        """``shop``."""
        return {
            "id": "gid://shopify/Shop/1",
            "name": self.core.shop_name,
            "myshopifyDomain": "simulated-shop.myshopify.com",
        }

    def resolvers(self) -> dict[str, dict[str, Callable[..., Any]]]:
        """Type name → field name → resolver (``fn(parent, info, **args)``)."""
        query: dict[str, Callable[..., Any]] = {"node": self.node, "shop": self.shop}
        mutation: dict[str, Callable[..., Any]] = {}
        groups: tuple[Any, ...] = (self.products_ops, self.inventory_ops, self.bulk_ops, self.upload_ops)
        for group in groups:
            q, m = group.roots()
            query.update(q)
            mutation.update(m)
        table = self.nodes.type_resolvers()
        table["QueryRoot"] = query
        table["Mutation"] = mutation
        table["InventoryAdjustmentGroup"] = {"changes": self.inventory_ops.group_changes}
        return table

    def write_count(self, gid: str, location_id: str | None = None) -> int:
        """Writes applied to one object (see :meth:`Catalog.write_count`)."""
        return self.catalog.write_count(gid, location_id)

    def statistics(self) -> dict[str, Any]:
        """Catalog size, write accounting, idempotency, bulk operations by status, files."""
        return {
            **self.catalog.statistics(),
            **self.inventory_ops.statistics(),
            **self.engine.statistics(),
            **self.upload_ops.statistics(),
            "files": self.files.statistics(),
        }

    async def aclose(self) -> None:
        """Stop every background bulk-operation task."""
        await self.engine.aclose()

    async def __aenter__(self) -> ShopState:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"ShopState({self.catalog!r}, {self.engine!r})"
