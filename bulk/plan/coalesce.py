"""Coalescing: the last write per (object, field) wins, and every row keeps exactly one fate.

Mass inputs repeat themselves (a price file re-exported twice, a description fixed in a later row). We
send one value per object field: the last one read. A row whose every field was overwritten by later
rows is *superseded*: its outcome is "unchanged", naming the line that won, so invariant 5 (every row
ends in exactly one outcome) holds without ever sending the loser.

Memory is one small tuple per live (object, field), not one model per row, so 1.5M rows fit easily.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bulk.models import DescriptionUpdate, ImageUpdate, PriceUpdate, Update

# Fields we coalesce on, per object kind.
PRICE = "price"
COMPARE_AT = "compareAtPrice"
DESCRIPTION = "descriptionHtml"
MEDIA = "media"  # value: (mode, images) with mode "append" | "replace"

RowId = tuple[str, int]  # (file, line)


@dataclass(slots=True)
class FieldValue:
    """The winning value of one object field and the rows that contributed to it."""

    value: object
    rows: list[RowId]


@dataclass
class Coalescer:
    """Feeds updates in reading order; ``objects()`` gives the winners, ``superseded`` the losers."""

    _fields: dict[tuple[str, str], FieldValue] = field(default_factory=dict)
    _live: dict[RowId, int] = field(default_factory=dict)  # row -> fields it still wins
    superseded: dict[RowId, RowId] = field(default_factory=dict)  # loser row -> the row that won
    rows_in: int = 0

    def add(self, update: Update) -> None:
        """Take one update; later calls win over earlier ones on the same object field."""
        row = (update.source.file, update.source.line)
        self.rows_in += 1
        for key, name, value, append in _fields_of(update):
            self._set(row, key, name, value, append=append)

    def _set(self, row: RowId, key: str, name: str, value: object, *, append: bool) -> None:
        slot = self._fields.get((key, name))
        if slot is None:
            self._fields[(key, name)] = FieldValue(value, [row])
            self._live[row] = self._live.get(row, 0) + 1
            return
        if append:
            # appended images accumulate after whatever the slot holds (an earlier append or replace);
            # every contributing row shares the outcome
            old: tuple[str, tuple[object, ...]] = slot.value  # type: ignore[assignment]
            new: tuple[str, tuple[object, ...]] = value  # type: ignore[assignment]
            slot.value = (old[0], old[1] + new[1])
            slot.rows.append(row)
            self._live[row] = self._live.get(row, 0) + 1
            return
        for loser in slot.rows:
            self._live[loser] -= 1
            if self._live[loser] == 0:
                del self._live[loser]
                self.superseded[loser] = row
        slot.value, slot.rows = value, [row]
        self._live[row] = self._live.get(row, 0) + 1

    def objects(self) -> Iterator[tuple[str, dict[str, FieldValue]]]:
        """Each object key with its winning fields, in first-seen order."""
        grouped: dict[str, dict[str, FieldValue]] = {}
        for (key, name), slot in self._fields.items():
            grouped.setdefault(key, {})[name] = slot
        yield from grouped.items()

    def statistics(self) -> dict[str, int]:
        """Rows read, live object fields, rows superseded by later ones."""
        return {
            "rows_in": self.rows_in,
            "fields": len(self._fields),
            "superseded_rows": len(self.superseded),
        }

    def __repr__(self) -> str:
        s = self.statistics()
        return f"Coalescer(rows_in={s['rows_in']}, fields={s['fields']}, superseded={s['superseded_rows']})"


def _fields_of(update: Update) -> Iterator[tuple[str, str, object, bool]]:
    """(object key, field name, value, appends?) for each field an update writes."""
    if isinstance(update, PriceUpdate):
        key = update.variant.key()
        if update.price is not None:
            yield key, PRICE, update.price, False
        if update.clear_compare_at:
            yield key, COMPARE_AT, None, False
        elif update.compare_at_price is not None:
            yield key, COMPARE_AT, update.compare_at_price, False
    elif isinstance(update, DescriptionUpdate):
        yield update.product.key(), DESCRIPTION, update.description_html, False
    elif isinstance(update, ImageUpdate):
        yield update.product.key(), MEDIA, (update.mode, update.images), update.mode == "append"
    else:
        raise TypeError(f"{type(update).__name__} is not coalesced by the bulk planner")
