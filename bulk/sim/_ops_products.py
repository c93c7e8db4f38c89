"""Product and variant reads and writes: ``product``, ``products``, ``productVariants``,
``productVariantsBulkUpdate`` and ``productUpdate`` (API 2026-04 shapes).

Why validate everything before applying anything: ``productVariantsBulkUpdate`` without
``allowPartialUpdates`` is all-or-nothing in Shopify, and a simulator that half-applied a refused
call would hide exactly the double-application bugs it exists to catch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from bulk.sim import _ops_media
from bulk.sim._catalog import BASE_TIME
from bulk.sim._ops_common import (
    MAX_PAGE,
    ShopCore,
    Source,
    bad_request,
    connection,
    list_source,
    not_implemented,
    parse_search,
    range_source,
    reject_unknown_keys,
    user_error,
)
from bulk.sim._ops_media import MediaOps
from bulk.sim._ops_nodes import Nodes
from bulk.sim._search_updated import updated_filter
from bulk.sim._values import PRODUCT_GID, VARIANT_GID, cents_of, gid_number

VARIANT_INPUT = frozenset({"id", "price", "compareAtPrice"})
PRODUCT_INPUT = frozenset({"id", "descriptionHtml"})
PRODUCT_INPUT_DEFAULTS = {"deleteConflictingConstrainedMetafields": False}
MEDIA_INPUT = frozenset({"originalSource", "alt", "mediaContentType"})
MAX_MEDIA_PER_PRODUCT = 250


class ProductOps:
    """Resolvers for products and variants."""

    def __init__(self, core: ShopCore, nodes: Nodes) -> None:
        self.core = core
        self.nodes = nodes
        self.catalog = core.catalog
        self.media_ops = MediaOps(core, nodes)  # productSet, fileUpdate

    # -- reads ----------------------------------------------------------------------------------
    def product(self, _: Any, info: Any, *, id: str) -> dict[str, Any] | None:
        """``product(id:)``."""
        p = gid_number(id, PRODUCT_GID)
        return None if p is None else self.nodes.product(p)

    def product_variant(self, _: Any, info: Any, *, id: str) -> dict[str, Any] | None:
        """``productVariant(id:)``."""
        vid = gid_number(id, VARIANT_GID)
        return None if vid is None else self.nodes.variant(vid)

    def product_source(self, query: str | None) -> Source:
        """Products matching a search (``updated_at`` with ``>``, ``>=``, ``<``, ``<=``)."""
        c = self.catalog
        since = updated_filter(parse_search(query, frozenset({"updated_at"})), self.core.wall())
        if not since.active:
            return range_source(1, c.products, self.nodes.product)

        def node(p: int) -> dict[str, Any] | None:
            return self.nodes.product(p) if since.matches(c.product_updated(p)) else None

        # Only written products can have moved from BASE_TIME: a bound that excludes it needs no scan.
        if since.matches(BASE_TIME):
            return range_source(1, c.products, node)
        return list_source(c.written_products(), node)

    def products(self, _: Any, info: Any, *, query: str | None = None, **args: Any) -> dict[str, Any]:
        """``products(first:, after:, query:)``."""
        args.pop("savedSearchId", None)
        return connection(self.product_source(query), **args)

    def variant_source(self, query: str | None) -> Source:
        """Variants matching a search: ``sku:X`` (exact) and ``updated_at`` bounds, ANDed."""
        c = self.catalog
        terms = parse_search(query, frozenset({"sku", "updated_at"}))
        since = updated_filter(terms, self.core.wall())

        def node(vid: int) -> dict[str, Any] | None:
            return self.nodes.variant(vid) if since.matches(c.variant_updated(vid)) else None

        skus = [t for t in terms if t.field == "sku"]
        if skus:
            keys: set[int] | None = None
            for t in skus:
                if t.op != "=":
                    raise not_implemented(f"Search term 'sku:{t.op}'")
                vid = c.variant_by_sku(t.value)
                found = {vid} if vid is not None else set()
                keys = found if keys is None else keys & found
            return list_source(sorted(keys or ()), node)
        if not since.active:
            return range_source(10, c.products * 10 + 9, self.nodes.variant)
        if since.matches(BASE_TIME):
            return range_source(10, c.products * 10 + 9, node)
        return list_source(c.written_variants(), node)

    def product_variants(self, _: Any, info: Any, *, query: str | None = None, **args: Any) -> Any:
        """``productVariants(first:, query: "sku:X")``."""
        args.pop("savedSearchId", None)
        return connection(self.variant_source(query), **args)

    # -- productVariantsBulkUpdate ------------------------------------------------------------
    def variants_bulk_update(
        self,
        _: Any,
        info: Any,
        *,
        productId: str,
        variants: list[dict[str, Any]],
        allowPartialUpdates: bool | None = False,
        media: Any = None,
    ) -> dict[str, Any]:
        """``productVariantsBulkUpdate``: price / compareAtPrice of variants of one product."""
        if media is not None:
            raise not_implemented("Argument 'media' of productVariantsBulkUpdate")
        if len(variants) > MAX_PAGE:
            raise bad_request(
                f"The input array size of {len(variants)} is greater than the maximum allowed of {MAX_PAGE}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        p = gid_number(productId, PRODUCT_GID)
        if not self.catalog.has_product(p):
            return {
                "product": None,
                "productVariants": None,
                "userErrors": [user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")],
            }
        assert p is not None
        errors: list[dict[str, Any]] = []
        good: list[tuple[int, dict[str, Any]]] = []
        seen: set[int] = set()
        for i, row in enumerate(variants):
            reject_unknown_keys(row, VARIANT_INPUT, "ProductVariantsBulkInput")
            problem = self._variant_problem(p, i, row, seen)
            if problem:
                errors.append(problem)
            else:
                good.append((i, row))
        if errors and not allowPartialUpdates:
            return {"product": self.nodes.product(p), "productVariants": None, "userErrors": errors}
        now = self.core.wall()
        out = []
        for _i, row in good:
            vid = gid_number(row["id"], VARIANT_GID)
            assert vid is not None
            compare_set = "compareAtPrice" in row
            compare = row.get("compareAtPrice")
            self.catalog.set_variant(
                vid,
                now=now,
                price=cents_of(row["price"]) if row.get("price") is not None else None,
                compare_at=cents_of(compare) if compare is not None else None,
                set_compare_at=compare_set,
            )
            out.append(self.nodes.variant(vid))
        return {"product": self.nodes.product(p), "productVariants": out, "userErrors": errors}

    def _variant_problem(self, p: int, i: int, row: dict[str, Any], seen: set[int]) -> dict[str, Any] | None:
        path = ["variants", str(i)]
        if row.get("id") is None:
            return user_error(
                [*path, "id"], "Product variant is missing ID attribute", "PRODUCT_VARIANT_ID_MISSING"
            )
        vid = gid_number(row["id"], VARIANT_GID)
        if not self.catalog.has_variant(vid):
            return user_error(
                [*path, "id"], "Product variant does not exist", "PRODUCT_VARIANT_DOES_NOT_EXIST"
            )
        assert vid is not None
        if vid // 10 != p:
            return user_error(
                [*path, "id"], "Product variant does not belong to this product", "MUST_BE_FOR_THIS_PRODUCT"
            )
        if vid in seen:
            return user_error([*path, "id"], "Product variant is listed more than once", "INVALID_INPUT")
        seen.add(vid)
        if "price" in row:
            if row["price"] is None:
                return user_error([*path, "price"], "Price can't be blank", "BLANK")
            problem = _price_problem(row["price"], [*path, "price"])
            if problem:
                return problem
        if row.get("compareAtPrice") is not None:
            problem = _price_problem(row["compareAtPrice"], [*path, "compareAtPrice"])
            if problem:
                return problem
        return None

    # -- productUpdate --------------------------------------------------------------------------
    def product_update(
        self,
        _: Any,
        info: Any,
        *,
        product: dict[str, Any] | None = None,
        media: list[dict[str, Any]] | None = None,
        identifier: Any = None,
    ) -> dict[str, Any]:
        """``productUpdate(product: {id, descriptionHtml}, media: [...])``: description and new images."""
        if identifier is not None:
            raise not_implemented("Argument 'identifier' of productUpdate")
        if product is None:
            return {"product": None, "userErrors": [user_error(["product"], "Product input is required")]}
        reject_unknown_keys(product, PRODUCT_INPUT, "ProductUpdateInput", PRODUCT_INPUT_DEFAULTS)
        p = gid_number(product.get("id"), PRODUCT_GID)
        if not self.catalog.has_product(p):
            return {"product": None, "userErrors": [user_error(["product", "id"], "Product does not exist")]}
        assert p is not None
        errors: list[dict[str, Any]] = []
        if "descriptionHtml" in product and product["descriptionHtml"] is None:
            errors.append(user_error(["product", "descriptionHtml"], "Description can't be null"))
        new_media: list[tuple[str | None, str]] = []
        for i, m in enumerate(media or []):
            reject_unknown_keys(m, MEDIA_INPUT, "CreateMediaInput")
            problem = _media_problem(m, ["media", str(i)])
            if problem:
                errors.append(problem)
            else:
                new_media.append((m.get("alt"), m["originalSource"]))
        if len(self.catalog.media(p)) + len(new_media) > MAX_MEDIA_PER_PRODUCT:
            errors.append(user_error(["media"], f"A product can have at most {MAX_MEDIA_PER_PRODUCT} media"))
        if errors:
            return {"product": self.nodes.product(p), "userErrors": errors}
        self.catalog.update_product(
            p, now=self.core.wall(), description_html=product.get("descriptionHtml"), add_media=new_media
        )
        return {"product": self.nodes.product(p), "userErrors": []}

    def roots(self) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
        """(query root resolvers, mutation resolvers), ``productSet`` and ``fileUpdate`` included."""
        _, media = self.media_ops.roots()
        return (
            {
                "product": self.product,
                "productVariant": self.product_variant,
                "products": self.products,
                "productVariants": self.product_variants,
            },
            {
                "productVariantsBulkUpdate": self.variants_bulk_update,
                "productUpdate": self.product_update,
                **media,
            },
        )


def _price_problem(value: Any, path: list[str]) -> dict[str, Any] | None:
    if cents_of(value) is not None:
        return None
    negative = isinstance(value, str | int | float) and str(value).strip().startswith("-")
    if negative:
        return user_error(path, "Price must be greater than or equal to 0", "GREATER_THAN_OR_EQUAL_TO")
    return user_error(path, f"Price is invalid: {value!r} (at most 2 decimals, below 10^12)", "INVALID_INPUT")


def _media_problem(m: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    if m.get("mediaContentType") != "IMAGE":
        return user_error([*path, "mediaContentType"], "The simulated shop only accepts IMAGE media")
    source = m.get("originalSource")
    if not isinstance(source, str) or not source.startswith(("https://", "http://")):
        return user_error([*path, "originalSource"], "Image URL is invalid")
    return None


def iter_products(ops: ProductOps, query: str | None) -> Iterator[dict[str, Any]]:
    """Every product matching ``query``, ascending (for bulk exports)."""
    for _, node in ops.product_source(query)(None, False):
        yield node


SUPPORTED: dict[str, frozenset[str]] = {
    "ProductVariantsBulkUpdatePayload": frozenset({"product", "productVariants", "userErrors"}),
    "ProductVariantsBulkUpdateUserError": frozenset({"field", "message", "code"}),
    "ProductUpdatePayload": frozenset({"product", "userErrors"}),
    "UserError": frozenset({"field", "message"}),
    **_ops_media.SUPPORTED,
}
