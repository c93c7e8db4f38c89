"""The planner's input, read in a second process: parse, validate and look up the catalog there.

Why: planning a 1.5M-row file is CPU work, and one Python process uses one core. Reading and
validating the file (a third of the work) and looking its variants up in the catalog cache (a sixth)
need nothing from the planner but the file and the catalog's path, so a child process does them for
chunk *k+1* while the planner diffs and shards chunk *k*. What comes back is what
``read_updates(...).chunks(rows)`` yields — the same chunks, in file order — plus one
:class:`~bulk.plan.diff.LookedUp` per chunk but the first, which the planner reads itself while the
child starts (about a second: it imports the package); plain price rows travel as
:class:`~bulk.ingest.batch.PriceRows` (lists of str: cheap to pickle). A file read after another
(:func:`read_ahead`) has its child started while the one before is still read, and that child sends
its first chunk too. Planning gives the same result
either way (tested). The pipe holds one chunk, so the child reads at most two chunks ahead.

Small files and in-memory catalogs are read in this process (so is everything where the pipe cannot be
passed as a file descriptor): there a child would cost more than it saves.

``bulk submit`` reads its files through it (:mod:`bulk.sources.files`, docs/bulk-lane.md): a
:class:`ChunkReader` is an async iterable of chunk lists, which ``bulk.sources.readahead.chunks``
forwards as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from bulk.catalog import CatalogStore
from bulk.errors import BulkError, ConfigError, InputError
from bulk.ingest import IngestStatistics, UpdateReader, read_updates
from bulk.ingest.batch import PriceRows
from bulk.models import RowError, Update
from bulk.plan.diff import LookedUp
from bulk.plan.gcpause import cyclic_gc_paused

Item = Update | RowError | PriceRows | LookedUp
CHILD_NICENESS = 10  # the reading child yields the CPU to the planner's event loop and a local shop
MIN_PROCESS_BYTES = 8 * 1024 * 1024  # below this (~300k rows), starting a child costs more than it saves


@dataclass(frozen=True, kw_only=True)
class ReaderOptions:
    """What :func:`bulk.ingest.read_updates` is given (the child makes its own reader)."""

    dialect: str | None = None
    kind: str | tuple[str, ...] | None = None
    max_errors: int = 1000
    location: str | None = None
    image_mode: Literal["append", "replace"] = "append"
    format: Literal["csv", "jsonl"] | None = None
    encoding: str | None = None  # a forced text encoding (detected when None: bulk.ingest._encoding)


def read_chunks(
    path: str | os.PathLike[str],
    *,
    catalog: str | os.PathLike[str] | None = None,
    rows: int | Callable[[int], int] = 50_000,
    options: ReaderOptions | None = None,
    in_process: bool | None = None,
    first_input: bool = True,
) -> ChunkReader:
    """The chunks of ``path`` for :meth:`bulk.plan.stream.StreamPlanner.plan_chunk`, read in a child
    process (``in_process``: None decides by file size), each with the catalog rows of its variants
    when ``catalog`` names a catalog file. ``rows`` as for :meth:`bulk.ingest.UpdateReader.chunks` (a
    function must pickle: a module-level one, or a method of a picklable object such as
    ``bulk.sources.readahead.ReadAhead.rows_of``). ``first_input=False``: files read before this one in
    the same run may have named any variant, so the child flags each as named before (see
    :class:`~bulk.plan.diff.LookedUp`: it cannot know what another process saw). Use as a context
    manager, or :meth:`ChunkReader.close`."""
    options = options or ReaderOptions()
    if catalog is not None and str(catalog) == ":memory:":
        catalog = None  # another process cannot see it; the planner looks up as usual
    return ChunkReader(Path(path), catalog, rows, options, in_process=_in_process(path, in_process),
                       first_input=first_input)


def _in_process(path: str | os.PathLike[str], in_process: bool | None) -> bool:
    """Whether ``path`` is read in this process: asked, not POSIX, small, or not readable (the
    reader names the problem as usual)."""
    if os.name != "posix":
        return True  # the child's pipe is passed as a POSIX file descriptor
    if in_process is not None:
        return in_process
    try:
        return Path(path).stat().st_size < MIN_PROCESS_BYTES
    except OSError:
        return True


def read_ahead(
    path: str | os.PathLike[str],
    *,
    catalog: str | os.PathLike[str] | None = None,
    rows: int | Callable[[int], int] = 50_000,
    options: ReaderOptions | None = None,
    in_process: bool | None = None,
) -> ChunkReader | None:
    """A reader for a file whose turn comes after the one being read: its child starts now and reads
    every chunk itself, the first included, so that chunk is waiting when the turn comes instead of
    being read here then (a second or two at a file's start: an images file after a prices file
    otherwise reached the lane after every slot had taken a long price shard). A later file, so its
    child flags every variant as named before (``first_input=False``). None when the file would be
    read in this process (small, an in-memory catalog, not POSIX) or its child cannot start: it is
    then read as usual when its turn comes, and whatever is wrong with it is raised then, after the
    chunks before it."""
    options = options or ReaderOptions()
    if (catalog is not None and str(catalog) == ":memory:") or _in_process(path, in_process):
        return None
    try:
        return ChunkReader(Path(path), catalog, rows, options, in_process=False, first_input=False,
                           local_first=False)
    except OSError:
        return None


class ChunkReader:
    """Chunk lists in file order, from a child process or from this one; sync or async iterable.

    :meth:`next_chunk` may run in a worker thread while :meth:`close` is called from another (a
    cancelled run closes its reader from the event loop): close ends the child at once, which ends a
    wait on the pipe, and the thread still reading releases the file when it is done."""

    def __init__(self, path: Path, catalog: str | os.PathLike[str] | None, rows: int | Callable[[int], int],
                 options: ReaderOptions, *, in_process: bool, first_input: bool = True,
                 local_first: bool = True) -> None:
        self.path = path
        self.in_process = in_process
        self._lock = threading.Lock()  # held by next_chunk: the file and pipe are released by one thread
        self._closing = threading.Event()  # set by close, from any thread
        self._stats: IngestStatistics | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._frames: BinaryIO | None = None
        # In this process: every chunk, or only the first while the child starts (it skips that one),
        # or none (``local_first=False``: a child started ahead of its turn reads them all)
        self._reader: UpdateReader | None = None
        self._local: Iterator[list[Any]] | None = None
        if in_process or local_first:
            self._reader = read_updates(path, **_reader_kwargs(options))
            self._local = self._reader.chunks(rows)
        if in_process:
            return
        # A plain child interpreter, not multiprocessing: that would re-import the caller's __main__,
        # which an unguarded script cannot survive; and not fork: the planner runs beside other threads.
        # Its own process group: Ctrl-C on a terminal interrupts the whole foreground group, and the
        # child would die mid-import with a traceback; this process ends it (close) when interrupted,
        # and a child whose parent died gets a broken pipe at its next chunk.
        readable, writable = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._child = subprocess.Popen(
            [sys.executable, "-c", "from bulk.sources._reader_process import child_main; child_main()"],
            stdin=subprocess.PIPE, pass_fds=(writable,), env=env, process_group=0)
        os.close(writable)
        self._frames = os.fdopen(readable, "rb")
        skip_first = self._local is not None  # read here while the child starts
        where = None if catalog is None else str(catalog)
        job = (writable, path, where, rows, options, skip_first, first_input)
        assert self._child.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a child that died says so at the first chunk
            self._child.stdin.write(pickle.dumps(job, protocol=5))
            self._child.stdin.close()

    def __iter__(self) -> Iterator[list[Item]]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    async def __aiter__(self) -> AsyncIterator[list[Item]]:
        try:
            while (chunk := await asyncio.to_thread(self.next_chunk)) is not None:
                yield chunk
        finally:
            self.close()

    def next_chunk(self) -> list[Item] | None:
        """The next chunk, or None at the end or once closed; raises what reading raised (an
        :class:`InputError`…)."""
        with self._lock:
            try:
                chunk = self._next_chunk()
            finally:
                if self._closing.is_set():
                    self._release()
        return None if self._closing.is_set() else chunk

    def _next_chunk(self) -> list[Item] | None:
        if self._closing.is_set():
            return None
        if self._local is not None and self._reader is not None:  # both or neither
            try:
                read: list[Item] | None = next(self._local, None)
            except BaseException:
                self.close()
                raise
            self._stats = self._reader.statistics()
            if self._frames is None:
                return read
            self._reader.close()  # the child goes on from the second chunk
            self._local = None
            if read is not None:
                return read
        if self._frames is None:
            return None
        header = self._frames.read(8)
        body = self._frames.read(int.from_bytes(header, "big")) if len(header) == 8 else b""
        if not body:
            if self._closing.is_set():
                return None  # closed meanwhile: the child was ended on purpose
            self.close()
            raise BulkError(f"the process reading {self.path} died")
        with cyclic_gc_paused():  # half a million new objects: see gcpause
            kind, payload, self._stats = pickle.loads(body)
        if kind == "chunk":
            chunk: list[Item] = payload
            return chunk
        self.close()
        if kind == "end":
            return None
        raise _error(kind, payload)

    def statistics(self) -> IngestStatistics | None:
        """The reader's statistics as of the last chunk (None before the first)."""
        return self._stats

    def close(self) -> None:
        """Stop reading: the child is ended, the file closed (a no-op when done). From any thread: a
        :meth:`next_chunk` under way returns None, and releases the file itself when it ends."""
        self._closing.set()
        child, self._child = self._child, None
        if child is not None:  # first: a thread waiting on the pipe sees its end
            if child.poll() is None:
                child.terminate()
            child.wait()
        if self._lock.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._lock.release()

    @property
    def child(self) -> subprocess.Popen[bytes] | None:
        """The reading process while one runs (None in process, or once closed): for monitoring."""
        return self._child

    @property
    def closed(self) -> bool:
        """Nothing is held any more: no child, no pipe, no file open in this process."""
        return self._child is None and self._frames is None and self._local is None

    def _release(self) -> None:
        if self._local is not None and self._reader is not None:
            self._reader.close()
            self._local = None
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "in process" if self.in_process else f"child={self._child.pid if self._child else None}"
        return f"<ChunkReader {str(self.path)!r} {where}>"


