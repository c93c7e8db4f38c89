"""Planning a run chunk by chunk while earlier chunks are already being sent.

Two things make this safe where planning everything first would not need them:

- **Later chunks diff against earlier ones**: an overlay of values planned earlier in the run stands in
  for the catalog cache, which does not know them yet (see :func:`bulk.plan.build_plan`).
- **Last write wins across chunks**: a line for a product whose earlier line is still in flight is
  *held* until that one is done (:mod:`bulk.plan.ordering` keeps that book).

No clock and no network: the only I/O is looking values up in the local catalog cache (a SQLite read),
unless the chunk arrives with its catalog rows already looked up by the reading process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bulk.catalog import CatalogStore
from bulk.ingest.batch import PriceRows
from bulk.models import InventoryUpdate, OutcomeStatus, RowError, RowNote, Update
from bulk.plan._coalesce import Coalescer
from bulk.plan.diff import LookedUp, Overlay, Plan, RowOutcome, build_plan
from bulk.plan.gcpause import cyclic_gc_paused


@dataclass
class ChunkPlan:
    """One chunk's plan, its inventory rows (urgent lane), its rows rejected while reading and its
    rows that carry nothing to change (``unchanged`` from reading)."""

    plan: Plan
    inventory: list[InventoryUpdate]
    rejected: list[RowOutcome]
    nothing: list[RowOutcome] = field(default_factory=list)


@dataclass
class StreamPlanner:
    """Plans chunks against the catalog and what earlier chunks planned."""

    catalog: CatalogStore
    overlay: Overlay = field(default_factory=Overlay)
    chunks: int = 0
    rows: int = 0

    def plan_chunk(self, items: Iterable[Update | RowError | PriceRows | LookedUp]) -> ChunkPlan:
        """Coalesce and plan one chunk (CPU work: call it from a worker thread). ``items`` come in input
        order, as a reader yields them, as :meth:`bulk.ingest.UpdateReader.chunks` groups them, or as
        :func:`bulk.sources._reader_process.read_chunks` sends them (with the chunk's catalog rows)."""
        coalescer = Coalescer()
        inventory: list[InventoryUpdate] = []
        rejected: list[RowOutcome] = []
        nothing: list[RowOutcome] = []
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
                elif isinstance(item, RowNote):  # a row that carries nothing to change
                    nothing.append(RowOutcome((item.file, item.line), OutcomeStatus.UNCHANGED, item.reason))
                elif isinstance(item, RowError):
                    reason = item.reason if item.column is None else f"column {item.column}: {item.reason}"
                    rejected.append(RowOutcome((item.file, item.line), OutcomeStatus.REJECTED, reason))
                else:
                    if rejected and rejected[-1].row == (item.source.file, item.source.line):
                        # a part of this row was refused (a price without a SKU), its other changes
                        # still go: say so on the row's one outcome
                        rejected[-1] = _still_sent(rejected[-1])
                    if isinstance(item, InventoryUpdate):
                        inventory.append(item)
                    else:
                        coalescer.add(item)
            plan = build_plan(coalescer, self.catalog, self.overlay, known)
        self.chunks += 1
        return ChunkPlan(plan, inventory, rejected, nothing)

    def __repr__(self) -> str:
        return f"StreamPlanner(chunks={self.chunks}, rows={self.rows})"


STILL_SENT = "; the row's other changes are still sent"


def _still_sent(outcome: RowOutcome) -> RowOutcome:
    if outcome.reason.endswith(STILL_SENT):
        return outcome
    return RowOutcome(outcome.row, outcome.status, outcome.reason + STILL_SENT)
