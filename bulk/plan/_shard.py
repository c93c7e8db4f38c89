"""Write planned lines as JSONL shards for bulk operations, with a sidecar naming each line's rows.

Each shard is one staged upload (≤ ``max_bytes``, Shopify allows 100 MB) holding the variables of one
mutation per line. Results come back in any order keyed by ``__lineNumber`` (0-based line index in the
file), so the sidecar ``*.rows.jsonl`` maps line n → the input rows it decides, and reconciliation never
depends on position. Lines are dealt round-robin so shards are even and run side by side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bulk.plan.diff import LineKind, PlannedLine

MAX_SHARD_BYTES = 100 * 1024 * 1024
_LINE = orjson.OPT_APPEND_NEWLINE
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
    for kind in ("variants", "product", "media", "set"):
        positions = [i for i, x in enumerate(lines) if x.kind == kind]
        mine = lines if len(positions) == len(lines) else [lines[i] for i in positions]
        if not mine:
            continue
        encoded = _json_lines([x.variables for x in mine])
        sizes = list(map(len, encoded))
        if max(sizes) > max_bytes:
            raise ValueError(f"one line is {max(sizes)} bytes, over the {max_bytes}-byte shard limit")
        for group in _deal(sizes, max(1, shards), max_bytes):
            index = len(out)
            path = directory / f"{prefix}-{index:04d}-{kind}.jsonl"
            rows_path = directory / f"{prefix}-{index:04d}-{kind}.rows.jsonl"
            data = [encoded[i] for i in group]
            with path.open("wb") as f:
                f.writelines(data)
            with rows_path.open("wb") as f:
                f.writelines(_json_lines([mine[i].rows for i in group]))  # tuples: JSON arrays
            out.append(ShardFile(kind, path, rows_path, len(group), sum(map(len, data)),
                                 tuple(positions[i] for i in group)))
    return out


def _deal(sizes: list[int], shards: int, max_bytes: int) -> Sequence[Sequence[int]]:
    """Round-robin indexes into ``shards`` groups, opening more groups when one would overflow."""
    count = len(sizes)
    width = min(shards, count)
    if all(sum(sizes[g::width]) <= max_bytes for g in range(width)):
        return [range(g, count, width) for g in range(width)]  # the common case: nothing overflows
    groups: list[list[int]] = [[] for _ in range(width)]
    totals = [0] * width
    for i, size in enumerate(sizes):
        g = i % len(groups)
        if totals[g] + size > max_bytes:
            groups.append([])
            totals.append(0)
            g = len(groups) - 1
        groups[g].append(i)
        totals[g] += size
    return [g for g in groups if g]


def _json_lines(values: Sequence[object]) -> list[bytes]:
    """Each value as one line of compact JSON, byte for byte what ``json`` writes (ASCII, non-ASCII
    escaped), 10× faster: orjson, whose UTF-8 output is kept when it is ASCII without DEL (almost
    always); the rest, and what orjson refuses (a lone surrogate from a file name read with
    ``surrogateescape``), goes through ``json``."""
    try:
        lines = [orjson.dumps(v, option=_LINE) for v in values]
    except orjson.JSONEncodeError:
        return [_ascii_line(v) for v in values]
    if all(map(_as_json_writes, lines)):
        return lines
    return [line if _as_json_writes(line) else _ascii_line(v) for line, v in zip(lines, values, strict=True)]


def _as_json_writes(line: bytes) -> bool:
    """orjson's line is what ``json`` writes: ASCII, and no DEL (which ``json`` escapes as \\u007f)."""
    return line.isascii() and b"\x7f" not in line


def _ascii_line(value: object) -> bytes:
    return (_COMPACT.encode(value) + "\n").encode()


def read_rows(rows_path: Path) -> list[list[tuple[str, int]]]:
    """The sidecar: for each line number, the (file, line) rows it decides."""
    with rows_path.open("rb") as f:
        return [[(str(r[0]), int(r[1])) for r in _loads(line)] for line in f]


def _loads(line: bytes) -> list[list[Any]]:
    try:
        rows: list[list[Any]] = orjson.loads(line)
    except orjson.JSONDecodeError:  # an escaped lone surrogate (see _json_lines)
        rows = json.loads(line)
    return rows
