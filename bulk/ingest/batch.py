"""Plain price rows, column by column: the compact form of many price updates.

Why: a 1.5M-row price file is almost all *plain* rows (an SKU or variant ID, a price, maybe a
compare-at price, nothing to clean). As :class:`~bulk.models.PriceUpdate` models each row costs three
objects and microseconds to build, yet the planner needs only four values of it. A :class:`PriceRows`
keeps those values in lists: cheap to fill, cheap to pickle (the parallel reader sends batches between
processes) and cheap to coalesce — and it still expands into exactly the models the row-by-row reader
yields (:meth:`PriceRows.updates`), which the tests check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from bulk.ingest import _build
from bulk.ingest.values import Rejected, is_plain_code, is_plain_money, parse_gid, plain_money_text
from bulk.models import PriceUpdate


@dataclass(slots=True)
class PriceRows:
    """Price updates of one file that set a price, maybe a compare-at price (never ``clear`` it).

    Row ``i`` is line ``lines[i]``; ``keys[i]`` is its variant's :meth:`~bulk.models.VariantRef.key`
    (the GID, else ``sku:`` and the SKU); ``prices[i]`` and ``compare_ats[i]`` (``None``: not given) are
    money text exactly as the planner sends it (:func:`bulk.ingest.values.money_text` of the value).
    """

    file: str
    lines: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    prices: list[str] = field(default_factory=list)
    compare_ats: list[str | None] = field(default_factory=list)
    skus_beside_ids: dict[int, str] = field(default_factory=dict)  # row -> SKU of rows naming both

    def append(self, line: int, sku: str | None, variant_id: str | None, price: str,
               compare_at: str | None) -> None:
        """Add one row (at least one of ``sku`` / ``variant_id``)."""
        if variant_id is None:
            self.keys.append(f"sku:{sku}")
        else:
            if sku is not None:
                self.skus_beside_ids[len(self.keys)] = sku
            self.keys.append(variant_id)
        self.lines.append(line)
        self.prices.append(price)
        self.compare_ats.append(compare_at)

    def __len__(self) -> int:
        return len(self.lines)

    def updates(self) -> Iterator[PriceUpdate]:
        """The rows as the models :func:`bulk.ingest.read_updates` yields for them."""
        for i, key in enumerate(self.keys):
            sku: str | None = key[4:]
            variant_id: str | None = None
            if not key.startswith("sku:"):
                sku, variant_id = self.skus_beside_ids.get(i), key
            price, compare_at = self.prices[i], self.compare_ats[i]
            yield _build.price(self.file, self.lines[i], sku, variant_id, Decimal(price),
                              None if compare_at is None else Decimal(compare_at), False)


class MoneyTexts(dict[str, str]):
    """Plain money cells → their Money text (:func:`~bulk.ingest.values.plain_money_text`), one str per
    distinct amount: a batch then pickles each amount once and the planner hashes each once. A file
    has few distinct prices; past 100k the table starts over."""

    def __missing__(self, text: str) -> str:
        if len(self) >= 100_000:
            self.clear()
        value = self[text] = plain_money_text(text)
        return value


def plain_price(
    cells: list[str], columns: tuple[int, int, int, int]
) -> tuple[str | None, str | None, str, str] | None:
    """``(sku, variant_id, price, compare_at)`` of a price-only row whose identifiers and prices need no
    cleaning (``compare_at`` may be empty), given the positions of those four columns (-1: absent);
    None for any other row (spaces, apostrophe, bad value, ``clear``…), which the general path handles,
    so errors and edge cases have one implementation."""
    i_sku, i_variant, i_price, i_compare = columns
    sku = cells[i_sku] if i_sku >= 0 else ""
    variant = cells[i_variant] if i_variant >= 0 else ""
    price = cells[i_price]
    compare = cells[i_compare] if i_compare >= 0 else ""
    if (
        (is_plain_code(sku) or (not sku and variant))
        and is_plain_money(price)
        and (not compare or is_plain_money(compare))
    ):
        variant_id = parse_gid(variant, "ProductVariant") if variant else None
        if not isinstance(variant_id, Rejected):
            return sku or None, variant_id, price, compare
    return None
