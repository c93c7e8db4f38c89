"""Every row outcome one submission recorded, kept beside the journal for the report at the end.

Why: the report needs every row's outcome, and reading a million of them back from the journal after
the last bulk operation (then building a dict of them) takes seconds the user waits for. The outcomes
this process recorded are already known, so they are noted as the journal accepts them; at the end
the journal's own counters decide whether that note is the whole story (a fresh run, worked here
alone) or not (a resumed run, or other workers on a shared journal) — then they are read back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bulk.journal import ROW_ORDER, Journal, Outcome
from bulk.models import Outcomes


class OutcomeBook:
    """Outcomes of one run recorded through this book (or noted after the journal took them)."""

    def __init__(self, journal: Journal, run_id: int, *, on_noted: Callable[[], None] | None = None) -> None:
        self._journal = journal
        self._run_id = run_id
        self._seen: Outcomes = {}
        self._on_noted = on_noted or (lambda: None)  # the run's watchdog: outcomes are progress

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Record in the journal, then note (rows already decided here keep their outcome)."""
        outcomes = self.fresh(outcomes)
        await self._journal.record_outcomes(self._run_id, outcomes)
        self.note(outcomes)

    def fresh(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """The outcomes of rows this book has not decided yet. A row that carries several changes
        (a price refused for want of a SKU, a description and an image sent) gets one outcome: the
        first one decided — recording a second, different one would be a conflict in the journal."""
        seen = self._seen
        return [o for o in outcomes if (o.file, o.line) not in seen]

    def note(self, outcomes: Sequence[Outcome]) -> None:
        """Outcomes the journal has accepted (the first reason of a row is the one kept, as there).

        Each batch is noted in row order: the report sorts every row at the end, and batches that are
        runs of their own (a bulk operation's results arrive shuffled) make that sort nearly linear."""
        seen = self._seen
        for o in sorted(outcomes, key=ROW_ORDER):
            key = (o.file, o.line)
            if key not in seen:
                seen[key] = (o.status, o.reason or "")
        self._on_noted()

    async def all(self) -> Outcomes:
        """Every outcome of the run: the noted ones when the journal counts no other, else read back."""
        counters = (await self._journal.get_run(self._run_id)).counters
        if counters.rows_finished == len(self._seen):
            return self._seen
        return {(o.file, o.line): (o.status, o.reason or "")
                for o in await self._journal.list_outcomes(self._run_id)}

    def __repr__(self) -> str:
        return f"OutcomeBook(run={self._run_id}, noted={len(self._seen)})"
