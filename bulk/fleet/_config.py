"""A worker's configuration and its statistics snapshot (re-exported by :mod:`bulk.fleet.worker`)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bulk.lanes.bulk import BulkLaneConfig


def default_worker_id() -> str:
    """``host-pid-random``: unique across machines and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """How one worker runs. Frozen and keyword-only."""

    worker_id: str = field(default_factory=default_worker_id)
    lane: BulkLaneConfig = field(default_factory=BulkLaneConfig)
    direct_units: int = 2  # direct batches held at once
    direct_concurrency: int = 4  # requests queued at the scheduler per direct batch
    heartbeat_s: float = 5.0  # touch_worker period
    idle_wait_s: float = 1.0  # fallback re-check when idle: journal notices wake a worker sooner
    shutdown_grace_s: float = 30.0
    drain: bool = False
    run_id: int | None = None  # only this run (tests); None = every run
    workdir: Path | None = None


@dataclass(frozen=True, slots=True)
class WorkerStatistics:
    """A snapshot of one worker."""

    worker_id: str
    held: int
    claimed: int
    completed: int
    released: int
    runs_finished: int
    stopping: bool
