"""A bulk shard's content, wherever it lives: JSONL files on a local disk, or inline in the journal.

The embedded mode writes shards as files (``bulk.plan.write_shards``: data + a rows sidecar). A fleet
stores them inline in the shared Postgres journal, so a worker on another machine can run them. Either
way the lane sees one :class:`ShardData`: the mutation kind, the JSONL lines, and for each line the
(file, line) input rows it decides.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulk.journal import NewUnit, UnitKind, WorkUnit
from bulk.plan import RowId, ShardFile, read_rows


@dataclass(frozen=True, slots=True)
class ShardData:
    """One shard: ``lines[n]`` is JSONL line n (newline included), ``rows[n]`` the rows it decides."""

    kind: str
    lines: list[bytes]
    rows: list[list[RowId]]

    def subset(self, keep: list[int]) -> ShardData:
        """Only lines ``keep`` (renumbered from 0), for a retry."""
        return ShardData(self.kind, [self.lines[n] for n in keep], [self.rows[n] for n in keep])

    def write(self, directory: Path) -> Path:
        """The lines as a JSONL file to upload."""
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=directory, suffix=f"-{self.kind}.jsonl",
                                         delete=False) as f:
            f.writelines(self.lines)
        return Path(f.name)


def rows_path(path: str) -> Path:
    """The sidecar naming the rows of each line of a shard file."""
    return Path(path[: -len(".jsonl")] + ".rows.jsonl")


def kind_of(path: str) -> str:
    """Shard files are named ``…-{kind}.jsonl`` by :func:`bulk.plan.write_shards`."""
    for kind in ("product", "media", "set"):
        if path.endswith(f"-{kind}.jsonl"):
            return kind
    return "variants"


def load(unit: WorkUnit) -> ShardData:
    """The content of a claimed unit."""
    if unit.payload_path is not None:
        data = Path(unit.payload_path).read_bytes().splitlines(keepends=True)
        return ShardData(kind_of(unit.payload_path), data, read_rows(rows_path(unit.payload_path)))
    payload: dict[str, Any] = unit.payload
    return ShardData(
        payload["kind"],
        [line.encode() + b"\n" for line in payload["lines"]],
        [[(str(f), int(n)) for f, n in rows] for rows in payload["rows"]],
    )


def inline_unit(client_identifier: str, data: ShardData) -> NewUnit:
    """A unit carrying its shard inline (for a shared journal)."""
    return NewUnit(UnitKind.BULK_SHARD, client_identifier, len(data.lines), payload={
        "kind": data.kind,
        "lines": [line.decode().rstrip("\n") for line in data.lines],
        "rows": [[list(r) for r in rows] for rows in data.rows],
    })


def file_unit(client_identifier: str, data: ShardData, directory: Path) -> NewUnit:
    """A unit whose shard is written as files under ``directory`` (embedded mode)."""
    path = data.write(directory)
    rows_path(str(path)).write_text("".join(json.dumps([list(r) for r in rows]) + "\n" for rows in data.rows))
    return NewUnit(UnitKind.BULK_SHARD, client_identifier, len(data.lines), payload_path=str(path))


def from_shard_file(client_identifier: str, shard: ShardFile, *, inline: bool) -> NewUnit:
    """The unit for a shard written by the planner."""
    if not inline:
        return NewUnit(UnitKind.BULK_SHARD, client_identifier, shard.lines, payload_path=str(shard.path))
    return inline_unit(client_identifier, load_file(shard.path))


def load_file(path: Path) -> ShardData:
    """A shard file and its sidecar."""
    return ShardData(kind_of(str(path)), path.read_bytes().splitlines(keepends=True),
                     read_rows(rows_path(str(path))))
