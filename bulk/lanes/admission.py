"""Which planned lines may be sent now: last write wins per product *and kind*.

Two operations writing the same fields of one product could land in either order, so a line whose
product already has a line of the same kind in flight is held until that one is done
(:class:`bulk.plan.stream.StreamPlanner` keeps that book). Lines of different kinds write different
fields — prices and compare-at prices (``productVariantsBulkUpdate``) against description and media
(``productUpdate``) — so their order does not matter, and the planner already sends both kinds of one
chunk side by side. Keeping one book per kind extends that across chunks: a product's image update
does not wait for its price change of an earlier chunk, which would otherwise leave every such line
for a last, short wave of operations at the end of a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from bulk.catalog import CatalogStore
from bulk.plan import PlannedLine
from bulk.plan.diff import LineKind
from bulk.plan.stream import StreamPlanner


class KindAdmission:
    """The planner's admission book, one per line kind (same methods as the planner's)."""

    def __init__(self, catalog: CatalogStore) -> None:
        self._books = {kind: StreamPlanner(catalog) for kind in get_args(LineKind)}

    def admit(self, lines: Iterable[PlannedLine]) -> list[PlannedLine]:
        """The lines that may be sent now; the others are held behind in-flight lines of their product
        and kind. Admitted lines count as in flight until :meth:`done`."""
        ready: list[PlannedLine] = []
        for kind, book in self._books.items():
            ready += book.admit(line for line in lines if line.kind == kind)
        return ready

    def done(self, lines: Iterable[PlannedLine]) -> None:
        """These lines are finished: their product is free again for their kind."""
        for kind, book in self._books.items():
            book.done(line for line in lines if line.kind == kind)

    def release_held(self) -> list[PlannedLine]:
        """Held lines whose product and kind are free now (admitted)."""
        return [line for book in self._books.values() for line in book.release_held()]

    @property
    def held(self) -> int:
        """Lines waiting behind an in-flight line of their product and kind."""
        return sum(book.held for book in self._books.values())

    def __repr__(self) -> str:
        return f"KindAdmission(held={self.held})"
