"""The embedded SQLite journal: the default when no PostgreSQL URL is given.

All database work runs on one dedicated thread (``sqlite3`` objects must stay on the thread that made
them, and one thread keeps the event loop free without adding a dependency). Every write runs in
``BEGIN IMMEDIATE``, so SQLite's single writer lock makes each claim atomic: no two handles — even in
two processes sharing the file — can take the same unit.

Time comes from an injected :class:`bulk.clock.Clock` giving seconds since the epoch: the default
:class:`WallClock`, or a :class:`bulk.clock.ManualClock` in tests so leases expire without sleeping.
This journal belongs to one process, so it migrates its own file when opened.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from bulk.clock import Clock
from bulk.errors import JournalError
from bulk.journal import migrations
from bulk.journal._base import JournalBase
from bulk.journal._priority_thread import BACKGROUND, FIRST, LAST, PriorityThread
from bulk.journal._records import (
    AppliedValue,
    NewUnit,
    Outcome,
    OutcomeStatus,
    Run,
    RunStatus,
    WorkUnit,
    scrub_secrets,
)
from bulk.journal._row_codec import Row
from bulk.journal._wakeups import CLAIMABLE, shared_signal
from bulk.models import STATUS_TEXT

T = TypeVar("T")


class WallClock:
    """Seconds since the epoch: lease times stored in the file must survive a process restart,
    which a monotonic clock (arbitrary origin) would not."""

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "WallClock()"


class SqliteJournal(JournalBase):
    """A journal in one SQLite file (``":memory:"`` for a throwaway one)."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        super().__init__(location=str(path))
        self._path = str(path)
        self._clock: Clock = clock or WallClock()
        self._sql = migrations.queries("sqlite")
        self._db: sqlite3.Connection | None = None
        self._executor: PriorityThread | None = None
        if self._path != ":memory:":  # every handle of this file in this process shares its notices
            self._signal = shared_signal(str(Path(self._path).resolve()))

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        """Open (creating the file and its folder if needed) and migrate."""
        if self._open:
            return
        self._executor = PriorityThread("bulk-journal")
        try:
            self._schema_version = await self._in_thread(self._open_db)
        except BaseException:
            self._executor.shutdown()
            self._executor = None
            raise
        self._open = True

    def _open_db(self) -> int:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None)  # we issue BEGIN / COMMIT ourselves
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 10000")
            if self._path != ":memory:":
                _wal(db)  # readers do not block the writer
                db.execute("PRAGMA synchronous = NORMAL")
            version = migrations.upgrade_sqlite(db, self._clock.now())
            migrations.check_version("sqlite", version, location=self._location)
        except BaseException:
            db.close()
            raise
        self._db = db
        return version

    async def close(self) -> None:
        """Close the file and stop the thread."""
        if self._executor is None:
            return
        executor, self._open = self._executor, False
        try:
            await self._in_thread(self._close_db, priority=LAST)
        finally:
            self._executor = None
            executor.shutdown()

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    def _waiting(self) -> int:
        return self._executor.queued if self._executor is not None else 0

    async def _in_thread(self, fn: Callable[[], T], *, priority: int = FIRST) -> T:
        if self._executor is None:
            raise JournalError(f"journal {self._location} is not open")
        try:
            return await asyncio.wrap_future(self._executor.submit(fn, priority))
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self._location}: {exc}") from exc

    async def _txn(self, fn: Callable[[sqlite3.Connection, float], T], *, priority: int = FIRST) -> T:
        """Run ``fn(db, now)`` on the journal thread in one immediate transaction (``BACKGROUND``: a
        bulk record, run after the calls of priority ``FIRST`` waiting then)."""
        return await self._in_thread(functools.partial(self._write, fn), priority=priority)

    def _write(self, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``fn(db, now)`` in one immediate transaction (on the journal thread)."""
        assert self._db is not None
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db, self._clock.now())
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def _rows(self, name: str, params: Mapping[str, Any], *, notify: bool = False) -> list[Row]:
        query = self._sql[name]
        rows = await self._txn(lambda db, now: db.execute(query, {"now": now, **params}).fetchall())
        if notify and rows:
            self._signal.notice()  # committed: wake this process's idle workers directly
        return rows

    # -- runs -----------------------------------------------------------------------------------
    async def create_run(
        self, run_key: str, *, input_name: str, input_hash: str, options: Mapping[str, Any]
    ) -> tuple[Run, bool]:
        """See :meth:`bulk.journal.Journal.create_run`."""
        params = {"run_key": run_key, "input_name": input_name, "input_hash": input_hash}

        def txn(db: sqlite3.Connection, now: float) -> tuple[Row, bool]:
            # looked up first: an insert that meets the key takes an AUTOINCREMENT id all the same,
            # and the run ids a merchant sees skipped numbers (1, 6, 10) on every submit of a file
            row = db.execute(self._sql["run_by_key"], {"run_key": run_key}).fetchone()
            if row is not None:
                return row, False
            db.execute(
                self._sql["insert_run"],
                {**params, "options": json.dumps(scrub_secrets(dict(options))), "now": now},
            )
            return db.execute(self._sql["run_by_key"], {"run_key": run_key}).fetchone(), True

        row, created = await self._txn(txn)
        self.check_same_input(run_key, row[1], input_hash)
        return await self.get_run(int(row[0])), created

    async def set_run_status(self, run_id: int, status: RunStatus, *, error: str | None = None) -> Run:
        """See :meth:`bulk.journal.Journal.set_run_status`."""

        def txn(db: sqlite3.Connection, now: float) -> None:
            row = db.execute(self._sql["run_status"], {"run_id": run_id}).fetchone()
            if row is None:
                raise JournalError(f"no run {run_id} in the journal")
            self.check_transition(run_id, row[0], status)
            params = {"run_id": run_id, "status": status.value, "error": error, "now": now}
            db.execute(self._sql["update_run_status"], params)

        await self._txn(txn)
        if status in CLAIMABLE:
            self._signal.notice()
        return await self.get_run(run_id)

    # -- work units -----------------------------------------------------------------------------
    async def add_units(self, run_id: int, units: Sequence[NewUnit]) -> list[WorkUnit]:
        """See :meth:`bulk.journal.Journal.add_units`."""
        params = [
            {
                "run_id": run_id, "kind": u.kind.value, "client_identifier": u.client_identifier,
                "payload_path": u.payload_path, "line_count": u.line_count,
                "payload": None if u.payload is None else json.dumps(u.payload),
            }
            for u in units
        ]  # fmt: skip

        def txn(db: sqlite3.Connection, now: float) -> list[Row]:
            db.executemany(self._sql["insert_unit"], [{**p, "now": now} for p in params])
            query = self._sql["unit_by_identifier"]
            return [
                db.execute(query, {"client_identifier": p["client_identifier"]}).fetchone() for p in params
            ]

        rows = await self._txn(txn)
        if units:
            self._signal.notice()
        return self.check_units_belong(run_id, [self.unit_from_row(r) for r in rows])

    def kinds_param(self, kinds: list[str]) -> Any:
        """SQLite has no arrays: the claim query reads the kinds with ``json_each``."""
        return json.dumps(kinds)

    # -- outcomes and applied values ------------------------------------------------------------
    async def record_outcomes(self, run_id: int, outcomes: Iterable[Outcome]) -> int:
        """See :meth:`bulk.journal.Journal.record_outcomes`. Rows go in with one ``INSERT OR IGNORE``
        each, in one transaction; only when some row was there already (a re-run, a repeat) are they
        also staged in a temporary table to look for a row whose status changed (about 2x faster than
        staging every batch: the last wave of a big run records half a million rows at once). The rows
        go in one status at a time, so the run's counters grow by exactly the rows each status added
        (a row given twice keeps its first outcome as before: a second of the same status comes later
        in its group, one of another status is a conflict either way)."""
        outcomes = list(outcomes)
        sql = self._sql

        def txn(db: sqlite3.Connection, now: float) -> int:
            text = STATUS_TEXT  # the rows are built here, on the journal thread: not on the event loop
            rows = [(run_id, o.file, o.line, text[o.status], o.reason, o.object_id, o.unit_id, now)
                    for o in outcomes]
            added = {"applied": 0, "unchanged": 0, "rejected": 0}
            for status in added:
                group = [r for r in rows if r[3] == status]
                if group:
                    added[status] = db.executemany(sql["outcomes_insert_rows"], group).rowcount
            inserted = sum(added.values())
            if inserted < len(rows):
                db.execute(sql["outcomes_staging"])
                db.execute(sql["outcomes_clear"])
                db.executemany(sql["outcomes_stage"], [r[1:7] for r in rows])
                conflict = db.execute(sql["outcomes_conflict"], {"run_id": run_id}).fetchone()
                if conflict is not None:
                    raise self.conflict_error(run_id, conflict)  # _write rolls the batch back
            if inserted:
                db.execute(sql["outcomes_counted"], {"run_id": run_id, **added})
            return inserted

        inserted = await self._txn(txn, priority=BACKGROUND)
        self._outcomes_recorded += inserted
        return inserted

    async def list_outcomes(
        self, run_id: int, *, status: OutcomeStatus | None = None, limit: int | None = None
    ) -> list[Outcome]:
        """See :meth:`bulk.journal.Journal.list_outcomes`."""
        params = {
            "run_id": run_id,
            "status": status and status.value,
            "limit": -1 if limit is None else limit,
        }
        return [self.outcome_from_row(r) for r in await self._rows("outcomes", params)]

    async def record_applied(self, run_id: int, values: Iterable[AppliedValue]) -> int:
        """See :meth:`bulk.journal.Journal.record_applied`. Staged in a temporary table like outcomes."""
        latest = {(v.object_id, v.field): v.value for v in values}  # one row per field: the last wins
        staged = [(object_id, field, value) for (object_id, field), value in latest.items()]
        sql = self._sql

        def txn(db: sqlite3.Connection, now: float) -> None:
            db.execute(sql["applied_staging"])
            db.execute(sql["applied_clear"])
            db.executemany(sql["applied_stage"], staged)
            db.execute(sql["applied_insert"], {"run_id": run_id, "now": now})

        await self._txn(txn, priority=BACKGROUND)
        return len(staged)

    async def applied_values(
        self, run_id: int | None, object_ids: Iterable[str]
    ) -> dict[str, dict[str, str]]:
        """See :meth:`bulk.journal.Journal.applied_values`."""
        ids = json.dumps(list(object_ids))
        if run_id is None:
            rows = await self._rows("applied_latest", {"object_ids": ids})
        else:
            rows = await self._rows("applied_by_run", {"run_id": run_id, "object_ids": ids})
        return self.applied_from_rows(rows)

    # -- workers --------------------------------------------------------------------------------


def _wal(db: sqlite3.Connection) -> None:
    """Switch to WAL. The switch needs the file to itself and SQLite does not wait for that (no busy
    handler): a second opener of a fresh file at the same moment retries for up to a second."""
    for attempt in range(50):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02)
