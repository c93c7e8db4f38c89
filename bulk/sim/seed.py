"""Seeding a simulated shop to match an input file: its SKUs and handles become products.

Why: a merchant rehearses *their* change (`bulk submit their.csv --shop sim://`). The generated
catalog only knows ``SKU-0000001-0`` and ``product-1``; without seeding every real SKU would be
"unknown" and the rehearsal would predict nothing. So every SKU and handle the input names that the
generated catalog does not already have becomes a product after the generated ones.

Grouping, in file order (documented in docs/simulator.md):

- a handle opens a product; SKUs on the same line or on later lines (Shopify's product CSV puts a
  product's variant rows after its first row) are its variants, until the next handle; a handle
  seen again takes the SKUs after it back to its product, and a handle the generated catalog has
  ends the current product (its SKUs are then one product each, as below);
- SKUs before any handle (a ``sku,price`` file) are each a product of their own — the rehearsal then
  sends one line per SKU, an upper bound on the real shop's lines;
- at most :data:`MAX_VARIANTS` per product (the simulator's GID scheme); more SKUs under one handle
  continue in a product with handle ``{handle}--2``, ``--3``, …

IDs (``gid://…``) in the input are not seeded: the simulator cannot take a real shop's GIDs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bulk.errors import ConfigError, InputError

MAX_VARIANTS = 10  # variant GIDs are p * 10 + v


@dataclass(frozen=True, slots=True)
class SeedProduct:
    """One product made for the input: its handle and its variants' SKUs (0..10; a product named
    only by its handle gets one variant without a SKU, as Shopify gives every product one)."""

    handle: str
    skus: tuple[str, ...]


class CatalogSeed:
    """Products added after the generated ones, with lookups by SKU and by handle."""

    def __init__(self, products: Sequence[SeedProduct] = ()) -> None:
        self.products = tuple(products)
        self._by_sku = {
            sku: (i, v) for i, prod in enumerate(self.products) for v, sku in enumerate(prod.skus)
        }
        self._by_handle = {prod.handle: i for i, prod in enumerate(self.products)}
        self._variants = sum(max(1, len(prod.skus)) for prod in self.products)

    def __len__(self) -> int:
        return len(self.products)

    def variant_of_sku(self, sku: str) -> tuple[int, int] | None:
        """``(seed index, variant position)`` of ``sku``, or None."""
        return self._by_sku.get(sku)

    def product_of_handle(self, handle: str) -> int | None:
        """Seed index of the product with ``handle``, or None."""
        return self._by_handle.get(handle)

    def variant_count(self, index: int) -> int:
        """Variants of seeded product ``index`` (at least one)."""
        return max(1, len(self.products[index].skus))

    def variants(self) -> int:
        """How many variants the seeded products have (counted once: ``total_variants`` asks often)."""
        return self._variants

    def __repr__(self) -> str:
        return f"CatalogSeed(products={len(self.products)}, variants={self.variants()})"


def seed_from_keys(
    keys: Iterable[tuple[str, str]], *, known_sku: Callable[[str], bool], known_handle: Callable[[str], bool]
) -> CatalogSeed:
    """Build the seed from ``("sku" | "handle", value)`` pairs in file order (see the module doc)."""
    products: list[tuple[str, int, list[str]]] = []  # (handle, continuation number, skus)
    latest: dict[str, int] = {}  # handle -> index of its newest product (the one SKUs join)
    seen_skus: set[str] = set()
    current: int | None = None  # the product SKUs join; None before a new handle
    for what, value in keys:
        if what == "handle":
            if known_handle(value):
                current = None  # the generated catalog has it: its SKUs cannot become variants of it
            elif value in latest:
                current = latest[value]
            else:
                products.append((value, 1, []))
                current = latest[value] = len(products) - 1
            continue
        if value in seen_skus or known_sku(value):
            continue
        seen_skus.add(value)
        if current is None:
            products.append((_sku_handle(value), 1, [value]))
            continue
        handle, number, skus = products[current]
        if len(skus) == MAX_VARIANTS:
            products.append((handle, number + 1, []))
            current = latest[handle] = len(products) - 1
        products[current][2].append(value)
    return CatalogSeed([SeedProduct(h if n == 1 else f"{h}--{n}", tuple(skus)) for h, n, skus in products])


def seed_from_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    known_sku: Callable[[str], bool],
    known_handle: Callable[[str], bool],
) -> CatalogSeed:
    """Read every input file (any format and dialect ``bulk submit`` reads; bad rows are skipped,
    they are the submission's business) and seed what they name."""
    from bulk.ingest import read_updates  # the sim depends on the readers only when seeding

    def keys() -> Iterable[tuple[str, str]]:
        for path in paths:
            if not os.path.isfile(path):
                raise ConfigError(f"sim:// match: no such file {os.fspath(path)!r}")
            try:
                # Any location: seeding wants the SKUs of quantity rows too, and an inventory-only
                # file read without one is an error (the submission, not the seed, asks for it).
                with read_updates(path, max_errors=2**62, location="seed") as reader:
                    for item in reader:
                        yield from _keys_of(item)
            except InputError as exc:
                raise ConfigError(f"sim:// match: cannot read {os.fspath(path)!r}: {exc}") from exc

    return seed_from_keys(keys(), known_sku=known_sku, known_handle=known_handle)


def _keys_of(item: object) -> Iterable[tuple[str, str]]:
    """Handles first, then SKUs: on a product CSV's first row the handle opens the product."""
    product = getattr(item, "product", None)
    if product is not None and product.handle:
        yield "handle", product.handle
    variant = getattr(item, "variant", None)
    if variant is not None and variant.sku:
        yield "sku", variant.sku
    sku = getattr(item, "sku", None)  # inventory rows
    if isinstance(sku, str) and sku:
        yield "sku", sku


def _sku_handle(sku: str) -> str:
    return "sku-" + "".join(c if c.isalnum() else "-" for c in sku.lower())
