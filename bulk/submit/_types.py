"""What a submission is asked (:class:`SubmitOptions`) and answers (:class:`SubmissionResult`), and the
run key that makes the same command again the same run. The machinery is :mod:`bulk.submit.submission`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bulk.lanes.bulk.ports import BulkLaneConfig
from bulk.models import InventoryUpdate, Outcomes, OutcomeStatus
from bulk.plan import Route, ShopProfile
from bulk.sources.readahead import ReadAhead
from bulk.submit._watchdog import DEFAULT_STALL_S

InventoryUndo = tuple[str, str, int]  # (inventory item GID, location GID, the quantity before)
InventorySender = Callable[[Sequence[InventoryUpdate]],
                           Awaitable[Sequence[tuple[OutcomeStatus, str, InventoryUndo | None]]]]

@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """How to run one submission."""

    state_dir: Path
    route: Literal["auto", "bulk", "direct"] = "auto"
    dry_run: bool = False
    report_path: Path | None = None  # default: next to the state of the run
    undo_path: Path | None = None  # default: next to the state of the run
    profile: ShopProfile = field(default_factory=ShopProfile)
    lane: BulkLaneConfig = field(default_factory=BulkLaneConfig)
    direct_concurrency: int = 32  # tasks queued at the scheduler at once; the scheduler caps in flight
    direct_batch: int = 200  # lines per journal unit when a fleet's workers send the direct route
    inline_shards: bool = False  # store shards in the journal (a fleet's workers share no disk)
    read_ahead: ReadAhead = field(default_factory=ReadAhead)
    drain: bool = True  # run the shards here; False = enqueue for `bulk worker` processes
    stall_after_s: float = DEFAULT_STALL_S  # no progress this long (the run's clock): say what it waits
    # for (0: never)
    media_wait_s: float = 30.0  # how long the end of a run follows new images' processing (shop time)


@dataclass
class SubmissionResult:
    """What happened to a submission."""

    run_key: str
    route: Route
    plan: dict[str, int]
    summary: dict[str, int]
    outcomes: Outcomes
    report_path: Path | None
    undo_path: Path | None
    operations: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, int] = field(default_factory=dict)  # products whose new images ended ready, failed,
    # processing (still, when the run stopped waiting) or unread
    simulated_at: str | None = None  # "sim://" (embedded) or the URL of a shop `bulk sim` serves
    elapsed_s: float = 0.0  # real seconds, from the catalog sync to the last outcome
    shop_elapsed_s: float | None = None  # a simulated shop's own clock (× its speed): a rehearsal's
    # prediction of how long the shop needs; None for a real shop
    inputs: list[dict[str, Any]] = field(default_factory=list)  # what the reader did with each file:
    # dialect, encoding, columns used and ignored with why (bulk.submit.root.input_account)
    refused_tokens: list[int] = field(default_factory=list)  # token indexes the shop refused (401/403):
    # the run finished on the others
    dry_run: bool = False  # nothing was sent: ``summary`` counts would-be outcomes ("planned": rows
    # the run would send), the report is the one the run would write
    picture_path: Path | None = None  # the run's picture (HTML), when one was drawn

    @property
    def simulated(self) -> bool:
        """The shop was the simulator (embedded or served): no real shop was touched."""
        return self.simulated_at is not None

    @property
    def eta_s(self) -> float:
        """The ETA model's seconds for the chosen route (a dry run's prediction of the run)."""
        return self.route.eta_bulk_s if self.route.kind == "bulk" else self.route.eta_direct_s

    @property
    def rejected(self) -> int:
        """Rows that were not applied because of a problem (not no-ops)."""
        return self.summary.get(OutcomeStatus.REJECTED.value, 0)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` and the CLI summary (no per-row data: see the report CSV)."""
        return {
            "run_key": self.run_key,
            "simulated": self.simulated,
            "simulated_at": self.simulated_at,
            "elapsed_s": round(self.elapsed_s, 1),
            "shop_elapsed_s": None if self.shop_elapsed_s is None else round(self.shop_elapsed_s, 1),
            "dry_run": self.dry_run,
            "route": self.route.kind,
            "eta_s": round(self.eta_s, 1),
            "eta_bulk_s": round(self.route.eta_bulk_s, 1),
            "eta_direct_s": round(self.route.eta_direct_s, 1),
            "plan": self.plan,
            "summary": self.summary,
            "operations": self.operations,
            "inputs": self.inputs,
            "media": self.media,
            "report": str(self.report_path) if self.report_path else None,
            "undo": str(self.undo_path) if self.undo_path else None,
            "refused_tokens": self.refused_tokens,
            "picture": str(self.picture_path) if self.picture_path else None,
        }


def run_key_for(paths: Iterable[Path], shop_id: str, options: Mapping[str, Any]) -> str:
    """A stable key for (input bytes, shop, options): the same command again is the same run."""
    digest = hashlib.sha256(shop_id.encode())
    digest.update(json.dumps(dict(options), sort_keys=True, default=str).encode())
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]
