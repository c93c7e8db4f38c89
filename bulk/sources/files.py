"""Files as a submission's source: read one after the other, each in a second process.

Why: reading and validating a big file is CPU work, and in the process that also runs the urgent lane
and the bulk lane's polls it holds the event loop's interpreter for seconds (urgent inventory p99 was
~900 ms at a third of Black Friday's scale). :func:`bulk.sources._reader_process.read_chunks` reads,
validates and looks the catalog up in a child process instead; this module makes a submission of
one or more files out of it.

Why a value and not a reader: the child looks each chunk's variants up in the catalog cache, so it
must open the cache only once the run has synced it. ``bulk submit`` therefore hands the composition root a
:class:`FileInput` (paths and reader options), and :func:`bulk.submit.root.run_submission` opens it —
after the sync — into :class:`FileChunks`, an async iterable of chunk lists for
:func:`bulk.sources.readahead.chunks`. Several files (a price CSV and an images JSONL) are one run, read
in the given order; each file is a reader of its own (``--max-errors`` counts per file). The next
file's child starts while the one before is still read (:func:`~bulk.sources._reader_process.read_ahead`),
so a file's first lines reach the run as soon as the file before ends.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk.ingest.statistics import IngestStatistics
from bulk.sources._reader_process import ChunkReader, Item, ReaderOptions, read_ahead, read_chunks

__all__ = ["AHEAD_AFTER_CHUNKS", "FileChunks", "FileInput", "ReaderOptions"]

# the next file's child starts once the file in use has sent this many chunks (its own child is
# sending by then): not at the run's start, where two children's imports would meet the first urgent
# burst, and well before the file's end, so the next file's first chunk is waiting when its turn comes
AHEAD_AFTER_CHUNKS = 2


@dataclass(frozen=True, kw_only=True)
class FileInput:
    """Files of changes for one submission, read one after the other, each as ``options`` say.

    ``in_process``: None reads a file in this process when it is small (see
    :func:`~bulk.sources._reader_process.read_chunks`); False always in a second process (where the
    platform allows); True never."""

    paths: tuple[Path, ...]
    options: ReaderOptions = field(default_factory=ReaderOptions)
    in_process: bool | None = None

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("a FileInput needs at least one path")
        object.__setattr__(self, "paths", tuple(Path(p) for p in self.paths))  # a list of str will do

    def run_key_options(self) -> dict[str, Any]:
        """What besides the files' bytes makes reading them again the same run: the options that
        change what is read (``max_errors`` only stops early). ``bulk submit`` always keyed on the
        dialect and location; the others appear only when set."""
        o = self.options
        extra = {name: value for name, value, default in (("kind", o.kind, None), ("format", o.format, None),
                                                          ("image_mode", o.image_mode, "append"),
                                                          ("encoding", o.encoding, None))
                 if value != default}
        return {"dialect": o.dialect, "location": o.location, **({"reader": extra} if extra else {})}

    def open(self, *, catalog: str | os.PathLike[str] | None, rows: int | Callable[[int], int],
             on_read: Callable[[IngestStatistics], None] | None = None) -> FileChunks:
        """The files' chunks, each with its variants' rows of the ``catalog`` file (open it only once
        the catalog is synced); ``rows`` as for :func:`~bulk.sources._reader_process.read_chunks`.
        ``on_read`` hears each file's account once it is read (dialect, encoding, columns used and
        ignored, what was cleaned): nothing a reader does goes unsaid."""
        return FileChunks(self, catalog=catalog, rows=rows, on_read=on_read)


class FileChunks:
    """The chunk lists of a :class:`FileInput`'s files in order: an async iterable of chunks.

    A file's reader (and its child) starts when its first chunk is asked for — a resumed run that
    reads nothing starts none — or, for a file after the first, once the file before has sent
    :data:`AHEAD_AFTER_CHUNKS` chunks; it ends with the file. :meth:`close` ends the ones started at
    once: a cancelled run's async generator may never be finalized, so the composition root closes
    this explicitly."""

    def __init__(self, files: FileInput, *, catalog: str | os.PathLike[str] | None,
                 rows: int | Callable[[int], int],
                 on_read: Callable[[IngestStatistics], None] | None = None) -> None:
        self._files = files
        self._on_read = on_read
        self._catalog = catalog
        self._rows = rows
        self._reader: ChunkReader | None = None
        self._ahead: ChunkReader | None = None  # the next file's, started before its turn
        self._index = -1  # the file being read
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[list[Item]]:
        paths = self._files.paths
        try:
            for index, path in enumerate(paths):
                if self._closed:
                    return
                self._index = index
                ahead, self._ahead = self._ahead, None
                self._reader = reader = ahead or read_chunks(
                    path, catalog=self._catalog, rows=self._rows, options=self._files.options,
                    in_process=self._files.in_process, first_input=index == 0)
                try:
                    read = 0
                    while (chunk := await asyncio.to_thread(reader.next_chunk)) is not None:
                        read += 1
                        if read == AHEAD_AFTER_CHUNKS and index + 1 < len(paths) and not self._closed:
                            self._ahead = read_ahead(paths[index + 1], catalog=self._catalog, rows=self._rows,
                                                     options=self._files.options,
                                                     in_process=self._files.in_process)
                        yield chunk
                    stats = reader.statistics()
                    if self._on_read is not None and stats is not None:
                        self._on_read(stats)
                finally:
                    reader.close()
        finally:
            if self._ahead is not None:  # the run stopped before the next file's turn
                self._ahead.close()

    def close(self) -> None:
        """Stop: the reader in use and the one started ahead are closed (their children ended) and no
        further file is started."""
        self._closed = True
        for reader in (self._reader, self._ahead):
            if reader is not None:
                reader.close()

    def __enter__(self) -> FileChunks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        files = self._files.paths
        state = "closed" if self._closed else f"file {self._index + 1}/{len(files)}"
        return f"<FileChunks {state} reader={self._reader!r}>"
