"""What ``bulk status`` shows: one snapshot of a fleet, from the shared journal and the shared scheduler.

Why a snapshot object apart from the CLI: operators read it as a table, scripts and monitoring read
``--json``, tests assert on it; all three must see the same figures. It holds no secrets: tokens are
only ever named by their index, URLs are masked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bulk.journal import Journal, Run, RunStatus, UnitState, WorkerRecord, mask
from bulk.lanes.bulk import decode_remote
from bulk.scheduler import SchedulerStatistics
from bulk.submit.options import CANCELLED_REASON

ACTIVE = (RunStatus.PLANNING, RunStatus.RUNNING)
CANCELLED = RunStatus.CANCELLED.value

_TOKEN = re.compile(r"shp(at|ca|pa|ss)_[0-9A-Za-z]+")  # Shopify access tokens and shared secrets
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def shown_status(run: Run) -> str:
    """The run's status as operators know it: a run ``bulk cancel`` stopped is ``cancelled`` (the
    journal keeps it ``failed`` with :data:`~bulk.submit.options.CANCELLED_REASON`, so that the same
    submission may resume it)."""
    if run.status is RunStatus.FAILED and run.error == CANCELLED_REASON:
        return CANCELLED
    return run.status.value


def shown_error(run: Run) -> str | None:
    """Why a failed run failed, fit to print: tokens replaced by ``***`` and passwords masked in URLs
    (an error text may quote a foreign library's message); None for a run that did not fail."""
    if run.status is not RunStatus.FAILED or not run.error or shown_status(run) == CANCELLED:
        return None
    return _URL.sub(lambda m: mask(m.group(0)), _TOKEN.sub("***", run.error))


@dataclass(frozen=True, slots=True)
class RunProgress:
    """One run and how far it got. ``status`` is the journal's, except ``cancelled`` for a run that
    ``bulk cancel`` stopped (:func:`shown_status`)."""

    run_id: int
    run_key: str
    input_name: str
    status: str
    applied: int
    unchanged: int
    rejected: int
    units_pending: int
    units_active: int
    units_done: int
    units_failed: int
    updated_at: datetime
    error: str | None = None  # why a failed run failed (tokens never shown)

    @property
    def progress(self) -> float:
        """Share of the run's units finished (1.0 for a run without units that is done)."""
        total = self.units_pending + self.units_active + self.units_done + self.units_failed
        if total == 0:
            return 1.0 if self.status == RunStatus.DONE else 0.0
        return (self.units_done + self.units_failed) / total

    @classmethod
    def of(cls, run: Run) -> RunProgress:
        """From the journal's record."""
        c = run.counters
        return cls(run.run_id, run.run_key, run.input_name, shown_status(run), c.applied, c.unchanged,
                   c.rejected, c.units_pending, c.units_active, c.units_done, c.units_failed, run.updated_at,
                   shown_error(run))


@dataclass(frozen=True, slots=True)
class RunningOperation:
    """A bulk operation started on the shop and not yet reconciled."""

    run_id: int
    unit_id: int
    token_index: int
    operation: str
    holder: str | None  # the worker holding its lease (None: waiting to be adopted)
    lease_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """Runs, workers seen recently, bulk operations running, and the scheduler's buckets and permits."""

    runs: tuple[RunProgress, ...]
    workers: tuple[WorkerRecord, ...]
    operations: tuple[RunningOperation, ...]
    scheduler: SchedulerStatistics | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``bulk status --json``)."""
        def plain(obj: Any) -> Any:
            data = asdict(obj)
            return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}

        sched = None
        if self.scheduler is not None:
            s = self.scheduler
            sched = {
                "in_flight": s.in_flight, "max_in_flight": s.max_in_flight, "admitted": s.admitted,
                "throttled": s.throttled, "expired_permits": s.expired_permits, "clients": s.clients,
                "waiters": {str(k): v for k, v in s.waiters.items()}, "standby": s.standby,
                "tokens": [{"index": t.index, "level": t.level, "capacity": t.capacity,
                            "restore_rate": t.restore_rate, "outstanding": t.outstanding,
                            "throttled": t.throttled} for t in s.tokens],
            }  # fmt: skip
        return {
            "runs": [{**plain(r), "progress": round(r.progress, 4)} for r in self.runs],
            "workers": [plain(w) for w in self.workers],
            "operations": [plain(o) for o in self.operations],
            "scheduler": sched,
        }


async def collect_status(
    journal: Journal,
    scheduler: SchedulerStatistics | None = None,
    *,
    runs: int = 20,
    seen_within_s: float = 60.0,
) -> FleetStatus:
    """Read the snapshot: the latest ``runs`` runs, workers seen in the last ``seen_within_s`` seconds,
    and the bulk operations of active runs that are started but not yet reconciled."""
    recent = await journal.list_runs(limit=runs)
    operations: list[RunningOperation] = []
    for run in recent:
        if run.status not in ACTIVE or not run.counters.units_active:
            continue
        for unit in await journal.list_units(run.run_id, state=UnitState.SUBMITTED):
            if unit.remote_id:
                token, op = decode_remote(unit.remote_id)
                operations.append(RunningOperation(run.run_id, unit.unit_id, token, op, unit.lease_owner,
                                                   unit.lease_expires_at))
    workers = await journal.list_workers(seen_within_s=seen_within_s)
    return FleetStatus(tuple(RunProgress.of(r) for r in recent), tuple(workers), tuple(operations), scheduler)
