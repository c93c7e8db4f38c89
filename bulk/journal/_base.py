"""What both journal backends share: claims and the fence check (counted), statistics, repr, and the
operations that are one named query on either backend.

The backends differ only in how they talk to their database (``_rows``) and how a row encodes times
and JSON (:class:`~bulk.journal._row_codec.RowCodec`, which turns rows into records).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from bulk.errors import JournalError, LeaseLostError
from bulk.journal._records import Claim, JournalStatistics, Run, UnitKind, UnitState, WorkerRecord, WorkUnit
from bulk.journal._row_codec import Row, RowCodec, worker_record
from bulk.journal._wakeups import WorkSignal

logger = logging.getLogger("bulk.journal")


class JournalBase(RowCodec):
    """Shared state and row mapping; subclasses implement :class:`bulk.journal.Journal`."""

    backend = "?"

    def __init__(self, *, location: str) -> None:
        self._location = location  # already masked
        self._open = False
        self._schema_version = 0
        self._claims = 0
        self._units_claimed = 0
        self._leases_lost = 0
        self._outcomes_recorded = 0
        self._signal = WorkSignal()  # work notices seen by this handle (see bulk.journal._wakeups)

    async def close(self) -> None:
        """Release the connection (implemented by each backend)."""
        raise NotImplementedError

    async def _rows(self, name: str, params: Mapping[str, Any], *, notify: bool = False) -> list[Row]:
        """Run the named query in one transaction and return its rows; with ``notify``, a query that
        matched rows also raises a work notice (implemented by each backend)."""
        raise NotImplementedError

    # -- work notices (bulk.journal._wakeups) ------------------------------------------------------
    async def _start_listening(self) -> None:
        """Begin receiving other handles' notices (Postgres: LISTEN); nothing to do by default."""

    async def work_mark(self) -> int:
        """See :meth:`bulk.journal.Journal.work_mark`."""
        await self._start_listening()
        return self._signal.count

    async def wait_for_work(self, mark: int) -> None:
        """See :meth:`bulk.journal.Journal.wait_for_work`."""
        await self._signal.wait(mark)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def statistics(self) -> JournalStatistics:
        """A snapshot of this handle's activity since it was made."""
        return JournalStatistics(
            backend=self.backend,
            location=self._location,
            is_open=self._open,
            schema_version=self._schema_version,
            claims=self._claims,
            units_claimed=self._units_claimed,
            leases_lost=self._leases_lost,
            outcomes_recorded=self._outcomes_recorded,
            waiting=self._waiting(),
        )

    def _waiting(self) -> int:
        """Calls queued for the database and not yet running (0 unless a backend queues them)."""
        return 0

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return (
            f"{type(self).__name__}({self._location!r}, {state}, schema={self._schema_version}, "
            f"claimed={self._units_claimed}, leases_lost={self._leases_lost}, "
            f"outcomes={self._outcomes_recorded})"
        )

    def claims_from_rows(self, worker_id: str, rows: Sequence[Row]) -> list[Claim]:
        """Claimed unit rows as claims, in unit order; counts them for :meth:`statistics`."""
        units = sorted((self.unit_from_row(r) for r in rows), key=lambda u: u.unit_id)
        self._claims += 1
        self._units_claimed += len(units)
        if units:
            logger.debug(
                "units claimed",
                extra={
                    "action": "journal.claim",
                    "worker_id": worker_id,
                    "units": [u.unit_id for u in units],
                },
            )
        return [Claim(u, worker_id, u.fence, self._lease_end(u)) for u in units]

    def _lease_end(self, unit: WorkUnit) -> datetime:
        if unit.lease_expires_at is None:  # pragma: no cover - the claim query always sets it
            raise JournalError(f"unit {unit.unit_id} was claimed without a lease")
        return unit.lease_expires_at

    def unit_after_write(self, claim: Claim, rows: Sequence[Row]) -> WorkUnit:
        """The unit a fence-checked write returned, or :class:`LeaseLostError` when it matched nothing."""
        if not rows:
            self._leases_lost += 1
            # info, not warning: a renewal racing the unit's own completion lands here too; a holder
            # that really lost its lease while working says so itself (bulk lane, worker)
            logger.info(
                "fenced write refused: the claim is no longer current",
                extra={"action": "journal.lease_lost", "unit_id": claim.unit_id, "fence": claim.fence},
            )
            raise LeaseLostError(
                f"work unit {claim.unit_id}: the claim of {claim.worker_id} (fence {claim.fence}) is no "
                f"longer valid; another worker took the unit over or it was already finished",
                unit_id=claim.unit_id,
                fence=claim.fence,
            )
        return self.unit_from_row(rows[0])

    def renewed(self, claim: Claim, unit: WorkUnit) -> Claim:
        """The claim, after a successful write, with the unit's new state and lease."""
        return Claim(unit, claim.worker_id, claim.fence, self._lease_end(unit))

    # -- the operations that are one named query on either backend --------------------------------
    async def get_run(self, run_id: int) -> Run:
        """See :meth:`bulk.journal.Journal.get_run`."""
        rows = await self._rows("runs", {"run_id": run_id, "limit": 1})
        if not rows:
            raise JournalError(f"no run {run_id} in the journal")
        return self.run_from_row(rows[0])

    async def hold_run(self, run_id: int, *, holder: str) -> None:
        """See :meth:`bulk.journal.Journal.hold_run`: nothing to do for a journal file, which one
        machine's processes share (the state directory's run lock, :mod:`bulk.submit.runlock`, covers
        them)."""

    async def release_run(self, run_id: int) -> None:
        """See :meth:`bulk.journal.Journal.release_run`."""

    async def run_holders(self) -> dict[int, str]:
        """See :meth:`bulk.journal.Journal.run_holders` (a journal file holds no run: see hold_run)."""
        return {}

    async def find_run(self, run_key: str) -> Run | None:
        """See :meth:`bulk.journal.Journal.find_run`."""
        rows = await self._rows("run_by_key", {"run_key": run_key})
        return await self.get_run(int(rows[0][0])) if rows else None

    async def list_runs(self, *, limit: int = 20) -> list[Run]:
        """See :meth:`bulk.journal.Journal.list_runs`."""
        return [self.run_from_row(r) for r in await self._rows("runs", {"run_id": None, "limit": limit})]

    async def get_unit(self, unit_id: int) -> WorkUnit:
        """See :meth:`bulk.journal.Journal.get_unit`."""
        rows = await self._rows("unit", {"unit_id": unit_id})
        if not rows:
            raise JournalError(f"no work unit {unit_id} in the journal")
        return self.unit_from_row(rows[0])

    async def list_units(self, run_id: int, *, state: UnitState | None = None) -> list[WorkUnit]:
        """See :meth:`bulk.journal.Journal.list_units`."""
        rows = await self._rows("units_of_run", {"run_id": run_id, "state": state and state.value})
        return [self.unit_from_row(r) for r in rows]

    async def claim(
        self,
        worker_id: str,
        kinds: Iterable[UnitKind],
        *,
        lease_s: float,
        limit: int = 1,
        run_id: int | None = None,
    ) -> list[Claim]:
        """See :meth:`bulk.journal.Journal.claim` (the SQL is each engine's: ``SKIP LOCKED`` or not)."""
        params = {"worker_id": worker_id, "kinds": self.kinds_param([UnitKind(k).value for k in kinds]),
                  "lease_s": float(lease_s), "limit": limit, "run_id": run_id}
        return self.claims_from_rows(worker_id, await self._rows("claim", params))

    def kinds_param(self, kinds: list[str]) -> Any:
        """The unit kinds as the engine's claim query takes them (a list; SQLite: JSON text)."""
        return kinds

    async def _holder_write(
        self, name: str, claim: Claim, *, notify: bool = False, **params: Any
    ) -> WorkUnit:
        """A fence-checked write: it matches the unit only while ``claim`` is still its latest claim
        (``notify``: the unit is claimable again, tell the idle workers)."""
        rows = await self._rows(
            name,
            {"unit_id": claim.unit_id, "fence": claim.fence, "worker_id": claim.worker_id, **params},
            notify=notify,
        )
        return self.unit_after_write(claim, rows)

    async def heartbeat(self, claim: Claim, *, lease_s: float) -> Claim:
        """See :meth:`bulk.journal.Journal.heartbeat`."""
        return self.renewed(claim, await self._holder_write("heartbeat", claim, lease_s=float(lease_s)))

    async def mark_submitted(self, claim: Claim, remote_id: str) -> Claim:
        """See :meth:`bulk.journal.Journal.mark_submitted`."""
        return self.renewed(claim, await self._holder_write("mark_submitted", claim, remote_id=remote_id))

    async def complete(self, claim: Claim) -> WorkUnit:
        """See :meth:`bulk.journal.Journal.complete`."""
        return await self._holder_write("finish", claim, state=UnitState.DONE.value, error=None)

    async def fail(self, claim: Claim, error: str, *, retry: bool) -> WorkUnit:
        """See :meth:`bulk.journal.Journal.fail`."""
        state = UnitState.PENDING if retry else UnitState.FAILED
        return await self._holder_write("finish", claim, notify=retry, state=state.value, error=error)

    async def release(self, claim: Claim) -> WorkUnit:
        """See :meth:`bulk.journal.Journal.release`."""
        return await self._holder_write("release", claim, notify=True)

    async def release_run_leases(self, run_id: int, worker_id: str) -> int:
        """See :meth:`bulk.journal.Journal.release_run_leases`."""
        rows = await self._rows("release_run_leases", {"run_id": run_id, "worker_id": worker_id}, notify=True)
        return len(rows)

    async def touch_worker(self, worker_id: str, *, host: str, pid: int) -> None:
        """See :meth:`bulk.journal.Journal.touch_worker`."""
        await self._rows("touch_worker", {"worker_id": worker_id, "host": host, "pid": pid})

    async def list_workers(self, *, seen_within_s: float = 60.0) -> list[WorkerRecord]:
        """See :meth:`bulk.journal.Journal.list_workers`."""
        rows = await self._rows("workers", {"within_s": float(seen_within_s)})
        return [worker_record(r, self.to_datetime) for r in rows]
