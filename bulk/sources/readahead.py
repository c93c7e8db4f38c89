"""Sources of updates, read ahead in chunks with a bounded buffer.

A submission reads its source concurrently with planning and sending: while chunk *k* is planned and
its bulk operations run, chunk *k+1* is being read. The first chunk is small and each next one twice as
big (up to ``chunk_rows``), so the first operations start within a fraction of a second instead of
after a whole large chunk was read and planned, while later chunks stay large (few planning rounds).

The buffer holds at most ``read_ahead`` chunks, so a fast source against a throttled shop waits
(backpressure) instead of filling memory, and a slow source (a query that takes seconds per batch)
never stalls the senders: total time approaches max(source time, send time) instead of their sum.

Accepted sources: any iterable of updates / row errors (file readers; pulled in a worker thread since
parsing is CPU work), or any async iterable yielding updates, row errors or sequences of them
(a library caller's generator, a SQL cursor, the chunks of files read in a second process:
:mod:`bulk.sources.files`, whose chunks also hold :class:`~bulk.ingest.batch.PriceRows` column batches
and the chunk's :class:`~bulk.plan.diff.LookedUp` catalog rows). A chunk is flushed when it is full,
when the source yields a sequence (a batch boundary: a source of lists only gets its lists back as
chunks), or when the source has been idle for ``flush_after_s``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence
from dataclasses import dataclass

from bulk.errors import BulkError
from bulk.ingest.batch import PriceRows
from bulk.models import RowError, Update
from bulk.plan.diff import LookedUp
from bulk.plan.gcpause import cyclic_gc_paused

Item = Update | RowError | PriceRows | LookedUp  # what StreamPlanner.plan_chunk takes
Source = Iterable[Item] | AsyncIterable[Item | Sequence[Item]]


class SourceError(BulkError):
    """The source raised part-way; what it yielded before is planned and reported. ``items_read``
    counts rows (each row of a :class:`~bulk.ingest.batch.PriceRows` batch)."""

    def __init__(self, message: str, *, items_read: int) -> None:
        self.items_read = items_read
        super().__init__(message)


@dataclass(frozen=True, kw_only=True)
class ReadAhead:
    """Chunking and buffering of a source."""

    chunk_rows: int = 50_000  # the largest chunk
    first_chunk_rows: int = 5_000  # the first chunk; each next one is twice as big, up to chunk_rows
    read_ahead: int = 2  # chunks buffered ahead of the planner
    flush_after_s: float = 0.5  # an idle async source flushes what it has

    def __post_init__(self) -> None:
        if self.chunk_rows < 1 or self.first_chunk_rows < 1:
            raise ValueError("chunk_rows and first_chunk_rows must be positive")

    def rows_of(self, index: int) -> int:
        """How many items chunk ``index`` (0-based) holds at most."""
        return min(self.chunk_rows, self.first_chunk_rows << min(index, 40))


_END = object()


async def chunks(source: Source, config: ReadAhead) -> AsyncGenerator[list[Item], None]:
    """The source as chunks, read ahead by a producer task into a bounded queue.

    If the source raises, every chunk read before is yielded first, then the error: a
    :class:`~bulk.errors.BulkError` as it is (it names its file and line), anything else wrapped in
    :class:`SourceError` saying how many items were read."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max(1, config.read_ahead))
    counter = [0]

    async def produce() -> None:
        try:
            if isinstance(source, AsyncIterable):
                await _produce_async(source, queue, config, counter)
            else:
                await _produce_sync(iter(source), queue, config, counter)
        except BulkError as exc:  # already says where (e.g. InputError: file, line, column)
            await queue.put(exc)
        except Exception as exc:
            await queue.put(SourceError(f"the source failed after {counter[0]} items: "
                                        f"{type(exc).__name__}: {exc}", items_read=counter[0]))
        else:
            await queue.put(_END)

    producer = asyncio.create_task(produce(), name="source-read-ahead")
    try:
        while True:
            got = await queue.get()
            if got is _END:
                return
            if isinstance(got, BulkError):
                raise got
            assert isinstance(got, list)
            yield got
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


async def _produce_sync(it: Iterable[Item], queue: asyncio.Queue[object], config: ReadAhead,
                        counter: list[int]) -> None:
    iterator = iter(it)

    def take(rows: int) -> list[Item]:
        with cyclic_gc_paused():  # parsing allocates millions of small objects: see gcpause
            return list(itertools.islice(iterator, rows))

    for index in itertools.count():
        chunk = await asyncio.to_thread(take, config.rows_of(index))
        if not chunk:
            return
        counter[0] += len(chunk)
        await queue.put(chunk)


async def _produce_async(source: AsyncIterable[Item | Sequence[Item]], queue: asyncio.Queue[object],
                         config: ReadAhead, counter: list[int]) -> None:
    """Pull items through a small hand-off queue so an idle source can be flushed on a timeout
    without cancelling the source's own ``__anext__`` (which would break async generators)."""
    handoff: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

    async def pull() -> None:
        try:
            async for got in source:
                await handoff.put(got)
        except Exception as exc:
            await handoff.put(exc)
        else:
            await handoff.put(_END)

    puller = asyncio.create_task(pull(), name="source-pull")
    chunk: list[Item] = []
    flushed = 0  # full chunks so far (their size grows, see ReadAhead.rows_of)
    try:
        while True:
            try:
                got = await asyncio.wait_for(handoff.get(), timeout=config.flush_after_s if chunk else None)
            except TimeoutError:
                await queue.put(chunk)
                chunk = []
                continue
            if got is _END:
                break
            if isinstance(got, Exception):
                if chunk:
                    await queue.put(chunk)
                raise got
            if isinstance(got, Sequence) and not isinstance(got, str):
                batch = list(got)
                counter[0] += _rows(batch)
                chunk.extend(batch)  # a batch boundary: flush now
                await queue.put(chunk)
                chunk = []
                continue
            assert isinstance(got, Update | RowError | PriceRows | LookedUp)
            counter[0] += _rows([got])
            chunk.append(got)
            if len(chunk) >= config.rows_of(flushed):
                await queue.put(chunk)
                chunk = []
                flushed += 1
        if chunk:
            await queue.put(chunk)
    finally:
        puller.cancel()
        await asyncio.gather(puller, return_exceptions=True)


def _rows(batch: list[Item]) -> int:
    """Input rows in ``batch``: a PriceRows batch is many, a chunk's catalog rows none."""
    kinds = set(map(type, batch))  # in C: a chunk of 50k models is not walked in Python on the event loop
    if PriceRows not in kinds and LookedUp not in kinds:
        return len(batch)
    return sum(len(item) if isinstance(item, PriceRows) else not isinstance(item, LookedUp) for item in batch)
