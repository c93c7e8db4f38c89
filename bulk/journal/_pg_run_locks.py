"""One run, one process across machines: a PostgreSQL session lock per run, for a shared journal.

Why: the run lock in the state directory (:mod:`bulk.submit.runlock`, a ``flock``) excludes processes
of one machine. Two machines submitting the same input to one PostgreSQL journal (a cron on each, for
redundancy) would both plan it, and a shard's identity is a hash of the rows it holds — cut at
different moments, two planners cut different shards of the same rows, and rows would be sent twice.
So the submitter also takes ``pg_try_advisory_lock`` on a connection of its own, kept for the run's
life: the server frees it when that connection ends, a killed process's included. The connection's
``application_name`` names the holder, which is how a refused process can say who holds the run.

A paused (SIGSTOP) holder keeps its lock, as it keeps the ``flock``: it is alive. If the lock's own
connection breaks mid-run, the lock is gone; the units' leases and fencing still keep every shard's
sending exactly once, only a second planner would no longer be refused.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bulk.errors import JournalError, RunHeldError

SPACE = 0x62756C6B  # "bulk": the first key of every run lock, so other applications' locks never meet ours
NAME_PREFIX = "bulk submit: "
NAME_MAX = 63  # PostgreSQL keeps at most this many bytes of an application_name


class PgRunLocks:
    """The run locks one journal handle holds, each on a connection of its own."""

    def __init__(self, url: str, location: str, sql: dict[str, str]) -> None:
        self._url = url  # private: the password never appears in errors
        self._location = location
        self._sql = sql
        self._held: dict[int, psycopg.AsyncConnection[Any]] = {}

    async def hold(self, run_id: int, *, holder: str) -> None:
        """Take run ``run_id``'s lock without waiting, or raise :class:`RunHeldError` naming the holder."""
        if run_id in self._held:
            return
        name = (NAME_PREFIX + holder).encode()[:NAME_MAX].decode(errors="ignore")
        try:
            conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, application_name=name)
        except psycopg.Error as exc:
            raise JournalError(f"cannot connect to the journal at {self._location}: {exc}") from exc
        try:
            params = {"space": SPACE, "run_id": run_id}
            row = await (await conn.execute(self._sql["run_lock_take"], params)).fetchone()
            if not (row and row[0]):
                held_by = (await self.holders(conn)).get(run_id, holder_named(""))
                raise RunHeldError(run_id, pid=None, host=None, since=None, held_by=held_by)
        except psycopg.Error as exc:
            await conn.close()
            raise JournalError(f"journal {self._location}: {exc}") from exc
        except BaseException:
            await conn.close()
            raise
        self._held[run_id] = conn

    async def holders(self, conn: psycopg.AsyncConnection[Any]) -> dict[int, str]:
        """Every run of this journal held now (by any process, ours too), and by whom."""
        cur = await conn.execute(self._sql["run_lock_holders"], {"space": SPACE})
        return {int(run_id): holder_named(str(name or "")) for run_id, name in await cur.fetchall()}

    async def release(self, run_id: int) -> None:
        """Give run ``run_id``'s lock back: unlocked first, as the server frees a closed session's locks
        only once its backend has exited, a moment after the close returns (a submission started right
        after this one ended could be refused)."""
        conn = self._held.pop(run_id, None)
        if conn is None:
            return
        try:
            await conn.execute(self._sql["run_lock_give"], {"space": SPACE, "run_id": run_id})
        except psycopg.Error:
            pass  # the connection is gone, and the lock with it
        finally:
            await conn.close()

    async def close(self) -> None:
        """Give every lock back."""
        for run_id in list(self._held):
            await self.release(run_id)


def holder_named(application_name: str) -> str:
    """Who a lock's connection says it is (``pid 1234 on host x, since 15:02:11``)."""
    if application_name.startswith(NAME_PREFIX):
        return application_name.removeprefix(NAME_PREFIX)
    return "a process on another machine"
