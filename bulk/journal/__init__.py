"""The journal: durable runs, work units (bulk shards, direct and inventory batches) and per-row outcomes.

Two backends behind one Protocol, :class:`Journal`: :class:`SqliteJournal` (embedded, the default, in
``~/.local/share/bulk/journal.sqlite3``) and :class:`PostgresJournal` (shared by many workers).
:func:`open_journal` picks one from a URL or path::

    async with open_journal("postgresql://bulk@db/bulk") as journal:
        run, created = await journal.create_run(key, input_name=..., input_hash=..., options={})
        for claim in await journal.claim("worker-1", [UnitKind.BULK_SHARD], lease_s=60, limit=2):
            ...

See docs/journal.md for the model, the lease and fencing rules and the migration policy.
"""

from __future__ import annotations

import os

from bulk.clock import Clock
from bulk.journal._postgres import PostgresJournal
from bulk.journal._protocol import Journal
from bulk.journal._records import (
    ROW_ORDER,
    AppliedValue,
    Claim,
    JournalStatistics,
    NewUnit,
    Outcome,
    OutcomeStatus,
    Run,
    RunCounters,
    RunStatus,
    UnitKind,
    UnitState,
    WorkerRecord,
    WorkUnit,
)
from bulk.journal._sqlite import SqliteJournal, WallClock
from bulk.journal.locations import default_sqlite_path, mask, parse_location

__all__ = [
    "ROW_ORDER",
    "AppliedValue",
    "Claim",
    "Journal",
    "JournalStatistics",
    "NewUnit",
    "Outcome",
    "OutcomeStatus",
    "PostgresJournal",
    "Run",
    "RunCounters",
    "RunStatus",
    "SqliteJournal",
    "UnitKind",
    "UnitState",
    "WallClock",
    "WorkUnit",
    "WorkerRecord",
    "default_sqlite_path",
    "mask",
    "open_journal",
]


def open_journal(url_or_path: str | os.PathLike[str] | None = None, *, clock: Clock | None = None) -> Journal:
    """A journal for ``url_or_path`` (not yet opened: use ``async with`` or ``await j.open()``).

    ``postgresql://…`` gives the shared Postgres journal (its time is the server's; ``clock`` is
    ignored); anything else is a SQLite file (``sqlite:///path``, a path, ``:memory:``, or ``None`` for
    the default file), whose lease time comes from ``clock`` (wall time by default).
    """
    location = parse_location(url_or_path)
    if location.backend == "pg":
        return PostgresJournal(location.target)
    return SqliteJournal(location.target, clock=clock)
