"""SQL files of the journal — named queries and numbered migrations — loaded once, and schema versions.

Queries live in ``sql/{backend}_queries.sql`` as blocks headed ``-- name: NAME`` (one file per backend
keeps each dialect readable on its own). Migrations are ``sql/{backend}_NNNN_title.sql``, applied in
order, each recorded in ``bulk_schema_version``.

Who migrates: the shared PostgreSQL journal is migrated only by ``bulk db upgrade`` — many workers on
many machines share it, and a schema change must be a deliberate step, never a race between workers
starting up. A worker that finds an old schema stops with a :class:`JournalError` that says what to
run. The embedded SQLite journal belongs to one process and migrates itself when opened.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import psycopg

from bulk.errors import JournalError
from bulk.journal.locations import mask

Backend = Literal["pg", "sqlite"]
logger = logging.getLogger(__name__)

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(pg|sqlite)_(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step."""

    version: int
    title: str
    sql: str


def _sql_dir() -> resources.abc.Traversable:
    return resources.files("bulk.journal").joinpath("sql")


def parse_queries(text: str) -> dict[str, str]:
    """Split a ``-- name: NAME`` file into ``{NAME: sql}`` (trailing ``;`` dropped; names unique)."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise JournalError(f"duplicate journal query name {name!r}")
        queries[name] = body.strip().rstrip(";").strip()
    return queries


@cache
def queries(backend: Backend) -> dict[str, str]:
    """The named queries of one backend, read from the package once."""
    return parse_queries(_sql_dir().joinpath(f"{backend}_queries.sql").read_text(encoding="utf-8"))


@cache
def migrations(backend: Backend) -> tuple[Migration, ...]:
    """Every migration of one backend, in version order (versions must be 1, 2, 3, … without gaps)."""
    found: list[Migration] = []
    for entry in _sql_dir().iterdir():
        match = _MIGRATION.match(entry.name)
        if match and match.group(1) == backend:
            found.append(Migration(int(match.group(2)), match.group(3), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise JournalError(f"journal migrations for {backend} are not numbered 1..n")
    return tuple(found)


def latest_version(backend: Backend) -> int:
    """The schema version this code expects."""
    return len(migrations(backend))


def pending(backend: Backend, current: int) -> tuple[Migration, ...]:
    """The migrations still to apply to a schema at ``current``."""
    return tuple(m for m in migrations(backend) if m.version > current)


def check_version(backend: Backend, current: int, *, location: str) -> None:
    """Raise a :class:`JournalError` that tells what to do unless the schema is exactly current.

    ``location`` must already have its password masked: it goes into the message.
    """
    expected = latest_version(backend)
    if current < expected:
        state = "has no journal schema" if current == 0 else f"has journal schema version {current}"
        raise JournalError(
            f"the database {location} {state}, this version of bulk needs {expected}: "
            f"run `bulk db upgrade --database-url URL` (or set BULK_DATABASE_URL) first"
        )
    check_newer(backend, current, location=location)


def check_newer(backend: Backend, current: int, *, location: str) -> None:
    """Raise a :class:`JournalError` if the schema is newer than this code understands."""
    expected = latest_version(backend)
    if current > expected:
        raise JournalError(
            f"the database {location} has journal schema version {current}, newer than this version of "
            f"bulk understands ({expected}): upgrade bulk"
        )


async def postgres_version(conn: psycopg.AsyncConnection[Any]) -> int:
    """The schema version of a PostgreSQL journal (0 when it has none)."""
    sql = queries("pg")
    row = await (await conn.execute(sql["version_table_exists"])).fetchone()
    if not row or not row[0]:
        return 0
    row = await (await conn.execute(sql["current_version"])).fetchone()
    return int(row[0]) if row else 0


async def upgrade_postgres(url: str) -> tuple[int, int]:
    """Apply pending migrations in one transaction, serialised by an advisory lock so two concurrent
    upgrades cannot both apply a step. Returns (version before, version after)."""
    sql = queries("pg")
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn, conn.transaction():
            await conn.execute(sql["migration_lock"])
            await conn.execute(sql["version_table"])
            before = await postgres_version(conn)
            check_newer("pg", before, location=mask(url))
            for step in pending("pg", before):
                await conn.execute(step.sql.encode())  # bytes: run as a plain script, no parameters
                await conn.execute(sql["insert_version"], {"version": step.version})
                logger.info("journal migrated", extra={"action": "journal.migrate", "version": step.version})
    except psycopg.Error as exc:
        raise JournalError(f"cannot upgrade the journal at {mask(url)}: {exc}") from exc
    return before, latest_version("pg")


def upgrade_sqlite(db: sqlite3.Connection, now: float) -> int:
    """Bring a SQLite journal file up to date (each step in its own transaction); returns its version.

    Two processes may open a fresh file at once (a run and a ``bulk cancel`` or the watch of another
    terminal): both see version 0, one applies the step, the other's step then fails ("table already
    exists") — it rolls back, reads the version again, and goes on when the step is there."""
    sql = queries("sqlite")
    db.execute(sql["version_table"])
    current = int(db.execute(sql["current_version"]).fetchone()[0])
    for step in pending("sqlite", current):
        try:
            db.executescript("BEGIN IMMEDIATE;\n" + step.sql)
            db.execute(sql["insert_version"], {"version": step.version, "now": now})
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if int(db.execute(sql["current_version"]).fetchone()[0]) >= step.version:
                continue  # another opener applied it meanwhile
            raise
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        logger.info("journal migrated", extra={"action": "journal.migrate", "version": step.version})
        current = step.version
    return int(db.execute(sql["current_version"]).fetchone()[0])
