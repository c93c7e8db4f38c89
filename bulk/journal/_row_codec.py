"""Rows to records, and the checks both journal backends make of what their queries return.

The backends differ only in how a row encodes times and JSON (Postgres hands back ``datetime`` and
decoded ``jsonb``; SQLite stores seconds and JSON text), which each backend says by overriding
:meth:`RowCodec.to_datetime` and :meth:`RowCodec.from_json`. Nothing here touches a database or counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bulk.errors import JournalError, OutcomeConflictError
from bulk.journal._records import (
    Outcome,
    OutcomeStatus,
    Run,
    RunCounters,
    RunStatus,
    UnitKind,
    UnitState,
    WorkerRecord,
    WorkUnit,
    check_run_transition,
)

Row = Sequence[Any]


def worker_record(row: Row, to_datetime: Callable[[Any], datetime]) -> WorkerRecord:
    """A ``workers`` row as a record."""
    return WorkerRecord(str(row[0]), str(row[1]), int(row[2]), to_datetime(row[3]), to_datetime(row[4]))


class RowCodec:
    """How a backend's rows become records (override the two encodings), and the shared checks."""

    # -- encoding, per backend ------------------------------------------------------------------
    def to_datetime(self, value: Any) -> datetime:
        """A stored time as an aware ``datetime`` (default: seconds since the epoch)."""
        if isinstance(value, datetime):
            return value
        return datetime.fromtimestamp(float(value), UTC)

    def from_json(self, value: Any) -> Any:
        """A stored JSON value decoded (default: text)."""
        return None if value is None else json.loads(value)

    # -- rows to records ------------------------------------------------------------------------
    def run_from_row(self, row: Row) -> Run:
        """A ``runs`` row (run columns, then seven counters) as a :class:`Run`."""
        return Run(
            run_id=int(row[0]),
            run_key=row[1],
            input_name=row[2],
            input_hash=row[3],
            options=dict(self.from_json(row[4]) or {}),
            status=RunStatus(row[5]),
            error=row[6],
            created_at=self.to_datetime(row[7]),
            updated_at=self.to_datetime(row[8]),
            counters=RunCounters(*(int(n) for n in row[9:16])),
        )

    def unit_from_row(self, row: Row) -> WorkUnit:
        """A unit row (the column order of every unit query) as a :class:`WorkUnit`."""
        return WorkUnit(
            unit_id=int(row[0]),
            run_id=int(row[1]),
            kind=UnitKind(row[2]),
            client_identifier=row[3],
            payload_path=row[4],
            payload=self.from_json(row[5]),
            line_count=int(row[6]),
            state=UnitState(row[7]),
            attempt=int(row[8]),
            remote_id=row[9],
            lease_owner=row[10],
            lease_expires_at=None if row[11] is None else self.to_datetime(row[11]),
            fence=int(row[12]),
            error=row[13],
        )

    def outcome_from_row(self, row: Row) -> Outcome:
        """An ``outcomes`` row as an :class:`Outcome`."""
        return Outcome(
            file=row[0],
            line=int(row[1]),
            status=OutcomeStatus(row[2]),
            reason=row[3],
            object_id=row[4],
            unit_id=None if row[5] is None else int(row[5]),
        )

    @staticmethod
    def applied_from_rows(rows: Sequence[Row]) -> dict[str, dict[str, str]]:
        """``(object_id, field, value, …)`` rows as ``{object_id: {field: value}}``."""
        result: dict[str, dict[str, str]] = {}
        for row in rows:
            result.setdefault(row[0], {})[row[1]] = row[2]
        return result

    # -- checks ---------------------------------------------------------------------------------
    @staticmethod
    def check_same_input(run_key: str, stored_hash: str, input_hash: str) -> None:
        """A run key names one input: reusing it for other content is refused."""
        if stored_hash != input_hash:
            raise JournalError(
                f"run key {run_key!r} already names an input with hash {stored_hash}, not {input_hash}"
            )

    @staticmethod
    def check_transition(run_id: int, old: str, new: RunStatus) -> None:
        """See :func:`bulk.journal._records.check_run_transition`."""
        check_run_transition(run_id, RunStatus(old), new)

    @staticmethod
    def check_units_belong(run_id: int, units: list[WorkUnit]) -> list[WorkUnit]:
        """Refuse client identifiers already used by another run (they must be unique per unit)."""
        for unit in units:
            if unit.run_id != run_id:
                raise JournalError(
                    f"client identifier {unit.client_identifier!r} already belongs to run {unit.run_id}"
                )
        return units

    @staticmethod
    def conflict_error(run_id: int, row: Row) -> OutcomeConflictError:
        """The error for an ``outcomes_conflict`` row ``(file, line, existing, new)``."""
        file, line, existing, new = row[0], int(row[1]), str(row[2]), str(row[3])
        return OutcomeConflictError(
            f"{file}:{line}: run {run_id} already recorded this row as {existing}, not {new}",
            file=file,
            line=line,
            existing=existing,
            new=new,
        )
