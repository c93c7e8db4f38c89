"""What a dry run answers: every row's would-be outcome, counted and written as the report a run writes.

Why its own book: a dry run sends nothing, so the rows the plan would send have no outcome yet — yet
the merchant wants to see them (``rows`` must count *every* row, not just the rows decided at
planning), and the rows that would be rejected or are unchanged, with their reasons, before anything
touches the shop. The report has the run's columns (``file,line,status,reason``); rows the run would
send say ``planned`` and the route (``applied`` would be a lie: the shop has not answered).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from bulk.models import STATUS_TEXT, InventoryUpdate, OutcomeStatus
from bulk.plan import PlannedLine
from bulk.plan.diff import RowOutcome

PLANNED = "planned"  # the report's status for a row the run would send


class DryRunBook:
    """The would-be outcome of every row of a dry run, by ``(file, line)``."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int], tuple[str, str]] = {}
        self.lines: list[PlannedLine] = []
        self.inventory = 0

    def decided(self, outcomes: Iterable[RowOutcome]) -> None:
        """Rows decided at reading or planning: rejected (with the reason) or unchanged."""
        for o in outcomes:
            self._rows[o.row] = (STATUS_TEXT[o.status], o.reason)

    def planned(self, lines: Iterable[PlannedLine]) -> None:
        """Rows a mutation line would send (their route is known once every line is)."""
        for line in lines:
            self.lines.append(line)
            for row in line.rows:
                self._rows[row] = (PLANNED, "")

    def urgent(self, updates: Iterable[InventoryUpdate]) -> None:
        """Inventory rows: the urgent lane would send them."""
        for u in updates:
            self._rows[(u.source.file, u.source.line)] = (PLANNED, "dry run: the urgent lane would send it")
            self.inventory += 1

    def summary(self) -> dict[str, int]:
        """Rows by would-be status; ``rows`` counts every row read (``applied`` stays 0: nothing was)."""
        counts = {s.value: 0 for s in OutcomeStatus} | {PLANNED: 0}
        for status, _ in self._rows.values():
            counts[status] += 1
        return counts | {"rows": len(self._rows)}

    def write(self, path: Path, route: str) -> None:
        """The report the run would write, in input order; planned rows name the route."""
        reason = f"dry run: not sent (route {route})"
        path.parent.mkdir(parents=True, exist_ok=True)
        by_file: dict[str, list[tuple[int, str, str]]] = {}
        for (file, line), (status, why) in self._rows.items():
            by_file.setdefault(file, []).append((line, status, why or reason))
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "line", "status", "reason"])
            for file in sorted(by_file):
                writer.writerows((file, line, status, why) for line, status, why in sorted(by_file[file]))
