"""``bulk db upgrade``: bring the journal's database schema up to date.

The shared PostgreSQL journal is migrated only by this command, never implicitly by a worker, so a
schema change is one deliberate step rather than a race between workers starting on many machines.
Given a SQLite path, it migrates that file (the embedded journal also does so by itself when opened).
"""

from __future__ import annotations

import argparse
from typing import Any

from bulk.cli._options import add_shared
from bulk.errors import ConfigError
from bulk.journal import SqliteJournal, mask
from bulk.journal.locations import parse_location
from bulk.journal.migrations import upgrade_postgres


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``bulk db …`` to the command line."""
    parser = subparsers.add_parser("db", help="manage the journal database (schema migrations)")
    db_commands = parser.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply pending journal migrations (the only way a PostgreSQL journal is migrated)",
    )
    add_shared(upgrade, "database_url")
    upgrade.set_defaults(handler=_upgrade)


async def _upgrade(args: argparse.Namespace) -> int:
    url = args.database_url
    if not url:
        raise ConfigError("bulk db upgrade needs --database-url or BULK_DATABASE_URL")
    location = parse_location(url)
    if location.backend == "pg":
        before, after = await upgrade_postgres(location.target)
    else:
        journal = SqliteJournal(location.target)
        async with journal:
            after = journal.statistics().schema_version
        before = after  # the SQLite journal migrates itself on open; we only report where it is
    change = f"{before} -> {after}" if before != after else f"{after} (already current)"
    print(f"journal {mask(location.target)}: schema version {change}")
    return 0
