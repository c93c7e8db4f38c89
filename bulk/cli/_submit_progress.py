"""What ``bulk submit`` shows while it works: a live display on a terminal, one line per event in a log.

On a terminal (rich): rows planned (and how many of them are unchanged or rejected), mutation lines
done out of those planned with a bar, rate and ETA, and the bulk operations running and done. The
total grows while the file is still being read — the ETA is for the lines planned so far. In a log
(cron, CI) every event is one log record of the ``bulk.progress`` logger (:mod:`bulk.cli._logs`: one
timestamped line, never wrapped, or a JSON object whose ``action`` is the event's name), so a run can
be followed with ``tail -f``.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from bulk.cli._logs import PROGRESS, record_fields

log = logging.getLogger(PROGRESS)

_QUIET = frozenset({"line_done", "reading", "pooled", "shard_claimed", "shard_uploaded", "op_finished"})


class SubmitProgress:
    """Feed it every submission event (``progress.event(name, data)``); use it as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.planned_rows = self.unchanged = self.rejected = 0
        self.lines_planned = self.lines_done = 0
        self.ops_running = self.ops_done = 0
        self._status = Text("starting…")
        self._progress = Progress(
            TextColumn("mutation lines"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self._lines: TaskID = self._progress.add_task("lines", total=None)
        self._live = Live(Group(self._status, self._progress), console=console, transient=True)
        self._plan_shown = False

    def __enter__(self) -> SubmitProgress:
        if self.live:
            self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live:
            self._live.stop()

    def event(self, name: str, data: dict[str, Any]) -> None:
        """Update the counters; print the milestone (live) or every event but the per-line ones (log)."""
        self._count(name, data)
        if self.live:
            first_plan = name == "planned" and not self._plan_shown
            if name in _MILESTONES or first_plan:  # later chunks' plans only move the bar
                self._live.console.print(describe(name, data), highlight=False)
                self._plan_shown = self._plan_shown or first_plan
            self._refresh()
        elif name not in _QUIET:
            level = logging.WARNING if name in _WARNINGS else logging.INFO
            log.log(level, Text.from_markup(describe(name, data)).plain,
                    extra={**record_fields(data), "action": name})

    def _count(self, name: str, data: dict[str, Any]) -> None:
        if name == "planned":
            stats = data["plan"]
            self.lines_planned = int(stats["lines"])
            self.planned_rows = int(stats["rows_in_lines"]) + int(stats["unchanged"]) + int(stats["rejected"])
            self.unchanged, self.rejected = int(stats["unchanged"]), int(stats["rejected"])
        elif name == "line_done":
            self.lines_done += 1
        elif name == "shard_started" or name == "shard_adopted":
            self.ops_running += 1
        elif name == "shard_done":
            self.ops_running = max(0, self.ops_running - 1)
            self.ops_done += 1
            self.lines_done += int(data.get("lines", 0)) - int(data.get("retried", 0))

    def _refresh(self) -> None:
        self._status.plain = (
            f"{self.planned_rows:,} rows planned: {self.unchanged:,} unchanged, {self.rejected:,} rejected"
            f" · bulk operations: {self.ops_running} running, {self.ops_done} done"
        )
        self._progress.update(
            self._lines, total=self.lines_planned or None, completed=min(self.lines_done, self.lines_planned)
        )


_WARNINGS = frozenset({"stalled"})  # logged as warnings: something needs a look
_MILESTONES = frozenset({"simulated", "catalog_synced", "catalog_kept", "resumed", "already_done", "sharded",
                         "stalled", "read", "token_refused", "run_stopped", "run_done"})


def describe(name: str, data: dict[str, Any]) -> str:
    """One human line for an event."""
    if name == "simulated":
        where = f"served at {data['served_at']}, " if data.get("served_at") else ""
        speed = float(data.get("speed") or 1.0)
        pace = f", clock x{speed:g}" if speed != 1.0 else ""
        return (
            f"[bold yellow]SIMULATED shop[/] ({where}{data['products']} products, {data['plan']} plan{pace})"
            " — no real shop is touched"
        )
    if name == "already_done":
        when = f" at {data['at']}" if data.get("at") else ""
        return (f"run {data['run']} applied this input{when}: nothing is sent again; the outcomes below "
                "are that run's (add --again to compare with the shop anew and send what differs)")
    if name == "catalog_synced":
        how = "full" if data.get("full", True) else f"changed since {data.get('since')}"
        return f"catalog cache: {data['lines']} objects synced ({how})"
    if name == "read":  # the reader's account: nothing it ignored goes unsaid
        return escape("; ".join(data["summary"]))
    if name == "catalog_kept":
        return f"catalog cache kept as run {data['run']} was planned from (it resumes; no sync)"
    if name == "planned":
        stats, route = data["plan"], data["route"]
        return (
            f"plan: {stats['lines']} mutation lines for {stats['rows_in_lines']} rows; "
            f"{stats['unchanged']} unchanged, {stats['rejected']} rejected; route [bold]{route.kind}[/] "
            f"(ETA bulk {route.eta_bulk_s:.0f}s / direct {route.eta_direct_s:.0f}s)"
        )
    if name == "sharded":
        return f"{data['shards']} shard(s) of {data['lines']} lines queued for bulk operations"
    if name == "shard_started":
        return f"bulk operation started on token #{data['token']} ({data.get('lines', '?')} lines)"
    if name == "shard_adopted":
        return f"bulk operation {data['op']} adopted (started by an earlier run)"
    if name == "shard_done":
        return f"bulk operation done: {data['status']}, {data['lines']} lines"
    if name == "resumed":
        return f"resuming run {data['run']}"
    if name == "input_read":  # from here on the run only sends (bulk status: running)
        return f"input read to the end: {data['rows']:,} rows planned"
    if name == "media_follow_up":
        return (f"new images of {data['products']} products: waiting for Shopify to process them "
                f"(at most {data['wait_s']:.0f} s more)")
    if name == "media_checked":
        return (f"new images: {data['ready']} ready, {data['failed']} failed, "
                f"{data['processing'] + data['unread']} not verified ({data['queries']} queries)")
    if name == "start_limit_reached":
        return (f"token #{data['token']} has no free bulk operation slot (another worker or app holds "
                "them): the start waits and tries again")
    if name == "run_done":  # the shop's part is over; the report and the catalog cache follow
        return f"run {data['run']} done: every row has its outcome; writing the report"
    if name == "stalled":  # the watchdog's one line (bulk/submit/_watchdog.py); it names ops in [brackets]
        return f"[bold yellow]stalled[/]: {escape(str(data['message']))}"
    if name == "token_refused":
        return (f"[bold red]access token #{data['token']} was refused[/] (HTTP {data.get('status')}): "
                f"out for the run; carrying on with {data.get('left', '?')} token(s)")
    if name == "run_stopped":
        return "[bold red]the run stops[/]: the shop refuses every request (see the error below)"
    return name.replace("_", " ")
