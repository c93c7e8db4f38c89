"""What the journal stores, as frozen records, and the pure rules about them.

Both backends return exactly these types, so callers never see a database row. Records are plain
frozen dataclasses rather than pydantic models: the journal reads and writes them by the hundred
thousand (100k outcomes per batch) and the values come from our own code or our own tables, already
validated; the few invariants that matter are checked in ``__post_init__``.

The pure decisions (which run status may follow which, whether two outcomes for one row agree) live
here too, so both backends apply the very same rules.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from bulk.errors import JournalError
from bulk.journal.locations import mask
from bulk.models import OutcomeStatus

__all__ = [
    "AppliedValue",
    "Claim",
    "JournalStatistics",
    "NewUnit",
    "Outcome",
    "OutcomeStatus",
    "Run",
    "RunCounters",
    "RunStatus",
    "UnitKind",
    "UnitState",
    "WorkUnit",
    "WorkerRecord",
    "check_run_transition",
    "scrub_secrets",
]


class RunStatus(enum.StrEnum):
    """Life of a run: planned, worked on, then finished one way or another."""

    PLANNING = "planning"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Which status may follow which. A failed run may be resumed (re-submitting the same input picks the
# same run up again: invariant 5) — back to planning when it is read again; done and cancelled are final.
_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PLANNING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.FAILED: frozenset({RunStatus.PLANNING, RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.DONE: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


def check_run_transition(run_id: int, old: RunStatus, new: RunStatus) -> None:
    """Raise :class:`JournalError` unless a run may go from ``old`` to ``new`` (same status is a no-op)."""
    if old != new and new not in _TRANSITIONS[old]:
        raise JournalError(f"run {run_id}: cannot go from {old.value} to {new.value}")


_SECRET_KEY = re.compile(r"password|passwd|secret|api_key|access_token|^token$", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^shp(at|ca|pa|ss)_")  # Shopify access tokens and shared secrets


def scrub_secrets(value: Any, key: str = "") -> Any:
    """``value`` (run options: JSON-like) with secrets replaced by ``***``: values under secret-looking
    keys, anything shaped like a Shopify token, and passwords in URLs. Secrets are never stored."""
    if isinstance(value, dict):
        return {k: scrub_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_secrets(v, key) for v in value]
    if isinstance(value, str):
        if (key and _SECRET_KEY.search(key)) or _SECRET_VALUE.match(value):
            return "***"
        return mask(value) if "@" in value or "password=" in value.lower() else value
    return value


class UnitKind(enum.StrEnum):
    """What a work unit is: a bulk operation shard, or a batch for the direct / urgent lanes."""

    BULK_SHARD = "bulk_shard"
    DIRECT_BATCH = "direct_batch"


class UnitState(enum.StrEnum):
    """Life of a work unit. ``claimed`` and ``submitted`` are held under a lease."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"  # the bulk operation was started on the shop: ``remote_id`` is set
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunCounters:
    """How far a run got: row outcomes and unit states."""

    applied: int = 0
    unchanged: int = 0
    rejected: int = 0
    units_pending: int = 0
    units_active: int = 0  # claimed or submitted
    units_done: int = 0
    units_failed: int = 0

    @property
    def rows_finished(self) -> int:
        """Rows with a final outcome."""
        return self.applied + self.unchanged + self.rejected


@dataclass(frozen=True, slots=True)
class Run:
    """One submission of one input. ``run_key`` is the caller's idempotency key."""

    run_id: int
    run_key: str
    input_name: str
    input_hash: str
    options: dict[str, Any]
    status: RunStatus
    error: str | None
    created_at: datetime
    updated_at: datetime
    counters: RunCounters = field(default_factory=RunCounters)


@dataclass(frozen=True, slots=True)
class NewUnit:
    """A work unit to add. The payload is a JSONL file (``payload_path``) or inline JSON (``payload``).

    ``client_identifier`` is unique across the journal: it is also given to Shopify when the bulk
    operation starts, so a worker that takes over a dead worker's unit can find and adopt it.
    """

    kind: UnitKind
    client_identifier: str
    line_count: int
    payload_path: str | None = None
    payload: Any = None

    def __post_init__(self) -> None:
        if (self.payload_path is None) == (self.payload is None):
            raise JournalError(f"unit {self.client_identifier}: give exactly one of payload_path, payload")
        if self.line_count < 0:
            raise JournalError(f"unit {self.client_identifier}: line_count must be >= 0")


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """A work unit as stored. ``fence`` grows by one at every claim."""

    unit_id: int
    run_id: int
    kind: UnitKind
    client_identifier: str
    payload_path: str | None
    payload: Any
    line_count: int
    state: UnitState
    attempt: int
    remote_id: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    fence: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's hold on a unit. Pass it back to every later write: its ``fence`` is checked there."""

    unit: WorkUnit
    worker_id: str
    fence: int
    lease_expires_at: datetime

    @property
    def unit_id(self) -> int:
        """The claimed unit's id."""
        return self.unit.unit_id

    @property
    def adopted(self) -> bool:
        """True when a previous holder had already started the bulk operation (``remote_id`` set)."""
        return self.unit.remote_id is not None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The one final outcome of one input row (invariant 5). A rejection always says why."""

    file: str
    line: int
    status: OutcomeStatus
    reason: str | None = None
    object_id: str | None = None
    unit_id: int | None = None

    def __post_init__(self) -> None:
        if self.status is OutcomeStatus.REJECTED and not self.reason:
            raise JournalError(f"{self.file}:{self.line}: a rejected outcome needs a reason")


ROW_ORDER = attrgetter("file", "line")
"""Sort key of outcomes in input order: (file, line)."""


@dataclass(frozen=True, slots=True)
class AppliedValue:
    """One value a run set on one object field, so a re-run can skip it (invariant 5)."""

    object_id: str
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker process seen recently, for ``bulk status``."""

    worker_id: str
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class JournalStatistics:
    """A snapshot of one journal handle's activity since it was opened."""

    backend: str
    location: str  # file path or URL with any password masked
    is_open: bool
    schema_version: int
    claims: int  # claim() calls
    units_claimed: int
    leases_lost: int
    outcomes_recorded: int  # new outcome rows (idempotent repeats not counted)
    waiting: int = 0  # calls queued for the database, not yet running (SQLite: for its one thread)
