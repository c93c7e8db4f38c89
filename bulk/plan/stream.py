"""Planning a run chunk by chunk while earlier chunks are already being sent.

Two things make this safe where planning everything first would not need them:

- **Later chunks diff against earlier ones**: an overlay of values planned earlier in the run stands in
  for the catalog cache, which does not know them yet (see :func:`bulk.plan.build_plan`).
- **Last write wins across chunks**: a line for a product whose earlier line is still in flight is
  *held* until that one is done — two bulk operations touching one product could otherwise land in
  either order. Held lines are released as the in-flight work finishes.

Pure bookkeeping: no I/O, no clock. The submission feeds it chunks and completion notices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bulk.catalog import CatalogStore
from bulk.ingest.batch import PriceRows
from bulk.models import InventoryUpdate, OutcomeStatus, RowError, Update
from bulk.plan.coalesce import Coalescer
from bulk.plan.diff import LookedUp, Overlay, Plan, PlannedLine, RowOutcome, build_plan
from bulk.plan.gcpause import cyclic_gc_paused


def product_of(line: PlannedLine) -> str:
    """The product a line writes to (the unit of ordering)."""
    variables = line.variables
    return str(variables["productId"] if line.kind == "variants" else variables["product"]["id"])


@dataclass
class ChunkPlan:
    """One chunk's plan, its inventory rows (urgent lane) and its rows rejected while reading."""

    plan: Plan
    inventory: list[InventoryUpdate]
    rejected: list[RowOutcome]


@dataclass
class StreamPlanner:
    """Plans chunks against the catalog and what earlier chunks planned; orders lines per product."""

    catalog: CatalogStore
    overlay: Overlay = field(default_factory=Overlay)
    _in_flight: dict[str, int] = field(default_factory=dict)  # product -> lines of it in flight
    _held: list[PlannedLine] = field(default_factory=list)
    chunks: int = 0
    rows: int = 0

    def plan_chunk(self, items: Iterable[Update | RowError | PriceRows | LookedUp]) -> ChunkPlan:
        """Coalesce and plan one chunk (CPU work: call it from a worker thread). ``items`` come in input
        order, as a reader yields them, as :meth:`bulk.ingest.UpdateReader.chunks` groups them, or as
        :func:`bulk.plan.input_process.read_chunks` sends them (with the chunk's catalog rows)."""
        coalescer = Coalescer()
        inventory: list[InventoryUpdate] = []
        rejected: list[RowOutcome] = []
        known: LookedUp | None = None
        with cyclic_gc_paused():
            for item in items:
                if isinstance(item, LookedUp):
                    known = item
                    continue
                self.rows += 1
                if isinstance(item, PriceRows):
                    self.rows += len(item) - 1
                    coalescer.add_prices(item)
                elif isinstance(item, RowError):
                    reason = item.reason if item.column is None else f"column {item.column}: {item.reason}"
                    rejected.append(RowOutcome((item.file, item.line), OutcomeStatus.REJECTED, reason))
                elif isinstance(item, InventoryUpdate):
                    inventory.append(item)
                else:
                    coalescer.add(item)
            plan = build_plan(coalescer, self.catalog, self.overlay, known)
        self.chunks += 1
        return ChunkPlan(plan, inventory, rejected)

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
        return (f"StreamPlanner(chunks={self.chunks}, rows={self.rows}, in_flight={self.in_flight}, "
                f"held={self.held})")
