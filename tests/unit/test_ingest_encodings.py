"""Encodings: UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode Text"), Windows-1252 (Excel's
plain "CSV" on Windows), a forced encoding — and the description says which was used and why."""

from __future__ import annotations

import gzip
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bulk.errors import ConfigError, InputError
from bulk.ingest import IngestStatistics, read_updates
from bulk.models import DescriptionUpdate, PriceUpdate, RowError, Update

DATA = Path(__file__).resolve().parent.parent / "data" / "encodings"


def read(source: Any, **options: Any) -> tuple[list[Update], list[RowError], IngestStatistics]:
    reader = read_updates(source, **options)
    items = list(reader)
    return ([i for i in items if not isinstance(i, RowError)], [i for i in items if isinstance(i, RowError)],
            reader.statistics())


def prices(updates: list[Update]) -> list[tuple[int, str | None, Decimal | None, Decimal | None]]:
    return [(u.source.line, u.variant.sku, u.price, u.compare_at_price)
            for u in updates if isinstance(u, PriceUpdate)]


class OneWay(io.RawIOBase):
    """Bytes as a pipe gives them: readable once, no seek."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def pipe(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(OneWay(data))


def test_windows_1252_file_with_accents_reads_every_row() -> None:
    updates, errors, stats = read(DATA / "windows1252_accents.csv")
    assert errors == []
    assert (stats.encoding, stats.encoding_reason) == ("Windows-1252", "not valid UTF-8: byte 0xE8")
    assert prices(updates) == [(2, "CB-01", Decimal("12.50"), None),
                               (3, "PF-€1", Decimal("8.90"), Decimal("9.90")),
                               (4, "SM-Ø2", Decimal("6.00"), None)]
    bodies = [u.description_html for u in updates if isinstance(u, DescriptionUpdate)]
    assert bodies == ["<p>Crème brûlée à la vanille — façon grand-mère</p>", "<p>Pâté « maison », 200 g</p>",
                      "<p>Dänisches Smørrebrød für Großväter</p>"]
    assert "encoding Windows-1252 (not valid UTF-8: byte 0xE8)" in stats.summary()[0]


def test_excel_unicode_text_is_utf16_le_tab_separated_with_decimal_commas() -> None:
    updates, errors, stats = read(DATA / "excel_unicode_text_utf16le.txt")
    assert errors == []
    assert (stats.encoding, stats.encoding_reason, stats.delimiter) == ("UTF-16 LE", "byte-order mark", "\t")
    assert stats.decimal_comma and stats.dialect == "simple"
    assert prices(updates) == [(2, "ÉTÉ-01", Decimal("12.50"), None),
                               (3, "ŁÓDŹ-02", Decimal("1234.50"), Decimal("1300.00")),
                               (4, "東京-03", Decimal("7"), None)]


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        ("sku,price\nÉté,1\n".encode(), "UTF-8", "valid UTF-8"),
        (b"sku,price\nA,1\n", "UTF-8", "valid UTF-8"),
        ("\ufeffsku,price\nÉté,1\n".encode(), "UTF-8", "byte-order mark"),
        ("sku,price\nÉté,1\n".encode("utf-16"), "UTF-16 LE", "byte-order mark"),  # the BOM is LE here
        (b"\xfe\xff" + "sku,price\nÉté,1\n".encode("utf-16-be"), "UTF-16 BE", "byte-order mark"),
        ("sku,price\nÉté,1\n".encode("utf-16-le"), "UTF-16 LE", "no byte-order mark; NUL bytes beside ASCII"),
        ("sku,price\nÉté,1\n".encode("utf-16-be"), "UTF-16 BE", "no byte-order mark; NUL bytes beside ASCII"),
        ("sku,price\nÉté,1\n".encode("cp1252"), "Windows-1252", "not valid UTF-8: byte 0xC9"),
    ],
)
def test_detection(tmp_path: Path, data: bytes, name: str, reason: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    updates, errors, stats = read(path)
    assert errors == []
    assert (stats.encoding, stats.encoding_reason) == (name, reason)
    assert [u.variant.sku for u in updates if isinstance(u, PriceUpdate)] == ["A" if b"A," in data else "Été"]


def test_accents_late_in_a_long_file_still_decide(tmp_path: Path) -> None:
    # The whole file is checked, not a sample: 5,000 ASCII rows, then one Windows-1252 accent.
    path = tmp_path / "in.csv"
    rows = b"".join(b"A%d,1\n" % i for i in range(5000))
    path.write_bytes(b"sku,price\n" + rows + "Çà,2\n".encode("cp1252"))
    updates, errors, stats = read(path)
    assert errors == [] and stats.encoding == "Windows-1252"
    last = updates[-1]
    assert isinstance(last, PriceUpdate) and last.variant.sku == "Çà" and last.source.line == 5002


def test_a_mostly_utf8_file_keeps_utf8_and_rejects_only_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("sku,price\nÉté,1\n".encode() + b"Caf\xe9,2\n" + "Noël,3\n".encode())
    updates, errors, stats = read(path)
    assert stats.encoding == "UTF-8" and "mostly valid UTF-8" in (stats.encoding_reason or "")
    assert [(e.line, e.column) for e in errors] == [(3, None)]
    assert "not valid UTF-8 (byte 0xE9)" in errors[0].reason and "encoding='cp1252'" in errors[0].reason
    assert prices(updates) == [(2, "Été", Decimal("1"), None), (4, "Noël", Decimal("3"), None)]


def test_forced_encoding_wins(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("sku,price\nÉté,1\n".encode("cp1252"))
    updates, errors, stats = read(path, encoding="windows-1252")
    assert (stats.encoding, stats.encoding_reason) == ("Windows-1252", "forced")
    assert prices(updates) == [(2, "Été", Decimal("1"), None)]
    # Forced wrongly: the bytes that are not UTF-8 are row errors (named with the line), never mojibake.
    updates, errors, stats = read(path, encoding="utf-8")
    assert (stats.encoding, updates) == ("UTF-8", [])
    assert [(e.line, "not valid UTF-8 (byte 0xC9)" in e.reason) for e in errors] == [(2, True)]
    # A forced UTF-16 LE keeps the BOM in the text: it is dropped, 'sku' is still recognised.
    path.write_bytes("sku,price\nA,1\n".encode("utf-16"))
    updates, errors, stats = read(path, encoding="utf-16-le")
    assert (stats.encoding, stats.dialect, len(updates)) == ("UTF-16 LE", "simple", 1)


def test_forced_encoding_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        read_updates(tmp_path / "in.csv", encoding="klingon")
    with pytest.raises(ConfigError, match="JSONL files are UTF-8"):
        read_updates(tmp_path / "in.jsonl", encoding="cp1252")
    path = tmp_path / "in.jsonl"
    path.write_text('{"kind": "price", "sku": "A", "price": "1"}\n')
    updates, _, stats = read(path, encoding="utf-8")
    assert len(updates) == 1 and stats.encoding == "UTF-8"


def test_streams_and_gzip_are_detected_too(tmp_path: Path) -> None:
    data = "sku,price\nÉté,1\n".encode("cp1252")

    for source in (pipe(data), io.BytesIO(data)):
        updates, errors, stats = read(source, name="s.csv")
        assert errors == [] and stats.encoding == "Windows-1252", source
        assert prices(updates) == [(2, "Été", Decimal("1"), None)]
    path = tmp_path / "in.csv.gz"
    path.write_bytes(gzip.compress(data))
    updates, errors, stats = read(path)
    assert (stats.encoding, prices(updates)) == ("Windows-1252", [(2, "Été", Decimal("1"), None)])


def test_bytes_no_codec_can_read_are_errors_with_a_line_never_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    # 0x81 is undefined in Windows-1252: that row is rejected, naming the encoding and the byte.
    path.write_bytes("sku,price\nÉté,1\n".encode("cp1252") + b"X\x81,2\nB,3\n")
    updates, errors, stats = read(path)
    assert stats.encoding == "Windows-1252"
    assert [(e.line, "not valid Windows-1252 (byte 0x81)" in e.reason) for e in errors] == [(3, True)]
    assert [u.source.line for u in updates] == [2, 4]
    # UTF-16 cut in the middle of a character (an odd byte at the end): that line is rejected.
    path.write_bytes("sku,price\nA,1\n".encode("utf-16") + b"B")
    updates, errors, stats = read(path)
    assert stats.encoding == "UTF-16 LE" and [u.source.line for u in updates] == [2]
    assert [(e.line, "not valid UTF-16 LE (byte 0x42)" in e.reason) for e in errors] == [(3, True)]
    # A lone surrogate in the middle of UTF-16 text: the same, and the rows after it are read.
    path.write_bytes("sku,price\nA,1\n".encode("utf-16") + b"\x00\xd8" + "x,2\nB,3\n".encode("utf-16-le"))
    updates, errors, stats = read(path)
    assert [u.source.line for u in updates] == [2, 4] and [e.line for e in errors] == [3]


def test_a_corrupt_gzip_is_an_input_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "in.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read the file: Not a gzipped file") as info:
        list(read_updates(path))
    assert (info.value.file, info.value.line) == (str(path), 1)
    rows = "".join(f"SKU-{i},{i % 97}.{i % 89:02d}\n" for i in range(20000)).encode()
    path.write_bytes(gzip.compress(b"sku,price\n" + rows)[:40_000])  # cut in the middle
    reader = read_updates(path)
    got: list[Update | RowError] = []
    with pytest.raises(InputError, match="cannot read the file: Compressed file ended") as info:
        got.extend(reader)
    # Detection reads the whole file first: a broken file stops before any row, not half-way.
    assert (info.value.line, got) == (1, [])


def test_a_pipe_sample_cut_in_the_middle_of_a_character_is_still_utf8() -> None:
    from bulk.ingest._encoding import SAMPLE_BYTES

    head = b"sku,price\n" + b"A,1\n" * ((SAMPLE_BYTES - 11) // 4)
    data = head + b"x" * (SAMPLE_BYTES - 1 - len(head)) + "é,2\n".encode()  # é straddles the sample's end

    updates, errors, stats = read(pipe(data), name="pipe.csv")
    assert stats.encoding == "UTF-8" and errors == []
    last = updates[-1]
    assert isinstance(last, PriceUpdate) and last.variant.sku is not None and last.variant.sku.endswith("é")


def test_codecs_that_are_not_text_encodings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown encoding 'base64'"):
        read_updates(tmp_path / "in.csv", encoding="base64")
