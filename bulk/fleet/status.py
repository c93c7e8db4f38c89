"""What ``bulk status`` shows: one snapshot of a fleet, from the shared journal and the shared scheduler.

Why a snapshot object apart from the CLI: operators read it as a table, scripts and monitoring read
``--json``, tests assert on it; all three must see the same figures. It holds no secrets: tokens are
only ever named by their index, URLs are masked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bulk.journal import Journal, Run, RunStatus, UnitState, WorkerRecord, mask
from bulk.lanes.bulk import decode_remote
from bulk.scheduler import SchedulerStatistics
from bulk.submit import runlock
from bulk.submit.options import CANCELLED_REASON

ACTIVE = (RunStatus.PLANNING, RunStatus.RUNNING)
CANCELLED = RunStatus.CANCELLED.value
SYNCING = runlock.SYNCING  # shown for a run whose process exports the catalog before planning

_TOKEN = re.compile(r"shp(at|ca|pa|ss)_[0-9A-Za-z]+")  # Shopify access tokens and shared secrets
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def shown_status(run: Run, holder: runlock.Holder | None = None) -> str:
    """The run's status as operators know it: a run ``bulk cancel`` stopped is ``cancelled`` (the
    journal keeps it ``failed`` with :data:`~bulk.submit.options.CANCELLED_REASON`, so that the same
    submission may resume it); a run whose process (``holder``) is exporting the shop's catalog before
    it plans is ``syncing catalog`` (a big shop's first sync takes minutes: not ``planning 0%``); one
    whose process has read and planned its whole input is ``running`` (the journal keeps it ``planning``
    until every line is done, so that a restart plans again against the same picture: see
    :mod:`bulk.submit._run_choice`)."""
    if run.status is RunStatus.FAILED and run.error == CANCELLED_REASON:
        return CANCELLED
    if run.status in ACTIVE and holder is not None and holder.phase == runlock.SYNCING:
        return SYNCING
    if run.status is RunStatus.PLANNING and holder is not None and holder.phase == runlock.SENDING:
        return RunStatus.RUNNING.value
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
    held_by: str | None = None  # the live process applying it: "pid 1234 on host x, since 15:02:11"
    phase_detail: str | None = None  # how far that process's phase got ("120,000 objects exported")

    @property
    def progress(self) -> float:
        """Share of the run's units finished (1.0 for a run without units that is done)."""
        total = self.units_pending + self.units_active + self.units_done + self.units_failed
        if total == 0:
            return 1.0 if self.status == RunStatus.DONE else 0.0
        return (self.units_done + self.units_failed) / total

    @classmethod
    def of(cls, run: Run, holder: runlock.Holder | None = None, held_by: str | None = None) -> RunProgress:
        """From the journal's record and the process holding the run's lock, if any (``held_by``: the
        holder a shared journal names, a process on another machine)."""
        c = run.counters
        return cls(run.run_id, run.run_key, run.input_name, shown_status(run, holder), c.applied,
                   c.unchanged, c.rejected, c.units_pending, c.units_active, c.units_done, c.units_failed,
                   run.updated_at, shown_error(run), holder.describe() if holder else held_by,
                   holder.detail if holder else None)


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
    runs_dir: Path | None = None,
) -> FleetStatus:
    """Read the snapshot: the latest ``runs`` runs, workers seen in the last ``seen_within_s`` seconds,
    and the bulk operations of active runs that are started but not yet reconciled. ``runs_dir``: the
    state directory's ``runs`` folder, where a submitting process holds its run's lock and says what it
    does (:mod:`bulk.submit.runlock`)."""
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
    shared = await journal.run_holders()  # a shared journal's: processes on any machine
    progress = tuple(RunProgress.of(r, runlock.holder_of(runs_dir, r.run_key)
                                    if runs_dir is not None and r.status in ACTIVE else None,
                                    shared.get(r.run_id)) for r in recent)
    return FleetStatus(progress, tuple(workers), tuple(operations), scheduler)