def _reader_kwargs(options: ReaderOptions) -> dict[str, Any]:
    return {"dialect": options.dialect, "kind": options.kind, "max_errors": options.max_errors,
            "location": options.location, "image_mode": options.image_mode, "format": options.format,
            "encoding": options.encoding,
            "notes": True}  # a submission reports every data row, those that carry nothing too


def child_main() -> None:
    """The child: read the job from stdin, then read, look up and send frames until the end or an
    error, which is sent as data (our errors do not all pickle)."""
    gc.disable()  # a short life of acyclic objects: the cyclic collector would only rescan them
    with contextlib.suppress(OSError, AttributeError):  # reading runs far ahead of the shop: it may
        os.nice(CHILD_NICENESS)  # wait for a core the event loop (urgent requests) or a local shop wants
    fd, path, catalog, rows, options, skip_first, first_input = pickle.loads(sys.stdin.buffer.read())
    with os.fdopen(fd, "wb") as out:
        reader = read_updates(path, **_reader_kwargs(options))
        store = None if catalog is None else CatalogStore(catalog)
        named: set[int] = set()
        message: tuple[str, object, IngestStatistics | None]
        try:
            for index, chunk in enumerate(reader.chunks(rows)):
                looked_up = [] if store is None else [_looked_up(store, chunk, named, first_input)]
                if index or not skip_first:  # the first was read by the planner while this one started
                    _send(out, ("chunk", [*chunk, *looked_up], reader.statistics()))
            message = ("end", None, reader.statistics())
        except (BrokenPipeError, ConnectionResetError):
            return  # the planner stopped early and closed its end
        except InputError as exc:
            message = ("input", (exc.reason, exc.file, exc.line, exc.column), reader.statistics())
        except ConfigError as exc:
            message = ("config", str(exc), reader.statistics())
        except Exception as exc:
            message = ("other", f"{type(exc).__name__}: {exc}", reader.statistics())
        finally:
            reader.close()
            if store is not None:
                store.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _send(out, message)


def _looked_up(store: CatalogStore, chunk: list[Any], named: set[int], first_input: bool) -> LookedUp:
    looked_up = LookedUp.of_chunk(store, chunk, named)
    if first_input:
        return looked_up
    # earlier files of the run were read by other processes: any variant may be in the overlay
    return LookedUp(looked_up.shop, b"\x01" * len(looked_up.named_before))


def _send(out: BinaryIO, message: object) -> None:
    body = pickle.dumps(message, protocol=5)
    out.write(len(body).to_bytes(8, "big"))
    out.write(body)
    out.flush()


def _error(kind: str, payload: Any) -> BulkError:
    if kind == "input":
        reason, file, line, column = payload
        return InputError(reason, file=file, line=line, column=column)
    if kind == "config":
        return ConfigError(str(payload))
    return BulkError(f"reading failed: {payload}")
