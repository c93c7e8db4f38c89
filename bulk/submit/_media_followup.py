"""The end of a run that added images: follow them up, and make rows whose image FAILED ``rejected``.

The journal keeps a row's first outcome for good (a mutation Shopify applied *was* applied), so the
verdict on its images is kept beside it, in the run's folder (``media.json``: ``[file, line, status,
reason]`` per amended row), and applied to the outcomes whenever the report is written — the same
report when the same input is submitted again after the run finished. What :mod:`bulk.lanes.media_check`
reads back of applied rows also goes into the catalog: which media GID is which URL we sent, and each
image's status. A resumed run (after a crash) follows only the lines it sends itself.

Those catalog writes happen while the run goes on, a few thousand images at a time as they settle, on
a connection of their own (:class:`CatalogWrites`): written at the end, 200,000 images held a Black
Friday run's end for 3 s. Only images read by id go in early — their ids came from an applied line's
results, so they are ours whatever the verdict; the rest (read as a product's newest images) wait for
the end, where a row's outcome tells whether its line added them at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from bulk.catalog import CatalogStore
from bulk.catalog.sync import ExportPort
from bulk.clock import Clock
from bulk.journal import Outcome
from bulk.lanes.bulk.feed import MEDIA_KINDS
from bulk.lanes.media_check import MediaFollower, MediaReport, MediaWatch, Verdict, watch_of
from bulk.models import OnEvent, Outcomes, OutcomeStatus, RowId
from bulk.plan import PlannedLine
from bulk.shopify.requester import Requester

VERDICTS_FILE = "media.json"
SINCE_MARGIN_S = 120.0
FLUSH_IMAGES = 5_000  # settled images written to the catalog at once while the run goes on
# image lines of one done shard whose watches are made on the event loop (~5 ms); more go to a thread
WATCHES_ON_LOOP = 1_000

MediaRecord = tuple[str, str, str, str | None]  # (media GID, URL sent, status, error code)


def export_of(port: object) -> ExportPort | None:
    """The bulk port as a bulk *query* port, when it is one (the shop's is; a test's fake may not be)."""
    return cast(ExportPort, port) if hasattr(port, "start_query") else None


class CatalogWrites:
    """Settled images go into the catalog while the run goes on, off the event loop, through a
    connection of their own (the planner reads through the run's; SQLite's write-ahead log lets both
    work). An in-memory catalog (tests) has no second connection: everything waits for the end."""

    def __init__(self, path: str | None) -> None:
        self._path = None if path in (None, ":memory:") else path
        self._pending: list[MediaRecord] = []
        self._store: CatalogStore | None = None
        self._flush: asyncio.Task[None] | None = None

    def add(self, media: Iterable[MediaRecord]) -> bool:
        """Keep these for the catalog; False when they must wait for the end (no second connection)."""
        if self._path is None:
            return False
        self._pending.extend(media)
        if len(self._pending) >= FLUSH_IMAGES and (self._flush is None or self._flush.done()):
            batch, self._pending = self._pending, []
            self._flush = asyncio.create_task(asyncio.to_thread(self._write, batch), name="media-catalog")
        return True

    @property
    def started(self) -> bool:
        """Whether a write of settled images has been started while the run goes on."""
        return self._flush is not None

    async def flushed(self) -> None:
        """Wait for the write under way, if any (the pending ones wait for the next or the end)."""
        if self._flush is not None:
            await self._flush

    def _write(self, media: list[MediaRecord]) -> None:
        if self._store is None:
            self._store = CatalogStore(self._path or ":memory:")
        write_media(self._store, media)

    async def close(self) -> None:
        """Write what is pending and let the connection go."""
        await self.flushed()
        if self._pending:
            batch, self._pending = self._pending, []
            await asyncio.to_thread(self._write, batch)
        if self._store is not None:
            self._store.close()
            self._store = None


def write_media(catalog: CatalogStore, media: Sequence[MediaRecord]) -> None:
    """Which media GID is which URL we sent, and each image's status (blocking)."""
    catalog.content.remember_sources([(gid, url) for gid, url, _, _ in media])
    catalog.content.set_status([(gid, status, code) for gid, _, status, code in media])


