"""Whole-product and file writes: ``productSet`` (description, ``files`` = the product's media) and
``fileUpdate`` (alt, source, and which products an image belongs to), API 2026-04 shapes.

Why these two: in 2026-04 ``productCreateMedia`` is deprecated ("Use ``productUpdate`` or
``productSet``") and ``productDeleteMedia`` too ("Use ``fileUpdate``"); ``fileCreate`` takes no product
reference. So a client *appends* images with ``productUpdate(media:)`` (``ops_products.py``),
*replaces* a product's images with ``productSet(files:)`` — a list field, which ``productSet``
documents as "creates new entries, updates existing entries, and deletes existing entries that
aren't included" — or removes some with ``fileUpdate(referencesToRemove:)``. The deprecated
mutations are not served (``NOT_IMPLEMENTED_IN_SIMULATOR``), so a client cannot come to rely on them.

Every write is validated whole before anything is applied (nothing half-applied), moves the
product's ``updatedAt`` and is counted as one write of the product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bulk.sim._catalog import Catalog, Media
from bulk.sim._ops_common import ShopCore, not_implemented, reject_unknown_keys, user_error
from bulk.sim._ops_nodes import Nodes
from bulk.sim._values import MEDIA_GID, PRODUCT_GID, gid_number

MAX_MEDIA_PER_PRODUCT = 250
SET_INPUT = frozenset({"descriptionHtml", "files"})
FILE_SET_INPUT = frozenset({"id", "originalSource", "alt", "contentType"})
FILE_SET_DEFAULTS = {"duplicateResolutionMode": "APPEND_UUID"}
FILE_UPDATE_INPUT = frozenset({"id", "alt", "originalSource", "referencesToAdd", "referencesToRemove"})


def source_problem(source: object) -> str | None:
    """Why ``source`` cannot be an image source (None if it can): an absolute http(s) URL."""
    if not isinstance(source, str) or not source.startswith(("https://", "http://")) or " " in source:
        return "Image URL is invalid"
    return None


class MediaOps:
    """Resolvers for ``productSet`` and ``fileUpdate``."""

    def __init__(self, core: ShopCore, nodes: Nodes) -> None:
        self.core = core
        self.nodes = nodes
        self.catalog = core.catalog

    # -- productSet ---------------------------------------------------------------------------
    def product_set(
        self,
        _: Any,
        info: Any,
        *,
        input: dict[str, Any],
        synchronous: bool | None = True,
        identifier: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``productSet(identifier: {id | handle}, input: {descriptionHtml, files})`` on an existing
        product; ``files`` given = the product's media become exactly that list, in order (an entry
        with ``id`` keeps that image, one without is a new image from ``originalSource``)."""
        reject_unknown_keys(input, SET_INPUT, "ProductSetInput")
        p = self._identified(identifier)
        if p is None:
            return _set_answer(
                None, [user_error(["identifier"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]
            )
        errors: list[dict[str, Any]] = []
        if "descriptionHtml" in input and input["descriptionHtml"] is None:
            errors.append(
                user_error(["input", "descriptionHtml"], "Description can't be null", "INVALID_INPUT")
            )
        files = input.get("files")
        if files is not None and len(files) > MAX_MEDIA_PER_PRODUCT:
            errors.append(
                user_error(
                    ["input", "files"],
                    f"A product can have at most {MAX_MEDIA_PER_PRODUCT} media",
                    "INVALID_INPUT",
                )
            )
        plan: list[_Item] = []
        for i, f in enumerate(files or []):
            reject_unknown_keys(f, FILE_SET_INPUT, "FileSetInput", FILE_SET_DEFAULTS)
            item, problem = self._file_set_item(f, ["input", "files", str(i)])
            if problem is not None:
                errors.append(problem)
            elif item is not None:
                plan.append(item)
        if errors:
            return _set_answer(self.nodes.product(p), errors)
        now = self.core.wall()
        description = input.get("descriptionHtml")
        if files is None:
            self.catalog.update_product(p, now=now, description_html=description)
        else:
            items = [x.apply(self.catalog, now) for x in plan]
            self.catalog.set_media(p, items, now=now, description_html=description)
        return _set_answer(self.nodes.product(p), [])

    def _identified(self, identifier: dict[str, Any] | None) -> int | None:
        if identifier is None or identifier.get("customId") is not None:
            raise not_implemented("productSet without identifier.id or identifier.handle (creating products)")
        if identifier.get("id") is not None:
            p = gid_number(identifier["id"], PRODUCT_GID)
            return p if self.catalog.has_product(p) else None
        handle = identifier.get("handle")
        if isinstance(handle, str) and self.catalog.has_handle(handle):
            return self._product_of_handle(handle)
        raise not_implemented("productSet with a handle no product has (creating products)")

    def _product_of_handle(self, handle: str) -> int | None:
        c = self.catalog
        seeded = c.seed.product_of_handle(handle)
        return c.generated + 1 + seeded if seeded is not None else int(handle.removeprefix("product-"))

    def _file_set_item(
        self, f: dict[str, Any], path: list[str]
    ) -> tuple[_Item | None, dict[str, Any] | None]:
        if f.get("contentType") not in (None, "IMAGE"):
            return None, user_error(
                [*path, "contentType"], "The simulated shop only accepts IMAGE media", "INVALID_INPUT"
            )
        if f.get("id") is not None:
            mid = gid_number(f["id"], MEDIA_GID)
            m = None if mid is None else self.catalog.find_media(mid)
            if m is None:
                return None, user_error([*path, "id"], "File does not exist", "NOT_FOUND")
            if f.get("originalSource") is not None:
                return None, user_error(
                    [*path, "originalSource"], "Give either id or originalSource (simulator)", "INVALID_INPUT"
                )
            return _Item(m, "alt" in f, f.get("alt"), ""), None
        problem = source_problem(f.get("originalSource"))
        if problem is not None:
            return None, user_error([*path, "originalSource"], problem, "INVALID_INPUT")
        return _Item(None, True, f.get("alt"), f["originalSource"]), None

    # -- fileUpdate -----------------------------------------------------------------------------
    def file_update(self, _: Any, info: Any, *, files: list[dict[str, Any]]) -> dict[str, Any]:
        """``fileUpdate(files: [{id, alt, originalSource, referencesToAdd, referencesToRemove}])``:
        product references are product GIDs; an image belongs to one product in the simulator."""
        errors: list[dict[str, Any]] = []
        found: list[tuple[Media, dict[str, Any]]] = []
        for i, f in enumerate(files):
            reject_unknown_keys(f, FILE_UPDATE_INPUT, "FileUpdateInput")
            path = ["files", str(i)]
            mid = gid_number(f.get("id"), MEDIA_GID)
            m = None if mid is None else self.catalog.find_media(mid)
            if m is None:
                errors.append(user_error([*path, "id"], "File does not exist", "FILE_DOES_NOT_EXIST"))
                continue
            if f.get("originalSource") is not None and source_problem(f["originalSource"]):
                errors.append(
                    user_error(
                        [*path, "originalSource"],
                        "Invalid image source url value provided.",
                        "INVALID_IMAGE_SOURCE_URL",
                    )
                )
            for key in ("referencesToAdd", "referencesToRemove"):
                for ref in f.get(key) or []:
                    if not self.catalog.has_product(gid_number(ref, PRODUCT_GID)):
                        errors.append(
                            user_error(
                                [*path, key],
                                "The target resource does not exist.",
                                "REFERENCE_TARGET_DOES_NOT_EXIST",
                            )
                        )
            if len(f.get("referencesToAdd") or []) > 1:
                errors.append(
                    user_error(
                        [*path, "referencesToAdd"],
                        "An image belongs to one product here",
                        "TOO_MANY_FILE_REFERENCE",
                    )
                )
            found.append((m, f))
        if errors:
            return {"files": None, "userErrors": errors}
        now = self.core.wall()
        for m, f in found:
            self._apply_file_update(m, f, now)
        return {"files": [self.nodes.media_node(m) for m, _f in found], "userErrors": []}

    def _apply_file_update(self, m: Media, f: dict[str, Any], now: float) -> None:
        c = self.catalog
        if "alt" in f:
            m.alt = f["alt"]
        if f.get("originalSource") is not None:
            c.media_store.reprocess(m, f["originalSource"], now)
        for ref in f.get("referencesToRemove") or []:
            p = gid_number(ref, PRODUCT_GID)
            if p is not None and c.media_owner(m.id) == p:
                c.detach_media(p, [m.id], now=now)
        for ref in f.get("referencesToAdd") or []:
            p = gid_number(ref, PRODUCT_GID)
            if p is not None and c.media_owner(m.id) != p:
                c.set_media(p, [*c.media(p), m], now=now)
        owner = c.media_owner(m.id)
        if owner is not None and ("alt" in f or f.get("originalSource") is not None):
            c.touch_product(owner, now=now)  # the product's media changed: its updatedAt moves

    def roots(self) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
        """(query root resolvers, mutation resolvers)."""
        return {}, {"productSet": self.product_set, "fileUpdate": self.file_update}


@dataclass(frozen=True, slots=True)
class _Item:
    """One validated ``FileSetInput``: an existing image (maybe a new alt) or a new one from ``url``."""

    media: Media | None
    set_alt: bool
    alt: str | None
    url: str

    def apply(self, catalog: Catalog, now: float) -> Media:
        if self.media is None:
            return catalog.new_media(self.alt, self.url, now=now)
        if self.set_alt:
            self.media.alt = self.alt
        return self.media


def _set_answer(product: dict[str, Any] | None, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"product": product, "productSetOperation": None, "userErrors": errors}


SUPPORTED: dict[str, frozenset[str]] = {
    "Mutation": frozenset({"productSet", "fileUpdate"}),
    "ProductSetPayload": frozenset({"product", "productSetOperation", "userErrors"}),
    "ProductSetUserError": frozenset({"field", "message", "code"}),
    "FileUpdatePayload": frozenset({"files", "userErrors"}),
    "FilesUserError": frozenset({"field", "message", "code"}),
}
"""Fields this module serves, for ``ShopState.SUPPORTED_FIELDS``."""
