"""Coalescing: the last write per (object, field) wins, and every row keeps exactly one fate.

Mass inputs repeat themselves (a price file re-exported twice, a description fixed in a later row). We
send one value per object field: the last one read. A row whose every field was overwritten by later
rows is *superseded*: its outcome is "unchanged", naming the line that won, so invariant 5 (every row
ends in exactly one outcome) holds without ever sending the loser.

Memory is one small slot per live object, not one model per row, and the hot path does no generic
dispatch: a variant's slot is a 4-item list (:data:`VariantFields`), a batch of plain price rows
(:class:`~bulk.ingest.batch.PriceRows`) is taken in one tight loop, and who lost to whom is noted only
when a field is overwritten — rare — so 1.5M rows coalesce in about a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bulk.ingest.batch import PriceRows
from bulk.ingest.values import money_text
from bulk.models import DescriptionUpdate, ImageUpdate, PriceUpdate, Update

# Fields we coalesce on, per object kind.
PRICE = "price"
COMPARE_AT = "compareAtPrice"
DESCRIPTION = "descriptionHtml"
MEDIA = "media"  # value: (mode, images) with mode "append" | "replace"

RowId = tuple[str, int]  # (file, line)

# A variant's winning fields: [price, price's row, compare-at price, compare-at's row]. Prices are money
# text (``None`` as compare-at price: clear it); a field no row wrote holds UNSET and row None.
VariantFields = list[Any]
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()


@dataclass(frozen=True, slots=True, kw_only=True)
class CoalesceStatistics:
    """A snapshot of a coalescer: rows read, live object fields, rows superseded by later ones."""

    rows_in: int
    fields: int
    superseded_rows: int


@dataclass(slots=True)
class FieldValue:
    """The winning value of one product field and the rows that contributed to it."""

    value: object
    rows: list[RowId]


@dataclass
class Coalescer:
    """Feeds updates in reading order; :attr:`variants` and :meth:`products` give the winners,
    :attr:`superseded` the losers."""

    variants: dict[str, VariantFields] = field(default_factory=dict)  # by VariantRef.key(), first seen first
    _products: dict[str, dict[str, FieldValue]] = field(default_factory=dict)
    _overwritten: list[tuple[RowId, RowId]] = field(default_factory=list)  # (loser, winner) per overwrite
    rows_in: int = 0

    def add(self, update: Update) -> None:
        """Take one update; later calls win over earlier ones on the same object field."""
        row = (update.source.file, update.source.line)
        self.rows_in += 1
        if isinstance(update, PriceUpdate):
            price, compare_at = update.price, update.compare_at_price
            compare: object = UNSET if compare_at is None else money_text(compare_at)
            if update.clear_compare_at:
                compare = None
            amount = UNSET if price is None else money_text(price)
            self._set_variant(update.variant.key(), row, amount, compare)
        elif isinstance(update, DescriptionUpdate):
            self._set_product(row, update.product.key(), DESCRIPTION, update.description_html, False)
        elif isinstance(update, ImageUpdate):
            self._set_product(row, update.product.key(), MEDIA, (update.mode, update.images),
                              update.mode == "append")
            if update.more_lines:  # continuation rows that added an image: they share its outcome
                self._products[update.product.key()][MEDIA].rows += [(row[0], n) for n in update.more_lines]
                self.rows_in += len(update.more_lines)
        else:
            raise TypeError(f"{type(update).__name__} is not coalesced by the bulk planner")

    def add_prices(self, batch: PriceRows) -> None:
        """Take a batch of plain price rows, as :meth:`add` would take their updates one by one."""
        variants, file = self.variants, batch.file
        self.rows_in += len(batch)
        for line, key, price, compare in zip(batch.lines, batch.keys, batch.prices, batch.compare_ats,
                                             strict=True):
            row = (file, line)
            if key not in variants:  # the common case: the first row for this variant
                variants[key] = [price, row, UNSET, None] if compare is None else [price, row, compare, row]
            else:
                self._set_variant(key, row, price, UNSET if compare is None else compare)

    def _set_variant(self, key: str, row: RowId, price: object, compare: object) -> None:
        if price is UNSET and compare is UNSET:
            return  # writes nothing (the models refuse such an update)
        slot = self.variants.get(key)
        if slot is None:
            self.variants[key] = [price, None if price is UNSET else row, compare,
                                  None if compare is UNSET else row]
            return
        for at, value in ((0, price), (2, compare)):
            if value is UNSET:
                continue
            loser = slot[at + 1]
            if loser is not None and loser != row:
                self._overwritten.append((loser, row))
            slot[at], slot[at + 1] = value, row

    def _set_product(self, row: RowId, key: str, name: str, value: object, append: bool) -> None:
        fields = self._products.setdefault(key, {})
        slot = fields.get(name)
        if slot is None:
            fields[name] = FieldValue(value, [row])
        elif append:
            # appended images accumulate after whatever the slot holds (an earlier append or replace);
            # every contributing row shares the outcome
            old: tuple[str, tuple[object, ...]] = slot.value  # type: ignore[assignment]
            new: tuple[str, tuple[object, ...]] = value  # type: ignore[assignment]
            slot.value = (old[0], old[1] + new[1])
            slot.rows.append(row)
        else:
            self._overwritten += ((loser, row) for loser in slot.rows if loser != row)
            slot.value, slot.rows = value, [row]

    def products(self) -> Iterator[tuple[str, dict[str, FieldValue]]]:
        """Each product key with its winning fields, in first-seen order."""
        return iter(self._products.items())

    @property
    def superseded(self) -> dict[RowId, RowId]:
        """Rows whose every field a later row overwrote → the row that took the last of them (in the
        order they lost it). Worked out on demand from the overwrites, so the hot path counts nothing."""
        if not self._overwritten:
            return {}
        winning = self._winning_rows()
        lost: dict[RowId, RowId] = {}
        for loser, winner in reversed(self._overwritten):  # the last overwrite of a row decides
            if loser not in winning and loser not in lost:
                lost[loser] = winner
        return dict(reversed(lost.items()))

    def _winning_rows(self) -> set[RowId]:
        rows = {slot[1] for slot in self.variants.values()} | {slot[3] for slot in self.variants.values()}
        rows.update(r for fields in self._products.values() for value in fields.values() for r in value.rows)
        return rows

    def statistics(self) -> CoalesceStatistics:
        """Rows read, live object fields, rows superseded by later ones."""
        fields = sum((slot[1] is not None) + (slot[3] is not None) for slot in self.variants.values())
        fields += sum(len(f) for f in self._products.values())
        return CoalesceStatistics(rows_in=self.rows_in, fields=fields, superseded_rows=len(self.superseded))

    def __repr__(self) -> str:
        s = self.statistics()
        return f"Coalescer(rows_in={s.rows_in}, fields={s.fields}, superseded={s.superseded_rows})"


def variant_keys(items: Iterable[object]) -> list[str]:
    """The variant keys of these items' price updates, first seen first: the order of
    :attr:`Coalescer.variants` once they are added (so catalog rows can be looked up ahead)."""
    keys: list[str] = []
    for item in items:
        if isinstance(item, PriceRows):
            keys += item.keys
        elif isinstance(item, PriceUpdate) and not (item.price is None and item.compare_at_price is None
                                                    and not item.clear_compare_at):
            keys.append(item.variant.key())
    return list(dict.fromkeys(keys))