class MediaFollowUp:
    """One run's follow-up: lines are handed over as they are done (:meth:`lines_done`), their images
    read while the run goes on; :meth:`finish` waits (bounded) for the rest and amends the rows."""

    def __init__(self, requester: Requester, *, clock: Clock, wait_s: float,
                 export: ExportPort | None = None, catalog_path: str | None = None) -> None:
        # products written since a little before now: what a bulk query reads back (clocks differ a
        # little, updatedAt has whole seconds; reading more products than ours is harmless)
        since = (datetime.now(UTC) - timedelta(seconds=SINCE_MARGIN_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._follower = MediaFollower(requester, clock=clock, export=export, since=since,
                                       on_settled=self._settled)
        self._writes = CatalogWrites(catalog_path)
        self._written: set[int] = set()  # watches whose images are in the catalog already
        self._unwritten: list[MediaRecord] = []  # what finish() leaves for store()
        self._wait_s = wait_s
        self._task: asyncio.Task[MediaReport] | None = None
        self._media_of: dict[RowId, list[str]] = {}  # a row → its product's media GIDs after the write
        self._waiting: dict[RowId, int] = {}  # a followed watch's first row → its index, until its ids come
        self._adding: set[asyncio.Task[None]] = set()  # done lines' watches being made in a worker thread

    def note_outcomes(self, outcomes: Iterable[Outcome]) -> None:
        """Bulk results name each written product's media (:func:`bulk.lanes.bulk.reconcile.media_ids`),
        so the new images are read by id. A bulk line is handed over once its results are read
        (``Sending._lane_event``), so its watch gets the ids then; else they wait for it here."""
        watches = self._follower.watches
        for o in outcomes:
            if not o.object_id or o.status is not OutcomeStatus.APPLIED:
                continue
            row = (o.file, o.line)
            at = self._waiting.pop(row, None)
            if at is None:
                self._media_of[row] = o.object_id.split()
            else:
                watches[at] = _with_ids(watches[at], o.object_id.split())

    def lines_done(self, lines: Iterable[PlannedLine]) -> None:
        """These lines are done (applied or not: only applied rows get a verdict, at the end)."""
        lines = list(lines)
        self._follower.written += len(lines)  # what a bulk query at the end would read back
        # a price shard's 18,000 lines are not looked at one by one on the event loop
        media = [line for line in lines if line.kind in MEDIA_KINDS]
        if len(media) <= WATCHES_ON_LOOP:
            self._follow(_watches(media))
            return
        # an image shard of 8,000 lines is ~50 ms of Python: a worker thread's (the loop is urgent's
        # too); results read meanwhile wait in `_media_of` for their watch, as they do for a later line
        task = asyncio.create_task(self._follow_later(media), name="media-watches")
        self._adding.add(task)
        task.add_done_callback(self._adding.discard)

    async def _follow_later(self, media: list[PlannedLine]) -> None:
        watches = await asyncio.to_thread(_watches, media)
        for start in range(0, len(watches), WATCHES_ON_LOOP):  # the loop free for others between
            if start:
                await asyncio.sleep(0)
            self._follow(watches[start:start + WATCHES_ON_LOOP])

    def _follow(self, watches: list[MediaWatch]) -> None:
        if not watches:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._follower.run(self._wait_s), name="media-follow-up")
        start = len(self._follower.watches)
        for i, watch in enumerate(watches):
            media = self._media_of.pop(watch.rows[0], None) if watch.rows else None
            if media is not None:
                watches[i] = _with_ids(watch, media)
            elif watch.rows:
                self._waiting[watch.rows[0]] = start + i
        self._follower.add(watches)

    def _settled(self, index: int, verdict: Verdict) -> None:
        if self._follower.watches[index].media_ids and self._writes.add(verdict.media):
            self._written.add(index)

    async def cancel(self) -> None:
        """The run failed, or others send its lines: stop reading (what settled is in the catalog)."""
        for adding in list(self._adding):
            adding.cancel()
        await asyncio.gather(*self._adding, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
        await self._writes.close()

    async def finish(self, outcomes: Outcomes, workdir: Path, on_event: OnEvent) -> dict[str, int]:
        """Wait for the images still processing (at most ``wait_s``), then amend the rows (see the
        module docstring); returns watched products by final state (empty: the run added no image).
        What is left to write to the catalog waits for :meth:`store`."""
        await asyncio.gather(*self._adding)  # every done line's images are followed
        if self._task is None:
            return {}
        follower = self._follower
        on_event("media_follow_up", {"products": len(follower.watches), "wait_s": self._wait_s})
        follower.finish()
        report = await self._task
        # 200,000 watches are half a second of Python: in a worker thread (the loop is urgent's too)
        counts = await asyncio.to_thread(self._judge_rows, report, outcomes, workdir)
        on_event("media_checked", {**counts, "queries": report.queries, "exports": report.exports,
                                   "product_queries": report.product_queries,
                                   "waited_s": report.waited_s, "settled_in_run": report.settled_in_run})
        return counts

    def _judge_rows(self, report: MediaReport, outcomes: Outcomes, workdir: Path) -> dict[str, int]:
        """Count the watches of applied rows by verdict, keep their images for :meth:`store` and
        write the amended rows to ``media.json`` (blocking)."""
        amended: dict[RowId, tuple[str, str]] = {}
        counts = {"ready": 0, "failed": 0, "processing": 0, "unread": 0}
        for i, watch in enumerate(self._follower.watches):
            verdict = report.verdicts.get(i) or Verdict("unread", "its images were not read back")
            if not watch.rows or not all(outcomes.get(row, (None, ""))[0] is OutcomeStatus.APPLIED
                                         for row in watch.rows):
                continue  # not applied: the images were not added
            counts[verdict.state] += 1
            if i not in self._written:
                self._unwritten += verdict.media
            if verdict.state != "ready":
                status = OutcomeStatus.REJECTED if verdict.state == "failed" else OutcomeStatus.APPLIED
                amended.update((row, (status.value, verdict.reason)) for row in watch.rows)
        path = workdir / VERDICTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([[f, n, s, r] for (f, n), (s, r) in amended.items()]), encoding="utf-8")
        return counts

    async def store(self, catalog: CatalogStore) -> None:
        """Write what :meth:`finish` left for the catalog (the report does not wait for this)."""
        await self._writes.close()
        media, self._unwritten = self._unwritten, []
        if media:
            await asyncio.to_thread(write_media, catalog, media)


def _watches(lines: list[PlannedLine]) -> list[MediaWatch]:
    """The watches of lines that add images (blocking, for a big shard: a worker thread's)."""
    return [w for w in map(watch_of, lines) if w is not None]


def _with_ids(watch: MediaWatch, media: list[str]) -> MediaWatch:
    """The watch with the GIDs of its new images: the product's media after the write end with the
    ``last`` the line wrote, in its order."""
    if len(media) < watch.last:
        return watch
    tail = media[len(media) - watch.last:]
    # not dataclasses.replace: twice the time, for each of a shard's thousands of images on the loop
    return MediaWatch(watch.product_id, watch.last, watch.new, watch.rows,
                      tuple(tail[position] for position, _ in watch.new))


def amend_outcomes(outcomes: Outcomes, workdir: Path) -> Outcomes:
    """``outcomes`` with the image verdicts of the run in ``workdir`` applied (the same dict when there
    are none)."""
    path = workdir / VERDICTS_FILE
    if not path.is_file():
        return outcomes
    amended = json.loads(path.read_text(encoding="utf-8"))
    if not amended:
        return outcomes
    out = dict(outcomes)
    for file, line, status, reason in amended:
        if (file, line) in out:
            out[(file, line)] = (OutcomeStatus(status), reason)
    return out
