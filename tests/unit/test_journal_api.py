"""The journal's public facade: pinned exported names, the Protocol, and what a handle reports."""

from __future__ import annotations

import bulk.journal
from bulk.clock import ManualClock
from bulk.journal import Journal, PostgresJournal, SqliteJournal, open_journal


def test_exported_names_are_pinned() -> None:
    assert sorted(bulk.journal.__all__) == [
        "AppliedValue", "Claim", "Journal", "JournalStatistics", "NewUnit", "Outcome", "OutcomeStatus",
        "PostgresJournal", "ROW_ORDER", "Run", "RunCounters", "RunStatus", "SqliteJournal", "UnitKind",
        "UnitState",
        "WallClock", "WorkUnit", "WorkerRecord", "default_sqlite_path", "mask", "open_journal",
    ]  # fmt: skip
    for name in bulk.journal.__all__:
        assert getattr(bulk.journal, name) is not None


def test_open_journal_picks_the_backend_and_both_satisfy_the_protocol() -> None:
    pg = open_journal("postgresql://bulk:hunter2@db.internal/bulk")
    lite = open_journal(":memory:", clock=ManualClock())
    assert isinstance(pg, PostgresJournal) and isinstance(lite, SqliteJournal)
    assert isinstance(pg, Journal) and isinstance(lite, Journal)


def test_repr_and_statistics_never_show_the_password() -> None:
    journal = open_journal("postgresql://bulk:hunter2@db.internal/bulk")
    assert "hunter2" not in repr(journal)
    assert repr(journal).startswith("PostgresJournal('postgresql://bulk:***@db.internal/bulk', closed")
    stats = journal.statistics()
    assert (stats.backend, stats.is_open, stats.location) == (
        "pg",
        False,
        "postgresql://bulk:***@db.internal/bulk",
    )
