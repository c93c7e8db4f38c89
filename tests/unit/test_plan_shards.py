"""Shard files: the bytes json would write, and a sidecar that reads back whatever the rows are named."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.plan import PlannedLine, read_rows, write_shards


def product_line(n: int, description: str, rows: tuple[tuple[str, int], ...]) -> PlannedLine:
    variables = {"product": {"id": f"gid://shopify/Product/{n}", "descriptionHtml": description}}
    return PlannedLine("product", variables, rows)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(min_size=1, max_size=6)), min_size=1, max_size=8),
       st.integers(1, 3))
def test_shards_hold_what_json_writes(texts: list[tuple[str, str]], shards: int) -> None:
    lines = [product_line(n, text, ((file, n + 2),)) for n, (text, file) in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        written = write_shards(lines, Path(tmp), shards=shards)
        data = b"".join(s.path.read_bytes() for s in written)
        rows = [r for s in written for r in read_rows(s.rows_path)]
        sidecars = b"".join(s.rows_path.read_bytes() for s in written)
    order = [i for s in written for i in s.line_indexes]
    compact = json.JSONEncoder(separators=(",", ":")).encode
    assert data == b"".join((compact(lines[i].variables) + "\n").encode() for i in order)
    assert sidecars == b"".join((compact(lines[i].rows) + "\n").encode() for i in order)
    assert rows == [list(lines[i].rows) for i in order]


def test_shards_keep_any_text_and_file_name(tmp_path: Path) -> None:
    odd = "pr\udce9ise.csv"  # a file name that is not UTF-8, as Python reads it (surrogateescape)
    lines = [product_line(1, "café", (("é.csv", 2),)), product_line(2, "x", ((odd, 3), ("b.csv", 4)))]
    (shard,) = write_shards(lines, tmp_path, shards=1)
    assert shard.path.read_bytes().splitlines()[0].endswith(b'"descriptionHtml":"caf\\u00e9"}}')  # as json
    assert read_rows(shard.rows_path) == [[("é.csv", 2)], [(odd, 3), ("b.csv", 4)]]


def test_a_del_character_is_escaped_as_json_escapes_it(tmp_path: Path) -> None:
    """orjson writes DEL (0x7f) raw, ``json`` as \\u007f: found by hypothesis, kept as json writes it."""
    (shard,) = write_shards([product_line(1, "a\x7fb", (("f.csv", 2),))], tmp_path, shards=1)
    assert b'"a\\u007fb"' in shard.path.read_bytes()
