"""Several openers of one fresh SQLite journal at once (a run, `bulk cancel`, another terminal's watch)
all get a migrated journal: none fails with "table already exists"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bulk.journal import open_journal
from bulk.journal.migrations import latest_version


async def test_openers_of_a_fresh_file_at_once_all_succeed(tmp_path: Path) -> None:
    for attempt in range(10):  # the race is between threads: try it a few times over
        path = str(tmp_path / f"journal-{attempt}.sqlite3")

        versions = await asyncio.gather(*(open_one(path) for _ in range(4)))
        assert versions == [latest_version("sqlite")] * 4


async def open_one(path: str) -> int:
    async with open_journal(path) as journal:
        return journal.statistics().schema_version
