"""Mass changes from the library: ``run = shop.submit(updates)`` — progress, wait, outcomes, cancel.

``updates`` is anything a file reader produces, from the caller's own code: an iterable or async
iterable of update models (or of lists of them — a batch per slow query is fine). The run reads its
source ahead concurrently with planning and sending (see :mod:`bulk.sources.readahead`), records everything in
the journal, and hands back a :class:`RunHandle` at once. The CLI's ``bulk submit`` is the same path
with files as the source (a :class:`~bulk.sources.files.FileInput`, which ``updates`` may be too).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bulk.models import OutcomeStatus
from bulk.sources.files import FileInput
from bulk.sources.readahead import Source
from bulk.submit.options import RunOptions
from bulk.submit.root import run_submission
from bulk.submit.submission import SubmissionResult

if TYPE_CHECKING:
    from bulk.session.shop import Shop


@dataclass(frozen=True, slots=True, kw_only=True)
class RunProgress:
    """A snapshot of a running submission."""

    name: str
    done: bool
    plan: Mapping[str, int]  # rows planned so far, by outcome ("rows", "lines", "unchanged", …)
    shards_added: int
    shards_started: int
    shards_done: int
    direct_lines_done: int


class RunHandle:
    """A submission running in the background of an open :class:`~bulk.session.shop.Shop`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._events: Counter[str] = Counter()
        self._plan: dict[str, int] = {}
        self._task: asyncio.Task[SubmissionResult] | None = None

    def _on_event(self, name: str, data: dict[str, Any]) -> None:
        self._events[name] += 1
        if name == "planned":
            self._plan = dict(data.get("plan", {}))

    def progress(self) -> RunProgress:
        """A snapshot: rows planned so far by outcome, shards added and finished, lines sent directly."""
        events = self._events
        return RunProgress(name=self.name, done=self.done, plan=dict(self._plan),
                           shards_added=events["sharded"], shards_started=events["shard_started"],
                           shards_done=events["shard_done"], direct_lines_done=events["line_done"])

    @property
    def done(self) -> bool:
        """True once the run has finished (successfully, with an error, or cancelled)."""
        return self._task is not None and self._task.done()

    async def wait(self) -> SubmissionResult:
        """The run's result once every row has its outcome (raises what the run raised)."""
        assert self._task is not None
        return await self._task

    def cancel(self) -> None:
        """Stop the run: claims are handed back, the journal keeps what was decided; submitting the
        same ``run_key`` again resumes it."""
        if self._task is not None:
            self._task.cancel()

    def outcomes(self) -> dict[tuple[str, int], tuple[OutcomeStatus, str]]:
        """Every row's outcome (after :meth:`wait`)."""
        assert self._task is not None and self._task.done(), "wait for the run first"
        return self._task.result().outcomes

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"RunHandle({self.name!r}, {state}, shards_done={self._events['shard_done']})"


def start_run(
    shop: Shop,
    updates: Source | FileInput,
    *,
    name: str = "library",
    run_key: str | None = None,
    route: Literal["auto", "bulk", "direct"] = "auto",
    state_dir: Path | None = None,
    journal: str | None = None,
) -> RunHandle:
    """Start applying ``updates`` on ``shop`` in the background; see :meth:`bulk.session.shop.Shop.submit`."""
    handle = RunHandle(name)
    options = RunOptions(route=route, state_dir=state_dir, journal=journal,
                         run_key=run_key or f"lib-{uuid.uuid4().hex[:16]}")
    handle._task = asyncio.create_task(
        run_submission(shop, options, updates, input_name=name, on_event=handle._on_event),
        name=f"bulk-run-{name}",
    )
    return handle
