"""The reader object: one input file (CSV or JSONL) → a stream of updates and row errors.

Why an object and not a bare generator: the CLI and the planner want to know, while and after
reading, what happened — which encoding and dialect were detected, which columns were ignored and why,
how many rows, updates and errors — so the reader reports itself (:meth:`UpdateReader.statistics`, a
:class:`~bulk.ingest.statistics.IngestStatistics`, and ``repr``).

Streaming: the file is opened when iteration starts and read record by record; nothing but the current
product group is held, so memory does not grow with the file. ``max_errors`` bounds a hopeless file:
up to that many :class:`~bulk.models.RowError` are yielded, the next one raises
:class:`~bulk.errors.InputError` (naming that row and the count). Updates already yielded stay yielded —
the caller has them — so nothing accepted is lost.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Callable, Collection, Generator, Iterator
from contextlib import closing, contextmanager, suppress
from typing import IO, Literal, TypeVar

from bulk.errors import ConfigError, InputError
from bulk.ingest import _encoding as encoding_
from bulk.ingest import dialects
from bulk.ingest._cells import Counters
from bulk.ingest._rows import RowBuilder
from bulk.ingest._source import forced_encoding, guess_format, open_source
from bulk.ingest.batch import PriceRows
from bulk.ingest.csv_reader import CsvRecords
from bulk.ingest.jsonl_reader import read_jsonl
from bulk.ingest.statistics import Format, IngestStatistics
from bulk.models import RowError, RowNote, Update

Chunk = list[Update | RowError | PriceRows]  # what UpdateReader.chunks yields
_T = TypeVar("_T")
_DECIMAL_COMMA_DELIMITERS = (";", "\t")  # a comma in a cell cannot be a delimiter there


class UpdateReader(Iterator["Update | RowError"]):
    """An iterator over one file's updates and row errors; one pass. Make one with
    :func:`bulk.ingest.read_updates`. The file is opened on the first ``next()`` and closed at the
    end, by :meth:`close`, or on leaving a ``with`` block (stopping early)."""

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        format: Format | None = None,
        dialect: str | None = None,
        kind: str | Collection[str] | None = None,
        max_errors: int = 1000,
        location: str | None = None,
        image_mode: Literal["append", "replace"] = "append",
        encoding: str | None = None,
        notes: bool = False,
    ) -> None:
        if max_errors < 0:
            raise ConfigError(f"max_errors must be 0 or more, not {max_errors}")
        kinds = (kind,) if isinstance(kind, str) else tuple(kind) if kind is not None else dialects.KINDS
        for k in kinds:
            if k not in dialects.KINDS:
                raise ConfigError(f"unknown kind {k!r}: choose from {', '.join(dialects.KINDS)}")
        self._source = source
        self.file = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<stream>")
        self.format: Format = format or guess_format(self.file)
        self._forced = forced_encoding(encoding, self.format)
        self._encoding: encoding_.Encoding | None = None
        self._dialect = dialects.get(dialect) if dialect else None
        self.kinds = kinds
        self.max_errors = max_errors
        self.location = location
        self.image_mode = image_mode
        self.notes = notes  # yield a RowNote for each row that carries nothing (see read_updates)
        self._counters = Counters()
        self._tally: dict[str, int] = {}
        self._records = 0
        self._errors = 0
        self._csv: CsvRecords | None = None
        self._columns: dialects.ColumnMap | None = None
        self._items: Iterator[Update | RowError] | None = None
        self._chunk_items: Generator[Chunk, None, None] | None = None
        self._finished = False

    def __repr__(self) -> str:
        s = self.statistics()
        return (f"<UpdateReader {s.file!r} format={s.format} dialect={s.dialect} records={s.records}"
                f" updates={sum(s.updates.values())} errors={s.errors} finished={s.finished}>")

    def statistics(self) -> IngestStatistics:
        """What has been read so far."""
        if self.format == "jsonl":
            updates = {k: v for k, v in self._tally.items() if k != "records"}
            records = self._tally.get("records", 0)
        else:
            updates = dict(self._counters.updates)
            records = self._records
        columns, enc, counters = self._columns, self._encoding, self._counters
        ignored = columns.ignored if columns else ()
        return IngestStatistics(
            file=self.file,
            format=self.format,
            dialect=self._dialect.name if self._dialect and self.format == "csv" else None,
            delimiter=self._csv.delimiter if self._csv else None,
            records=records,
            updates=updates,
            errors=self._errors,
            ignored_columns=tuple(c.name for c in ignored),
            apostrophes_stripped=counters.apostrophes_stripped,
            untracked_skipped=counters.untracked_skipped,
            finished=self._finished,
            encoding=enc.name if enc else None,
            encoding_reason=enc.reason if enc else None,
            columns_used=columns.used() if columns else (),
            ignored=ignored,
            decimal_comma=self._csv is not None and self._csv.delimiter in _DECIMAL_COMMA_DELIMITERS,
            quantities_not_applied=counters.quantities_not_applied,
            variants_by_options=counters.variants_by_options,
        )

    def __iter__(self) -> Iterator[Update | RowError]:
        # The underlying generator itself (same state as next(reader)): a ``for`` loop then skips
        # a Python-level __next__ call per row, ~25% of the fast path's time.
        if self._items is None:
            self._items = self._run()
        return self._items

    def __next__(self) -> Update | RowError:
        return next(iter(self))

    def __enter__(self) -> UpdateReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def chunks(self, rows: int | Callable[[int], int] = 50_000) -> Iterator[Chunk]:
        """The same items, in file order, as lists of ``rows`` items each (the last one fewer), cut where
        ``islice`` would cut them — what a planner takes. ``rows`` may also give the size of chunk
        ``i`` (0-based), e.g. small first chunks that grow. Plain rows of a price-only CSV come as
        :class:`~bulk.ingest.batch.PriceRows` batches (one item per row they hold: the same updates,
        column by column, far cheaper to make and to plan); everything else as iterating yields it.
        One pass: use either this or iteration, not both."""
        if self._items is not None or self._chunk_items is not None:
            raise ConfigError("this reader was already read: make a new one with read_updates()")
        size_of = rows if callable(rows) else _fixed(rows)
        self._chunk_items = self._run_chunks(lambda index: max(1, size_of(index)))
        return self._chunk_items

    def close(self) -> None:
        """Stop reading and close the file (a no-op when done or not started)."""
        if self._items is None:
            self._items = iter(())
        elif isinstance(self._items, Generator):
            self._items.close()
        if self._chunk_items is not None:
            self._chunk_items.close()

    @contextmanager
    def _unreadable(self) -> Iterator[None]:
        """A file that breaks while being read (a corrupt .gz, an I/O error) as an
        :class:`~bulk.errors.InputError` at the line reached, not a traceback."""
        try:
            yield
        except (OSError, EOFError) as exc:
            if self._csv is not None:
                line = self._csv.line + 1
            else:
                line = self._tally.get("records", 0) + 1 if self.format == "jsonl" else 1
            raise InputError(f"cannot read the file: {exc}", file=self.file, line=line) from exc

    def _run(self) -> Generator[Update | RowError, None, None]:
        with open_source(self._source) as stream, self._unreadable():
            items = self._jsonl(stream) if self.format == "jsonl" else self._csv_text(stream, self._csv_rows)
            with closing(items):  # close it before its stream, even if our caller stops early
                yield from self._counted(items)
        self._finished = True

    def _run_chunks(self, size_of: Callable[[int], int]) -> Generator[Chunk, None, None]:
        with open_source(self._source) as stream, self._unreadable():
            if self.format == "jsonl":
                with closing(self._jsonl(stream)) as items:
                    counted = self._counted(items)
                    for index in itertools.count():
                        chunk: Chunk = list(itertools.islice(counted, size_of(index)))
                        if not chunk:
                            break
                        yield chunk
            else:
                with closing(self._csv_text(stream, lambda text: self._csv_chunks(text, size_of))) as chunks:
                    yield from chunks
        self._finished = True

    def _counted(self, items: Iterator[Update | RowError]) -> Iterator[Update | RowError]:
        for item in items:
            if isinstance(item, RowError) and not isinstance(item, RowNote) \
                    and (stop := self._one_more_error(item)) is not None:
                raise stop
            yield item

    def _one_more_error(self, item: RowError) -> InputError | None:
        """Count a row error; past ``max_errors``, the error to stop with."""
        self._errors += 1
        if self._errors <= self.max_errors:
            return None
        return InputError(f"more than {self.max_errors} bad rows; stopped here: {item.reason}",
                          file=item.file, line=item.line, column=item.column)

    def _jsonl(self, stream: IO[bytes]) -> Generator[Update | RowError, None, None]:
        self._encoding = self._forced or encoding_.Encoding("utf-8", "UTF-8", "JSON text is UTF-8")
        return read_jsonl(stream, file=self.file, kinds=self.kinds, location=self.location,
                          image_mode=self.image_mode, tally=self._tally)

    def _csv_text(
        self, stream: IO[bytes], body: Callable[[IO[str]], Iterator[_T]]
    ) -> Generator[_T, None, None]:
        if self._forced is not None:
            enc = self._forced
        else:
            enc, stream = encoding_.detect(stream)
        self._encoding = enc
        text = io.TextIOWrapper(stream, encoding=enc.codec, errors=encoding_.ERRORS, newline="")
        try:
            yield from body(text)
        finally:
            # The binary stream belongs to open_source (or to our caller): detach so the wrapper does not
            # close it. If the garbage collector finalized the stream first, there is nothing to do.
            with suppress(ValueError):
                text.detach()

    def _csv_start(self, text: IO[str]) -> tuple[CsvRecords, RowBuilder]:
        name = self._encoding.name if self._encoding else "UTF-8"
        records = self._csv = CsvRecords(text, file=self.file, encoding=name)
        dialect = self._dialect or dialects.detect(records.header, file=self.file)
        self._dialect = dialect
        columns = self._columns = dialects.bind(dialect, records.header, file=self.file, kinds=self.kinds,
                                                location_known=self.location is not None)
        records.measured = frozenset(columns.index.values())  # a big cell in an ignored column is harmless
        builder = RowBuilder(columns, file=self.file, kinds=self.kinds, location=self.location,
                             image_mode=self.image_mode, counters=self._counters, notes=self.notes,
                             decimal_comma=records.delimiter in _DECIMAL_COMMA_DELIMITERS)
        return records, builder

    def _csv_rows(self, text: IO[str]) -> Iterator[Update | RowError]:
        records, builder = self._csv_start(text)
        feed = builder.feed_record
        for record in records:
            self._records += 1
            if isinstance(record, RowError):
                yield record
            else:
                yield from feed(*record)
        yield from builder.finish()

    def _csv_chunks(self, text: IO[str], size_of: Callable[[int], int]) -> Iterator[Chunk]:
        """:meth:`_csv_rows` in chunks of ``size_of(i)`` items (a row of a batch counts as one), cut
        where ``islice`` would cut the items; plain price rows are gathered in batches."""
        records, builder = self._csv_start(text)
        take = builder.take_plain_price if builder.price_only else None
        chunk: Chunk = []
        batch = PriceRows(self.file)
        size, chunks = 0, 0
        rows = size_of(0)
        for record in itertools.chain(records, [None]):  # None: the end (the last group's images)
            items: list[Update | RowError]
            if record is None:
                items = builder.finish()
            elif isinstance(record, RowError):
                self._records += 1
                items = [record]
            else:
                self._records += 1
                if take is not None and take(batch, *record):
                    size += 1
                    if size == rows:
                        yield [*chunk, batch]
                        chunk, batch, size, chunks = [], PriceRows(self.file), 0, chunks + 1
                        rows = size_of(chunks)
                    continue
                items = builder.feed(*record)
            if batch:  # keep file order: the batch holds the rows before these items
                chunk.append(batch)
                batch = PriceRows(self.file)
            for item in items:
                if isinstance(item, RowError) and not isinstance(item, RowNote) \
                        and (stop := self._one_more_error(item)) is not None:
                    if chunk:
                        yield chunk  # what was read before the last straw stays read
                    raise stop
                chunk.append(item)
                size += 1
                if size == rows:
                    yield chunk
                    chunk, size, chunks = [], 0, chunks + 1
                    rows = size_of(chunks)
        if chunk:
            yield chunk


def _fixed(rows: int) -> Callable[[int], int]:
    return lambda _index: rows
