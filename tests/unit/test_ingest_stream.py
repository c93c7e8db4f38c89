"""Streaming, the public facade, and the quick-start fixture."""

from __future__ import annotations

import gc
import io
import itertools
import tracemalloc
from decimal import Decimal
from pathlib import Path

import bulk.ingest
from bench.plan_data import current_price_cents, write_fixture, write_price_csv
from bulk.ingest import read_updates
from bulk.models import PriceUpdate, RowError
from bulk.sim._catalog import Catalog

REPO = Path(__file__).resolve().parents[2]


class VirtualCsv(io.RawIOBase):
    """A price CSV of ``rows`` rows made up on demand; counts the bytes handed out."""

    def __init__(self, rows: int) -> None:
        self._lines = itertools.chain(
            [b"sku,price\n"], (f"SKU-{n:07d}-1,{n % 900 + 1}.99\n".encode() for n in range(rows))
        )
        self._pending = b""
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer):
            line = next(self._lines, None)
            if line is None:
                break
            self._pending += line
        chunk, self._pending = self._pending[: len(buffer)], self._pending[len(buffer):]
        buffer[: len(chunk)] = chunk
        self.served += len(chunk)
        return len(chunk)


def test_first_rows_of_a_huge_file_read_only_its_start() -> None:
    raw = VirtualCsv(rows=10**9)  # ~25 GB if it were read
    with read_updates(io.BufferedReader(raw), name="huge.csv") as reader:
        first = list(itertools.islice(reader, 5))
        assert [u.source.line for u in first if isinstance(u, PriceUpdate)] == [2, 3, 4, 5, 6]
        assert raw.served < 64 * 1024
        assert reader.statistics().records == 5


def test_an_abandoned_reader_is_collected_quietly() -> None:
    # No `with`: the reader and its generator form a cycle the garbage collector finalizes in any
    # order; pytest turns an exception raised there into a failure.
    reader = read_updates(io.BufferedReader(VirtualCsv(rows=1000)), name="v.csv")
    next(reader)
    del reader
    gc.collect()


def _peak_while_reading(rows: int) -> int:
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_updates(io.BufferedReader(VirtualCsv(rows)), name="v.csv"))
        assert count == rows
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file() -> None:
    small, large = _peak_while_reading(2_000), _peak_while_reading(12_000)
    assert large < small * 1.25 + 32 * 1024, (small, large)


def test_caller_stream_left_open() -> None:
    stream = io.BytesIO(b"sku,price\nA,1\n")
    assert len(list(read_updates(stream, name="s.csv"))) == 1
    assert not stream.closed


def test_exported_names() -> None:
    assert sorted(bulk.ingest.__all__) == [
        "DIALECTS", "Format", "IgnoredColumn", "IngestStatistics", "KINDS", "MAX_CELL_BYTES", "UpdateReader",
        "read_updates",
    ]


def test_gzip(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "prices.csv.gz"
    path.write_bytes(gzip.compress(b"sku,price\nA,1\n"))
    assert [u.source.line for u in read_updates(path) if isinstance(u, PriceUpdate)] == [2]


def test_generator_matches_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_price_csv(path, 500, products=100)
    items = list(read_updates(path))
    assert len(items) == 500 and not any(isinstance(i, RowError) for i in items)
    skus = [i.variant.sku for i in items if isinstance(i, PriceUpdate)]
    assert skus[:4] == ["SKU-0000001-0", "SKU-0000001-1", "SKU-0000002-0", "SKU-0000002-1"]
    simulated = Catalog(products=100)  # the simulator must know every SKU the generator writes
    assert all(s is not None and simulated.variant_by_sku(s) is not None for s in skus)
    assert len(set(skus)) == sum(1 + p % 3 for p in range(1, 101))  # 200 variants, then wraps


def test_quick_start_fixture(tmp_path: Path) -> None:
    fixture = REPO / "fixtures" / "prices.csv"
    write_fixture(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == fixture.read_bytes()  # reproducible from its script
    items = list(read_updates(fixture))
    assert not [i for i in items if isinstance(i, RowError)]  # the quick start exits 0
    bad = list(read_updates(REPO / "fixtures" / "bad-rows.csv"))  # the second example's mistakes
    errors = [i for i in bad if isinstance(i, RowError)]
    assert [(e.line, e.column) for e in errors] == [(4, "price"), (5, "price"), (6, "price")]
    assert "negative" in errors[0].reason and "decimal comma" in errors[1].reason
    assert "not a number" in errors[2].reason
    updates = [i for i in items if isinstance(i, PriceUpdate)]
    assert len(updates) == 2000
    unchanged = 0
    for u in updates:
        sku = u.variant.sku or ""
        p, v = int(sku[4:11]), int(sku[12:])
        unchanged += u.price == Decimal(current_price_cents(p, v)) / 100
    assert 0.07 < unchanged / len(updates) < 0.13
    assert 0.08 < sum(u.compare_at_price is not None for u in updates) / len(updates) < 0.25
