"""Which objects the simulated shop's catalog has and what they are called: product numbers (generated,
then seeded), handles, variants, SKUs and option values — the identity half of the scheme in
:mod:`bulk.sim._catalog`, where the values and the overlay of writes live.

SKUs and handles of generated products are resolved by parsing them (no index); seeded ones by the
seed's own lookups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bulk.sim._seed import CatalogSeed

_SKU = re.compile(r"SKU-(\d{7})-(\d)")
_HANDLE = re.compile(r"product-([1-9]\d{0,7})")


@dataclass
class CatalogIdentity:
    """Products ``1..products``: the first ``generated`` follow the formulas, the rest are the seed's."""

    products: int
    seed: CatalogSeed = field(default_factory=CatalogSeed)
    generated: int = field(init=False, default=0)  # products 1..generated follow the formulas

    def __post_init__(self) -> None:
        if self.products < 0 or self.products > 99_999_999:
            raise ValueError("products must be in 0..99,999,999")
        if len(self.seed) > self.products:
            raise ValueError("the seeded products are part of `products`")
        self.generated = self.products - len(self.seed)

    def has_product(self, p: int | None) -> bool:
        """Whether product number ``p`` exists."""
        return p is not None and 1 <= p <= self.products

    def variant_count(self, p: int) -> int:
        """How many variants product ``p`` has."""
        if p > self.generated:
            return self.seed.variant_count(p - self.generated - 1)
        return 1 + p % 3

    def has_handle(self, handle: str) -> bool:
        """Whether ``handle`` names a product (a generated one by parsing, a seeded one by lookup)."""
        m = _HANDLE.fullmatch(handle)
        if m is not None and 1 <= int(m.group(1)) <= self.generated:
            return True
        return self.seed.product_of_handle(handle) is not None

    def handle(self, p: int) -> str:
        """URL handle of product ``p``."""
        if p > self.generated:
            return self.seed.products[p - self.generated - 1].handle
        return f"product-{p}"

    def has_variant(self, vid: int | None) -> bool:
        """Whether variant (= inventory item) number ``vid`` exists."""
        if vid is None:
            return False
        p, v = divmod(vid, 10)
        return self.has_product(p) and v < self.variant_count(p)

    def variant_ids(self, p: int) -> range:
        """Variant numbers of product ``p``, in position order."""
        return range(p * 10, p * 10 + self.variant_count(p))

    def variant_by_sku(self, sku: str) -> int | None:
        """The variant number whose SKU is exactly ``sku``: a seeded one, or by parsing it."""
        seeded = self.seed.variant_of_sku(sku)
        if seeded is not None:
            return (self.generated + 1 + seeded[0]) * 10 + seeded[1]
        m = _SKU.fullmatch(sku)
        if m is None:
            return None
        vid = int(m.group(1)) * 10 + int(m.group(2))
        return vid if self.has_variant(vid) and vid // 10 <= self.generated else None

    def sku(self, vid: int) -> str | None:
        """SKU of variant number ``vid`` (None: a seeded product's variant without one)."""
        p, v = divmod(vid, 10)
        if p > self.generated:
            skus = self.seed.products[p - self.generated - 1].skus
            return skus[v] if v < len(skus) else None
        return f"SKU-{p:07d}-{v}"

    def selected_options(self, vid: int) -> tuple[tuple[str, str], ...]:
        """``(option name, value)`` of variant ``vid``, in the order of its product's options.

        Generated products: one variant is Shopify's default (``Title`` / ``Default Title``, what a
        product without options has); several have one option ``Size`` valued ``S``, ``M``, ``L``.
        Seeded products: a variant without SKU has the values the input named (options named
        ``Option1``…, or ``Title`` for ``Default Title``); a SKU variant, ``Title`` valued its SKU
        (unique in the product), or ``Default Title`` when it is the product's only variant."""
        p, v = divmod(vid, 10)
        if p <= self.generated:
            return (("Title", "Default Title"),) if self.variant_count(p) == 1 else (("Size", "SML"[v]),)
        prod = self.seed.products[p - self.generated - 1]
        if v >= len(prod.skus) and v - len(prod.skus) < len(prod.options):
            values = prod.options[v - len(prod.skus)]
            if values == ("Default Title",):
                return (("Title", "Default Title"),)
            return tuple((f"Option{i + 1}", value) for i, value in enumerate(values))
        if self.variant_count(p) == 1 or v >= len(prod.skus):
            return (("Title", "Default Title"),)
        return (("Title", prod.skus[v]),)

    def option_names(self, p: int) -> tuple[str, ...]:
        """Names of product ``p``'s options in position order (those of its first variant: every
        variant of a product has a value for each of its options)."""
        return tuple(name for name, _ in self.selected_options(p * 10))

    def total_variants(self) -> int:
        """Number of variants in the shop: O(1) for the generated part (each full cycle of 3
        products has 6), plus the seeded ones."""
        full, rest = divmod(self.generated, 3)
        # products 3k+1, 3k+2, 3k+3 have 2, 3, 1 variants
        return full * 6 + (2 if rest >= 1 else 0) + (3 if rest >= 2 else 0) + self.seed.variants()
