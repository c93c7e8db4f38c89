"""The PostgreSQL journal, shared by many workers on many machines.

Claims use ``FOR UPDATE SKIP LOCKED`` so workers never block on, nor double-take, the same unit; each
claim bumps the unit's fence and every later write by the holder is conditional on it. Lease times
come from the server's ``now()`` (through ``bulk_now(offset)``; the offset is a test-only way to move
time without sleeping), so worker clock skew cannot matter.

One connection per handle, used under a lock: journal writes are few and short (claims, heartbeats,
outcome batches), and a worker that needs more parallelism opens more handles. A broken connection is
replaced on the next call. Idle workers are woken by ``pg_notify`` (sent in the same transaction as
the write that made units claimable) on a second, listening connection opened by the first
:meth:`work_mark` (see :mod:`bulk.journal._wakeups`). The schema is checked at :meth:`open` and
never migrated here — that is ``bulk db upgrade``'s job (see :mod:`bulk.journal.migrations`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self

import psycopg
from psycopg.types.json import Jsonb

from bulk.errors import JournalError
from bulk.journal import migrations
from bulk.journal._base import JournalBase
from bulk.journal._pg_run_locks import PgRunLocks
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
from bulk.journal._wakeups import CLAIMABLE
from bulk.journal.locations import mask
from bulk.models import STATUS_TEXT

logger = logging.getLogger(__name__)

_RELISTEN_FIRST_S, _RELISTEN_MAX_S = 0.05, 5.0  # real time: how soon to knock on the server again

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresJournal(JournalBase):
    """A journal in PostgreSQL. ``time_offset_s`` moves this handle's view of the server clock
    (tests only: it lets a test act as a worker from the future without sleeping)."""

    backend = "pg"

    def __init__(self, url: str, *, time_offset_s: float = 0.0) -> None:
        super().__init__(location=mask(url))
        self._url = url  # kept private: the password never appears in repr, logs or errors
        self._offset = float(time_offset_s)
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()
        self._sql = migrations.queries("pg")
        self._listener: asyncio.Task[None] | None = None
        self._run_locks = PgRunLocks(url, self._location, self._sql)

    def from_json(self, value: Any) -> Any:
        """``jsonb`` arrives already decoded."""
        return value

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and check the schema version (raises :class:`JournalError` if it is not current)."""
        if self._conn is not None:
            return
        conn = await self._connect()
        try:
            version = await migrations.postgres_version(conn)
            migrations.check_version("pg", version, location=self._location)
        except BaseException:
            await conn.close()
            raise
        self._conn, self._schema_version, self._open = conn, version, True
        logger.debug("journal opened", extra={"action": "journal.open", "location": self._location})

    async def close(self) -> None:
        """Stop listening, give the run locks back and close the connection."""
        await self._run_locks.close()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        conn, self._conn, self._open = self._conn, None, False
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def _connect(self) -> Conn:
        try:
            return await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        except psycopg.Error as exc:
            raise JournalError(f"cannot connect to the journal at {self._location}: {exc}") from exc

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        """One transaction on the handle's connection; psycopg errors become :class:`JournalError`."""
        if not self._open:
            raise JournalError(f"journal {self._location} is not open")
        async with self._lock:
            if self._conn is None or self._conn.broken:
                self._conn = await self._connect()
            try:
                async with self._conn.transaction():
                    yield self._conn
            except psycopg.Error as exc:
                raise JournalError(f"journal {self._location}: {exc}") from exc

    async def _rows(self, name: str, params: Mapping[str, Any], *, notify: bool = False) -> list[Row]:
        async with self._tx() as conn:
            cur = await conn.execute(self._sql[name], {"offset": self._offset, **params})
            rows: list[Row] = list(await cur.fetchall()) if cur.description else []
            if notify and rows:
                await conn.execute(self._sql["notify_work"])
            return rows

    # -- work notices ---------------------------------------------------------------------------
    async def _start_listening(self) -> None:
        """Start the listening task once (its first LISTEN raises a notice of its own, so a claim
        made before it was ready is followed by another look)."""
        if self._listener is None and self._open:
            self._listener = asyncio.create_task(self._listen(), name="journal-listen")

    async def _listen(self) -> None:
        """LISTEN on a connection of its own until closed; a lost connection is replaced with
        backoff, and each (re)connection counts as a notice (some may have been missed meanwhile)."""
        backoff, lost = _RELISTEN_FIRST_S, False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                try:
                    await conn.execute(self._sql["listen_work"])
                    if lost:
                        logger.info("work notices back", extra={"action": "journal.listen_back"})
                    backoff, lost = _RELISTEN_FIRST_S, False
                    self._signal.notice()
                    async for _ in conn.notifies():
                        self._signal.notice()
                finally:
                    await conn.close()
            except psycopg.Error as exc:
                if not lost:  # once per outage; idle workers fall back to polling meanwhile
                    logger.warning("work notices lost: %s", type(exc).__name__,
                                   extra={"action": "journal.listen_lost"})
                lost = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RELISTEN_MAX_S)

    # -- runs -----------------------------------------------------------------------------------
    async def hold_run(self, run_id: int, *, holder: str) -> None:
        """See :meth:`bulk.journal.Journal.hold_run` (:mod:`bulk.journal._pg_run_locks`)."""
        await self._run_locks.hold(run_id, holder=holder)

    async def release_run(self, run_id: int) -> None:
        """See :meth:`bulk.journal.Journal.release_run`."""
        await self._run_locks.release(run_id)

    async def run_holders(self) -> dict[int, str]:
        """See :meth:`bulk.journal.Journal.run_holders`."""
        async with self._tx() as conn:
            return await self._run_locks.holders(conn)

    async def create_run(
        self, run_key: str, *, input_name: str, input_hash: str, options: Mapping[str, Any]
    ) -> tuple[Run, bool]:
        """See :meth:`bulk.journal.Journal.create_run`."""
        params = {"run_key": run_key, "input_name": input_name, "input_hash": input_hash}
        async with self._tx() as conn:
            # looked up first: an insert that meets the key takes a sequence number all the same (run
            # ids skipped numbers on every submit of a file); two processes creating it at once still
            # meet in the insert's ON CONFLICT
            row = await (await conn.execute(self._sql["run_by_key"], {"run_key": run_key})).fetchone()
            created = False
            if row is None:
                cur = await conn.execute(
                    self._sql["insert_run"],
                    {**params, "options": Jsonb(scrub_secrets(dict(options))), "offset": self._offset},
                )
                created = await cur.fetchone() is not None
                row = await (await conn.execute(self._sql["run_by_key"], {"run_key": run_key})).fetchone()
        assert row is not None
        self.check_same_input(run_key, row[1], input_hash)
        return await self.get_run(int(row[0])), created

    async def set_run_status(self, run_id: int, status: RunStatus, *, error: str | None = None) -> Run:
        """See :meth:`bulk.journal.Journal.set_run_status`."""
        async with self._tx() as conn:
            row = await (await conn.execute(self._sql["lock_run"], {"run_id": run_id})).fetchone()
            if row is None:
                raise JournalError(f"no run {run_id} in the journal")
            self.check_transition(run_id, row[0], status)
            await conn.execute(
                self._sql["update_run_status"],
                {"run_id": run_id, "status": status.value, "error": error, "offset": self._offset},
            )
            if status in CLAIMABLE:
                await conn.execute(self._sql["notify_work"])
        return await self.get_run(run_id)

    # -- work units -----------------------------------------------------------------------------
    async def add_units(self, run_id: int, units: Sequence[NewUnit]) -> list[WorkUnit]:
        """See :meth:`bulk.journal.Journal.add_units`."""
        params = [
            {
                "run_id": run_id, "kind": u.kind.value, "client_identifier": u.client_identifier,
                "payload_path": u.payload_path, "line_count": u.line_count, "offset": self._offset,
                "payload": None if u.payload is None else Jsonb(u.payload),
            }
            for u in units
        ]  # fmt: skip
        async with self._tx() as conn:
            async with conn.cursor() as cur:
                await cur.executemany(self._sql["insert_unit"], params)
            if units:
                await conn.execute(self._sql["notify_work"])
            cur2 = await conn.execute(
                self._sql["units_by_identifiers"], {"identifiers": [u.client_identifier for u in units]}
            )
            rows = await cur2.fetchall()
        return self.check_units_belong(run_id, [self.unit_from_row(r) for r in rows])

    # -- outcomes and applied values ------------------------------------------------------------
    async def record_outcomes(self, run_id: int, outcomes: Iterable[Outcome]) -> int:
        """See :meth:`bulk.journal.Journal.record_outcomes`. Rows go in by ``COPY`` to a temporary
        table, then one ``INSERT … ON CONFLICT DO NOTHING``: 100k rows take about a second."""
        params = {"run_id": run_id, "offset": self._offset}
        async with self._tx() as conn:
            await conn.execute(self._sql["outcomes_staging"])
            async with conn.cursor().copy(self._sql["outcomes_copy"]) as copy:
                text = STATUS_TEXT
                for o in outcomes:
                    await copy.write_row((o.file, o.line, text[o.status], o.reason, o.object_id, o.unit_id))
            inserted = (await conn.execute(self._sql["outcomes_insert"], params)).rowcount
            conflict = await (await conn.execute(self._sql["outcomes_conflict"], params)).fetchone()
            if conflict is not None:
                raise self.conflict_error(run_id, conflict)  # leaving the block rolls the batch back
        self._outcomes_recorded += inserted
        return inserted

    async def list_outcomes(
        self, run_id: int, *, status: OutcomeStatus | None = None, limit: int | None = None
    ) -> list[Outcome]:
        """See :meth:`bulk.journal.Journal.list_outcomes`."""
        rows = await self._rows(
            "outcomes", {"run_id": run_id, "status": status and status.value, "limit": limit}
        )
        return [self.outcome_from_row(r) for r in rows]

    async def record_applied(self, run_id: int, values: Iterable[AppliedValue]) -> int:
        """See :meth:`bulk.journal.Journal.record_applied`. Staged by ``COPY`` like outcomes."""
        latest = {(v.object_id, v.field): v.value for v in values}  # one row per field: the last wins
        async with self._tx() as conn:
            await conn.execute(self._sql["applied_staging"])
            async with conn.cursor().copy(self._sql["applied_copy"]) as copy:
                for (object_id, field), value in latest.items():
                    await copy.write_row((object_id, field, value))
            await conn.execute(self._sql["applied_insert"], {"run_id": run_id, "offset": self._offset})
        return len(latest)

    async def applied_values(
        self, run_id: int | None, object_ids: Iterable[str]
    ) -> dict[str, dict[str, str]]:
        """See :meth:`bulk.journal.Journal.applied_values`."""
        ids = list(object_ids)
        if run_id is None:
            rows = await self._rows("applied_latest", {"object_ids": ids})
        else:
            rows = await self._rows("applied_by_run", {"run_id": run_id, "object_ids": ids})
        return self.applied_from_rows(rows)

    # -- workers --------------------------------------------------------------------------------
