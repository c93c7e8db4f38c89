"""The one interface every journal backend implements (SQLite embedded, PostgreSQL shared).

Callers (the planner, the lanes, ``bulk status``) depend on this Protocol only, and one test suite runs
over every backend. Time for leases comes from the backend (Postgres ``now()``, or the SQLite journal's
injected clock), never from the caller, so clock skew between workers cannot matter.

Every write a claim holder makes (``heartbeat``, ``mark_submitted``, ``complete``, ``fail``,
``release``) checks the claim's fence and raises :class:`bulk.errors.LeaseLostError` when another
worker has taken the unit over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from bulk.journal._records import (
    AppliedValue,
    Claim,
    JournalStatistics,
    NewUnit,
    Outcome,
    OutcomeStatus,
    Run,
    RunStatus,
    UnitKind,
    UnitState,
    WorkerRecord,
    WorkUnit,
)


@runtime_checkable
class Journal(Protocol):
    """Durable runs, work units, per-row outcomes, applied values and workers."""

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect (and, for the embedded SQLite journal only, migrate). Idempotent."""
        ...

    async def close(self) -> None:
        """Release the connection. Idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def statistics(self) -> JournalStatistics:
        """A snapshot of this handle's activity."""
        ...

    # -- runs -----------------------------------------------------------------------------------
    async def create_run(
        self, run_key: str, *, input_name: str, input_hash: str, options: Mapping[str, Any]
    ) -> tuple[Run, bool]:
        """The run for ``run_key``, created if new; ``True`` when created now. The same key with another
        ``input_hash`` raises :class:`JournalError` (a key names one input)."""
        ...

    async def get_run(self, run_id: int) -> Run:
        """One run with its counters; :class:`JournalError` if unknown."""
        ...

    async def hold_run(self, run_id: int, *, holder: str) -> None:
        """Hold run ``run_id`` against every other process of a journal shared across machines, until
        :meth:`release_run` or :meth:`close` (or this process's end); :class:`~bulk.errors.RunHeldError`
        names the holder (``holder`` says who we are) when another has it."""
        ...

    async def release_run(self, run_id: int) -> None:
        """Give :meth:`hold_run`'s lock back."""
        ...

    async def run_holders(self) -> dict[int, str]:
        """Runs held through :meth:`hold_run` now, by any process, and who holds each."""
        ...

    async def find_run(self, run_key: str) -> Run | None:
        """The run for ``run_key``, if there is one (nothing is created)."""
        ...

    async def list_runs(self, *, limit: int = 20) -> list[Run]:
        """The most recent runs first, with counters."""
        ...

    async def set_run_status(self, run_id: int, status: RunStatus, *, error: str | None = None) -> Run:
        """Move a run to ``status`` (checked by :func:`check_run_transition`)."""
        ...

    # -- work units -----------------------------------------------------------------------------
    async def add_units(self, run_id: int, units: Sequence[NewUnit]) -> list[WorkUnit]:
        """Add units to a run; a ``client_identifier`` already present is kept as is (idempotent)."""
        ...

    async def get_unit(self, unit_id: int) -> WorkUnit:
        """One unit; :class:`JournalError` if unknown."""
        ...

    async def list_units(self, run_id: int, *, state: UnitState | None = None) -> list[WorkUnit]:
        """A run's units in id order, optionally only those in ``state``."""
        ...

    async def claim(
        self,
        worker_id: str,
        kinds: Iterable[UnitKind],
        *,
        lease_s: float,
        limit: int = 1,
        run_id: int | None = None,
    ) -> list[Claim]:
        """Claim up to ``limit`` pending units, or held units whose lease has expired (a re-claimed
        ``submitted`` unit keeps its ``remote_id`` so the new holder adopts the bulk operation).
        Each claim bumps the unit's fence and attempt. Units of cancelled or failed runs are skipped."""
        ...

    async def heartbeat(self, claim: Claim, *, lease_s: float) -> Claim:
        """Extend the lease to ``now + lease_s``; :class:`LeaseLostError` if the unit was taken over."""
        ...

    async def mark_submitted(self, claim: Claim, remote_id: str) -> Claim:
        """Record the started bulk operation's id; the unit becomes ``submitted``."""
        ...

    async def complete(self, claim: Claim) -> WorkUnit:
        """The unit is done; its lease ends."""
        ...

    async def fail(self, claim: Claim, error: str, *, retry: bool) -> WorkUnit:
        """The attempt failed: back to ``pending`` when ``retry`` (``remote_id`` cleared), else ``failed``."""
        ...

    async def release(self, claim: Claim) -> WorkUnit:
        """Give the unit back untouched (e.g. on shutdown): ``pending`` again, or still ``submitted``
        with an expired lease so another worker adopts the running bulk operation at once."""
        ...

    async def release_run_leases(self, run_id: int, worker_id: str) -> int:
        """Give back every unit of ``run_id`` that ``worker_id`` holds, as :meth:`release` would, without
        its claims: for a process that took over a run whose previous holder is known dead (a killed
        ``bulk submit``: :mod:`bulk.submit.runlock`), so it need not wait for their leases to expire.
        Returns how many units were given back."""
        ...

    # -- work notices (no polling: bulk.journal._wakeups) -----------------------------------------
    async def work_mark(self) -> int:
        """How many work notices this handle has seen (units added, released or failed for a retry,
        a run made claimable), starting to listen for other handles' notices if it was not yet.
        Take it *before* a claim; pass it to :meth:`wait_for_work` if the claim found nothing."""
        ...

    async def wait_for_work(self, mark: int) -> None:
        """Return once a notice arrived after ``mark`` (never times out: race it with a fallback
        timer, since a unit whose lease expires becomes claimable without any notice)."""
        ...

    # -- outcomes and applied values ------------------------------------------------------------
    async def record_outcomes(self, run_id: int, outcomes: Iterable[Outcome]) -> int:
        """Record final row outcomes atomically; returns how many were new. A repeat of the same status
        is a no-op; a different status for a row raises :class:`OutcomeConflictError` and records
        nothing of the batch."""
        ...

    async def list_outcomes(
        self, run_id: int, *, status: OutcomeStatus | None = None, limit: int | None = None
    ) -> list[Outcome]:
        """A run's outcomes in (file, line) order."""
        ...

    async def record_applied(self, run_id: int, values: Iterable[AppliedValue]) -> int:
        """Remember which values this run set (the latest per object field wins); returns the count."""
        ...

    async def applied_values(
        self, run_id: int | None, object_ids: Iterable[str]
    ) -> dict[str, dict[str, str]]:
        """``{object_id: {field: value}}`` set by ``run_id``, or by the latest run when ``None``."""
        ...

    # -- workers --------------------------------------------------------------------------------
    async def touch_worker(self, worker_id: str, *, host: str, pid: int) -> None:
        """Record that a worker is alive now."""
        ...

    async def list_workers(self, *, seen_within_s: float = 60.0) -> list[WorkerRecord]:
        """Workers seen in the last ``seen_within_s`` seconds, most recent first."""
        ...
