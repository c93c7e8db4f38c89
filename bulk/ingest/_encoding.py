"""Which text encoding a CSV file is in: UTF-8 (with or without BOM), UTF-16, or Windows-1252.

Merchants' files come from three places: Shopify and Google Sheets (UTF-8), Excel's "CSV UTF-8"
(UTF-8 with a BOM), Excel's "Unicode Text" (UTF-16 LE with a BOM, tab-separated) and Excel's plain
"CSV" on Windows (the ANSI code page: Windows-1252 in Western Europe and the Americas). The rule is
deterministic, so it can be stated in one sentence and tested:

1. a byte-order mark decides (UTF-8, UTF-16 LE/BE);
2. no BOM but NUL bytes beside the header's ASCII letters: UTF-16 without a BOM (LE or BE by where
   the NULs are);
3. otherwise the whole file is checked as UTF-8: valid → UTF-8;
4. not valid UTF-8: Windows-1252 — unless the file holds more well-formed UTF-8 characters than bad
   bytes, in which case it is a UTF-8 file with a few damaged lines (pasted from elsewhere): it stays
   UTF-8 and those lines are rejected one by one, rather than turning every ``é`` into ``Ã©``.

Why not charset-normalizer (installed, 3.4 here; 3.5 on PyPI): it guesses among ~90 encodings from
a sample and answers ``cp1250`` for Western text such as ``Café crème`` (tried), which decodes
``è`` as ``č``. Our candidates are three and the rule above needs only the stdlib codecs.

Checking all of a file as UTF-8 costs one extra read (C speed: ~1 GB/s for mostly-ASCII text,
0.1 s for a 1.5M-row file); a stream that cannot seek back is judged on its first
:data:`SAMPLE_BYTES` only, and later bad bytes are row errors. ``encoding=`` skips detection.
"""

from __future__ import annotations

import codecs
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from bulk.errors import ConfigError

# The decoding error handler the CSV reader uses: like ``surrogateescape`` (a bad byte becomes the
# lone surrogate U+DC00+byte, which no valid text holds, so the reader can name its line and go on),
# but for every byte: ``surrogateescape`` gives up on bytes below 0x80, which is what bad UTF-16 is
# made of (a cut-off character, a lone surrogate), and would end reading with an exception.
ERRORS = "bulk-escape"


def _escape(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(ERRORS, _escape)

SAMPLE_BYTES = 32 * 1024  # what a non-seekable stream is judged on (kept small: it is held in memory)
_BLOCK = 256 * 1024
_BAD = re.compile("[\udc80-\udcff]")  # a byte surrogateescape could not decode

# Display names of the codecs we name in messages (codecs.lookup(...).name → what users read).
_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "cp1252": "Windows-1252",
    "iso8859-1": "ISO-8859-1",
    "iso8859-15": "ISO-8859-15",
    "mac-roman": "Mac Roman",
}


@dataclass(frozen=True, slots=True)
class Encoding:
    """The encoding a file is read with, and why (both shown to the user)."""

    codec: str  # a Python codec name, as TextIOWrapper takes it
    name: str  # what users read: "UTF-8", "UTF-16 LE", "Windows-1252"…
    reason: str  # "byte-order mark", "valid UTF-8", "forced", …

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def forced(name: str) -> Encoding:
    """The encoding a caller asked for by name (any codec Python knows: ``utf-8``, ``utf-16``,
    ``utf-16-le``, ``cp1252``/``windows-1252``, ``latin-1``…); an unknown name is a
    :class:`~bulk.errors.ConfigError`. A UTF-8 BOM is dropped even when UTF-8 is forced."""
    try:
        codec = codecs.lookup(name).name
        b"x".decode(codec, "ignore")  # 'base64', 'zlib'… are codecs too, but not text encodings
    except LookupError:
        raise ConfigError(
            f"unknown encoding {name!r}: use e.g. utf-8, utf-16, utf-16-le, cp1252 (Windows-1252)"
        ) from None
    if codec == "utf-8":
        codec = "utf-8-sig"
    return Encoding(codec, _NAMES.get(codec, codec), "forced")


def detect(stream: IO[bytes]) -> tuple[Encoding, IO[bytes]]:
    """The encoding of ``stream`` (see the module's rule) and a stream to read the file from: the
    same one rewound when it can seek, else one that replays the sample read for detection."""
    if _seekable(stream):
        start = stream.tell()
        head = stream.read(4096)
        stream.seek(start)
        found = _by_mark(head) or _by_content(iter(lambda: stream.read(_BLOCK), b""))
        stream.seek(start)
        return found, stream
    sample = stream.read(SAMPLE_BYTES)
    found = _by_mark(sample[:4096]) or _by_content(iter([sample]), whole=len(sample) < SAMPLE_BYTES)
    return found, io.BufferedReader(_Replay(sample, stream))


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


def _by_mark(head: bytes) -> Encoding | None:
    """A byte-order mark, or the NUL padding of UTF-16 text without one."""
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "UTF-8", "byte-order mark")
    if head.startswith(codecs.BOM_UTF16_LE):
        return Encoding("utf-16", "UTF-16 LE", "byte-order mark")
    if head.startswith(codecs.BOM_UTF16_BE):
        return Encoding("utf-16", "UTF-16 BE", "byte-order mark")
    first = head[:256]
    if len(first) >= 4 and b"\x00" in first:
        even, odd = first[0::2], first[1::2]
        if odd.count(0) > len(odd) * 0.8:
            return Encoding("utf-16-le", "UTF-16 LE", "no byte-order mark; NUL bytes beside ASCII")
        if even.count(0) > len(even) * 0.8:
            return Encoding("utf-16-be", "UTF-16 BE", "no byte-order mark; NUL bytes beside ASCII")
    return None


def _by_content(blocks: Iterator[bytes], *, whole: bool = True) -> Encoding:
    """UTF-8 if every block is, else the majority rule between UTF-8 and Windows-1252. ``whole``:
    the blocks are the whole file (else a sample, which may end in the middle of a character)."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    bad = good = 0
    first_bad: int | None = None
    for block in itertools.chain(blocks, [None] if whole else []):
        text = decoder.decode(b"", final=True) if block is None else decoder.decode(block)
        if text.isascii():
            continue
        here = 0
        if (match := _BAD.search(text)) is not None:
            if first_bad is None:
                first_bad = ord(match.group()) - 0xDC00
            here = len(_BAD.findall(text))
        bad += here
        good += len(text) - len(text.encode("ascii", "ignore")) - here  # C speed, no list per char
    if not bad:
        return Encoding("utf-8-sig", "UTF-8", "valid UTF-8")
    if good >= bad:
        return Encoding(
            "utf-8-sig", "UTF-8",
            f"mostly valid UTF-8: {good} characters, {bad} bad bytes (lines with them are rejected)",
        )
    return Encoding("cp1252", "Windows-1252", f"not valid UTF-8: byte 0x{first_bad or 0:02X}")


class _Replay(io.RawIOBase):
    """The bytes already read from a non-seekable stream, then the rest of it."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix: memoryview | None = memoryview(prefix) if prefix else None
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix is not None:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:] if n < len(self._prefix) else None  # let the sample go
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
