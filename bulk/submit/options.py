"""How the library asks for one run (:class:`RunOptions`), and where a run keeps its state by default.

The CLI has its own request object (:class:`bulk.cli._request.SubmitRequest`: a file, a shop, tokens…);
it turns into these options once the shop is open. The library's ``shop.submit`` builds them directly.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bulk.catalog.freshness import DEFAULT_MAX_AGE_S, SyncChoice
from bulk.lanes.bulk import BulkLaneConfig
from bulk.submit._watchdog import DEFAULT_STALL_S

RouteChoice = Literal["auto", "bulk", "direct"]

CANCELLED_REASON = "cancelled by the operator"
"""The error a cancelled run is marked ``failed`` with (a *failed* run may resume, the journal's
``cancelled`` status is final): ``bulk status`` shows such a run as ``cancelled``, ``bulk submit``
watching it stops."""


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What one run on an open shop session should do (every field has a sane default)."""

    run_key: str | None = None  # default: a hash of the input, the shop and the options
    route: RouteChoice = "auto"
    dry_run: bool = False
    # the report and undo file; default: beside the input file, else in the run's state (``shop.submit``
    # and ``bulk submit`` on sim:// give them: :func:`rehearsal_outputs`)
    report: Path | None = None
    undo: Path | None = None
    state_dir: Path | None = None  # default: ~/.local/share/bulk (a throwaway dir for sim://)
    journal: str | None = None  # a SQLite path or a PostgreSQL URL (default: in the state dir)
    database_url: str | None = None  # a shared journal: enqueue for `bulk worker` processes
    sync_catalog: SyncChoice = "auto"  # auto: brought up to date before every run (docs/catalog.md)
    catalog_max_age_s: float = DEFAULT_MAX_AGE_S  # auto: a full sync when the last one is older
    again: bool = False  # an input whose run finished: compare with the shop anew, send what differs
    lane: BulkLaneConfig = field(default_factory=BulkLaneConfig)
    catalog_key: str | None = None  # which shop's catalog cache and run keys (default: the session's
    # shop identity, :attr:`bulk.shopify.endpoint.Endpoint.identity`)
    key_options: Mapping[str, Any] = field(default_factory=dict)  # read options that make another run
    stall_after_s: float = DEFAULT_STALL_S  # no progress this long: the run says what it waits for

    @property
    def enqueue(self) -> bool:
        """True when the work is left to a fleet of workers (a shared journal was named)."""
        return self.database_url is not None


def default_state_dir() -> Path:
    """``$XDG_DATA_HOME/bulk`` (``~/.local/share/bulk``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bulk"


DRY_RUN_SUFFIX = ".dry-run.report.csv"  # prices.csv → prices.dry-run.report.csv


def rehearsal_outputs(input_name: str, state_dir: Path | None, *,
                      dry_run: bool = False) -> tuple[Path, Path | None]:
    """Where a run on an embedded simulated shop (``sim://``) writes its report and undo file.

    Never beside its input: a rehearsal of ``fixtures/prices.csv`` must not write into a checkout, and
    a library user's input folder may be read-only. They go to ``STATE_DIR/reports/`` when a state
    directory is given, else to a new temporary folder (it outlives the run: the result's
    ``report_path`` names it). ``bulk submit`` and ``shop.submit`` both use this rule. A dry run's
    report takes :data:`DRY_RUN_SUFFIX` (never the run's name) and it has no undo file."""
    folder = state_dir / "reports" if state_dir is not None else Path(tempfile.mkdtemp(prefix="bulk-sim-"))
    folder.mkdir(parents=True, exist_ok=True)
    return outputs_named(folder, Path(input_name).stem or "run", dry_run=dry_run)


def outputs_named(folder: Path, stem: str, *, dry_run: bool = False) -> tuple[Path, Path | None]:
    """A run's report and undo file in ``folder``, named after ``stem`` (``prices`` →
    ``prices.report.csv``, ``prices.undo.jsonl``); a dry run's report takes :data:`DRY_RUN_SUFFIX` and
    it has no undo file."""
    if dry_run:
        return folder / f"{stem}{DRY_RUN_SUFFIX}", None
    return folder / f"{stem}.report.csv", folder / f"{stem}.undo.jsonl"


def shop_id(shop: str) -> str:
    """A file-name-safe identity of a shop."""
    return hashlib.sha256(shop.encode()).hexdigest()[:12]
