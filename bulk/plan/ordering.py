"""Which planned lines may be sent now: last write wins per product *and kind*.

Two operations writing the same fields of one product could land in either order, so a line whose
product already has a line of the same kind in flight is held until that one is done
(:class:`ProductBook`). Pure bookkeeping: no I/O, no clock; the submission feeds it admitted lines and
completion notices. Lines of different kinds write different
fields — prices and compare-at prices (``productVariantsBulkUpdate``) against description and media
(``productUpdate``) — so their order does not matter, and the planner already sends both kinds of one
chunk side by side. Keeping one book per kind extends that across chunks: a product's image update
does not wait for its price change of an earlier chunk, which would otherwise leave every such line
for a last, short wave of operations at the end of a run. ``productSet`` lines (an image set replaced)
write the same fields as ``productUpdate`` lines (description, media): both kinds share one book.
"""

from __future__ import annotations

from collections.abc import Iterable

from bulk.plan.diff import PlannedLine

# a line kind → the book it is ordered in: kinds that write the same fields share one
BOOK_OF = {"variants": "variants", "product": "product", "media": "product", "set": "product"}


def product_of(line: PlannedLine) -> str:
    """The product a line writes to (the unit of ordering)."""
    variables = line.variables
    if line.kind == "variants":
        return str(variables["productId"])
    if line.kind == "set":
        return str(variables["identifier"]["id"])
    return str(variables["product"]["id"])


class ProductBook:
    """Lines in flight per product, and the lines held behind them."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}  # product -> lines of it in flight
        self._held: list[PlannedLine] = []

    def admit(self, lines: Iterable[PlannedLine]) -> list[PlannedLine]:
        """The lines that may be sent now; the others are held behind in-flight lines of their product.

        Every admitted line counts as in flight until :meth:`done` is called for it."""
        ready: list[PlannedLine] = []
        claimed: set[str] = set()
        in_flight, held = self._in_flight, self._held  # locals: this runs once per line of a 1.5M-row run
        for line in lines:
            product = product_of(line)
            if product in in_flight and product not in claimed:
                held.append(line)
                continue
            ready.append(line)
            claimed.add(product)
            in_flight[product] = in_flight.get(product, 0) + 1
        return ready

    def done(self, lines: Iterable[PlannedLine]) -> None:
        """These lines are finished (applied, rejected or given up): their products are free again."""
        in_flight = self._in_flight
        for line in lines:
            product = product_of(line)
            left = in_flight.get(product, 0) - 1
            if left > 0:
                in_flight[product] = left
            else:
                in_flight.pop(product, None)

    def release_held(self) -> list[PlannedLine]:
        """Held lines whose product is free now (admitted, so counted in flight); the rest stay held."""
        held, self._held = self._held, []
        return self.admit(held)

    @property
    def held(self) -> int:
        """Lines waiting behind an in-flight line of their product."""
        return len(self._held)

    @property
    def in_flight(self) -> int:
        """Products with a line in flight."""
        return len(self._in_flight)

    def __repr__(self) -> str:
        return f"ProductBook(in_flight={self.in_flight}, held={self.held})"


class KindAdmission:
    """One :class:`ProductBook` per line kind (the same methods)."""

    def __init__(self) -> None:
        self._books = {book: ProductBook() for book in dict.fromkeys(BOOK_OF.values())}

    def admit(self, lines: Iterable[PlannedLine]) -> list[PlannedLine]:
        """The lines that may be sent now; the others are held behind in-flight lines of their product
        and kind. Admitted lines count as in flight until :meth:`done`."""
        ready: list[PlannedLine] = []
        for name, book in self._books.items():
            ready += book.admit(line for line in lines if BOOK_OF[line.kind] == name)
        return ready

    def done(self, lines: Iterable[PlannedLine]) -> None:
        """These lines are finished: their product is free again for their kind."""
        for name, book in self._books.items():
            book.done(line for line in lines if BOOK_OF[line.kind] == name)

    def release_held(self) -> list[PlannedLine]:
        """Held lines whose product and kind are free now (admitted)."""
        return [line for book in self._books.values() for line in book.release_held()]

    @property
    def held(self) -> int:
        """Lines waiting behind an in-flight line of their product and kind."""
        return sum(book.held for book in self._books.values())

    def __repr__(self) -> str:
        return f"KindAdmission(held={self.held})"
