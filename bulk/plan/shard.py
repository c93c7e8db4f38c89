"""Write planned lines as JSONL shards for bulk operations, with a sidecar naming each line's rows.

Each shard is one staged upload (≤ ``max_bytes``, Shopify allows 100 MB) holding the variables of one
mutation per line. Results come back in any order keyed by ``__lineNumber`` (0-based line index in the
file), so the sidecar ``*.rows.jsonl`` maps line n → the input rows it decides, and reconciliation never
depends on position. Lines are dealt round-robin so shards are even and run side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bulk.plan.diff import LineKind, PlannedLine

MAX_SHARD_BYTES = 100 * 1024 * 1024
# one encoder for every line: json.dumps(..., separators=...) would build a new one per call
_COMPACT = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ShardFile:
    """One JSONL shard on disk."""

    kind: LineKind
    path: Path
    rows_path: Path
    lines: int
    bytes: int
    line_indexes: tuple[int, ...] = ()  # which of the planned lines (by index) the shard holds


def write_shards(
    lines: list[PlannedLine],
    directory: Path,
    *,
    shards: int,
    max_bytes: int = MAX_SHARD_BYTES,
    prefix: str = "shard",
) -> list[ShardFile]:
    """Split lines (of one kind each) into about ``shards`` files under ``max_bytes`` each."""
    directory.mkdir(parents=True, exist_ok=True)
    out: list[ShardFile] = []
    for kind in ("variants", "product"):
        positions = [i for i, x in enumerate(lines) if x.kind == kind]
        mine = [lines[i] for i in positions]
        if not mine:
            continue
        encode = _COMPACT.encode
        encoded = [(encode(x.variables) + "\n").encode() for x in mine]
        too_big = next((len(e) for e in encoded if len(e) > max_bytes), None)
        if too_big is not None:
            raise ValueError(f"one line is {too_big} bytes, over the {max_bytes}-byte shard limit")
        groups = _deal(len(mine), max(1, shards), encoded, max_bytes)
        for group in groups:
            index = len(out)
            path = directory / f"{prefix}-{index:04d}-{kind}.jsonl"
            rows_path = directory / f"{prefix}-{index:04d}-{kind}.rows.jsonl"
            with path.open("wb") as data, rows_path.open("w") as rows:
                for i in group:
                    data.write(encoded[i])
                    rows.write(encode(mine[i].rows) + "\n")  # tuples encode as JSON arrays
            out.append(ShardFile(kind, path, rows_path, len(group), sum(len(encoded[i]) for i in group),
                                 tuple(positions[i] for i in group)))
    return out


def _deal(count: int, shards: int, encoded: list[bytes], max_bytes: int) -> list[list[int]]:
    """Round-robin indexes into ``shards`` groups, opening more groups when one would overflow."""
    groups: list[list[int]] = [[] for _ in range(min(shards, count))]
    sizes = [0] * len(groups)
    for i in range(count):
        g = i % len(groups)
        if sizes[g] + len(encoded[i]) > max_bytes:
            groups.append([])
            sizes.append(0)
            g = len(groups) - 1
        groups[g].append(i)
        sizes[g] += len(encoded[i])
    return [g for g in groups if g]


def read_rows(rows_path: Path) -> list[list[tuple[str, int]]]:
    """The sidecar: for each line number, the (file, line) rows it decides."""
    with rows_path.open() as f:
        return [[(str(r[0]), int(r[1])) for r in json.loads(line)] for line in f]
