"""After a run: follow the images it added until Shopify has processed them (READY) or given up (FAILED).

Why: ``productUpdate(media:)`` and ``productSet(files:)`` return as soon as the media *exist*; Shopify
downloads and processes each source afterwards (``MediaStatus`` UPLOADED → PROCESSING → READY, or
FAILED with ``mediaErrors``, e.g. ``IMAGE_DOWNLOAD_FAILURE`` for a URL it cannot fetch). A row is only
really applied when its images are READY; one whose image FAILED is ``rejected`` with Shopify's reason.

How (docs/input-formats.md, "Images are verified"):

- **What is read**: the new images by id when a bulk operation's results named the product's media
  (:mod:`bulk.lanes._media_ids`: 1 point an image), else the *last n* images of each product, where n
  is how many images the line wrote (append: the images added, which Shopify puts after the existing
  ones; replace: the whole new list). Position i of what was written is position i of those n: that
  is also how a new image's GID is tied to the URL we sent
  (:meth:`bulk.catalog.media.ProductContent.remember_sources`).
- **Batched, cost-aware, lowest priority**: one query aliases ``node(id:)`` for many images (by id)
  or products (:mod:`bulk.lanes._media_products`, at most 700 requested points), sent through the
  scheduler at :attr:`~bulk.models.Lane.BACKGROUND`: behind urgent work (which keeps its reserve) and
  behind the bulk operations' control calls — a poll or a start queued behind a follow-up query
  would wait for that query's points (the scheduler serves the head of its queue), so an operation's
  end would be seen late and its slot would idle.
- **Alongside the run**: a :class:`MediaFollower` takes each line's images as soon as the line is done
  (a direct answer, a bulk operation whose results were read: they name the new images) and reads
  them ``first_read_s`` later, while the rest of the run is still being sent (bulk operations cost
  no points: the buckets are free for this),
  :data:`READS_IN_FLIGHT` queries at a time; what is still processing is read again after 2, 4, 8… s
  (at most ``max_poll_s``). Reading costs a point an image and the buckets restore a few hundred a
  second, so the images must come back *early*: the bulk lane cuts lines that add images first, in
  short shards (:mod:`bulk.lanes.bulk.feed`), and the last operations of a run carry the other kinds.
- **At the end, a bulk query only when it pays**: a bulk query (``queries/media_export.graphql``:
  products written since the run started, with their media) costs no bucket points but exports every
  product the run wrote (prices too) and reads nothing unless it finishes; :func:`export_pays` takes it
  for what is due once the run's last line is done only when it ends within half the wait left and
  before the direct reads would. What is still processing after it is read directly.
- **Bounded**: once the run's last line is done the follower goes on for at most ``wait_s`` (shop
  time, default :data:`MEDIA_WAIT_S`), checked before every query — reads queued while the run went
  on included; what is still processing then is reported as such (the row stays ``applied``, its
  reason says the image was still processing).

The decisions (:func:`watch_of`, :func:`judge`, :func:`batches`, :func:`next_read_s`,
:func:`export_pays`: :mod:`bulk.lanes._media_rules`) are pure;
:class:`MediaFollower` only carries them out.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable, Iterable, Sequence

from bulk.catalog.sync import ExportPort
from bulk.clock import Clock, wait_event
from bulk.lanes._media_export import read_by_export
from bulk.lanes._media_ids import id_groups, read_ids, tail_of
from bulk.lanes._media_products import batches, query_cost, read_products
from bulk.lanes._media_rules import (
    EXPORT_START_S,
    MAX_POLL_S,
    POLL_S,
    MediaReport,
    MediaWatch,
    State,
    Verdict,
    export_pays,
    export_s,
    judge,
    next_read_s,
    watch_of,
)
from bulk.shopify.requester import Requester

__all__ = ["EXPORT_START_S", "FIRST_READ_S", "MAX_POLL_S", "MEDIA_WAIT_S", "POLL_S", "READS_IN_FLIGHT",
           "ROUND_MOST", "MediaFollower", "MediaReport", "MediaWatch", "State", "Verdict", "export_pays",
           "export_s", "follow_media", "judge", "next_read_s", "watch_of"]

MEDIA_WAIT_S = 30.0  # Shopify processes most images within seconds; a run does not wait past this
FIRST_READ_S = 2.0  # after a line is done: reading at once would mostly find images still processing
READS_IN_FLIGHT = 2  # follow-up queries at once: one waits for points while the other's answer comes
# watches a round reads at most: a round's bookkeeping runs on the loop the urgent lane shares, and
# fifteen image operations' watches (120,000) coming due together were one round of ~50 ms steps
ROUND_MOST = 4_000

class MediaFollower:
    """Follows the images of lines handed to it (:meth:`add`) until each is settled, while the run goes
    on; :meth:`finish` says the run's last line is done and returns the report after the bounded wait.

    :data:`READS_IN_FLIGHT` queries at a time, at :attr:`~bulk.models.Lane.BACKGROUND`: the follow-up
    never holds up urgent work or the bulk operations' control calls, and never asks the buckets for
    more than those queries' points at once."""

    def __init__(self, requester: Requester, *, clock: Clock, first_read_s: float = FIRST_READ_S,
                 poll_s: float = POLL_S, max_poll_s: float = MAX_POLL_S, export: ExportPort | None = None,
                 since: str | None = None, on_settled: Callable[[int, Verdict], None] | None = None) -> None:
        self._requester, self._clock = requester, clock
        self._on_settled = on_settled or (lambda _i, _v: None)  # a watch READY or FAILED, as it happens
        self._export, self._since = export, since  # the bulk query path, and its updated_at bound
        self._first_read_s, self._poll_s, self._max_poll_s = first_read_s, poll_s, max_poll_s
        self.watches: list[MediaWatch] = []
        self.report = MediaReport()
        self._due: dict[int, float] = {}  # pending watch index → when to read it next
        # The same as a heap of (when, index), so a round finds what is due without walking every
        # pending watch (200,000 at Black Friday's end: 60 ms steps on the loop the urgent lane shares);
        # an entry whose time ``_due`` no longer holds is dropped when met.
        self._soonest: list[tuple[float, int]] = []
        self._unread: set[int] = set()  # pending and never read: all of them are due once the run ends
        self._reads: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._ended_at: float | None = None
        self._wait_s = MEDIA_WAIT_S
        self.written = 0  # lines the run wrote so far (all kinds): what a bulk query would read back

    def add(self, watches: Iterable[MediaWatch]) -> None:
        """Follow these lines' images, the first read ``first_read_s`` from now."""
        due = self._clock.now() + self._first_read_s
        for watch in watches:
            self._unread.add(len(self.watches))
            self._schedule(len(self.watches), due)
            self.watches.append(watch)
        self._wake.set()

    async def run(self, wait_s: float = MEDIA_WAIT_S) -> MediaReport:
        """Read what is due until :meth:`finish` was called and every watch is settled, or ``wait_s``
        has passed since then."""
        clock = self._clock
        self._wait_s = wait_s
        while True:
            now, ended_at = clock.now(), self._ended_at
            if ended_at is not None and (not self._due or now - ended_at >= wait_s):
                break
            due = self._due_now(now, ended=ended_at is not None)
            if due and ended_at is not None and self._export is not None and export_pays(
                    sum(self._points(i) for i in due), self.written, wait_s - (now - ended_at)):
                # half what is left of the wait: if the export is slow, direct reads get the rest
                await self._export_round(due, deadline=now + (wait_s - (now - ended_at)) / 2)
                continue
            if due:  # a round stops at the bound too: the run's end never waits past ``wait_s``
                await self._read_round(due)
                if ended_at is not None and clock.now() - ended_at >= wait_s:
                    break
                continue
            self._wake.clear()
            until = (self._soonest[0][0] if self._next_due() else now + self._max_poll_s) - now
            if ended_at is not None:
                until = min(until, wait_s - (now - ended_at))
            await wait_event(self._wake, max(until, 0.0), clock)
        self.report.waited_s = 0.0 if self._ended_at is None else clock.now() - self._ended_at
        return self.report

    def _schedule(self, i: int, at: float) -> None:
        self._due[i] = at
        heapq.heappush(self._soonest, (at, i))

    def _next_due(self) -> bool:
        """Drop the heap's stale head entries; whether a pending watch is left at its head."""
        heap = self._soonest
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return bool(heap)

    def _due_now(self, now: float, *, ended: bool) -> list[int]:
        """The watches to read now, in the order they were added: while the run goes on at most
        :data:`ROUND_MOST` (the earliest due first; the rest stay due for the next round); once the
        run is done every due one and whatever was never read (no point waiting for it; the export's
        choice weighs them all). Taken off the heap: each is read in the round that follows, which
        schedules it again unless settled (a round stops early only at the bound, and then the
        follower ends)."""
        due: set[int] = set(self._unread) if ended else set()
        most = math.inf if ended else ROUND_MOST
        while len(due) < most and self._next_due() and self._soonest[0][0] <= now:
            due.add(heapq.heappop(self._soonest)[1])
        return sorted(due)

    def _points(self, i: int) -> float:
        """Bucket points reading watch ``i`` directly costs."""
        watch = self.watches[i]
        return len(watch.media_ids) if watch.media_ids else query_cost(watch.last, 1)

    def _past_bound(self) -> bool:
        """The run is done and its wait is over: no more reads (checked before each query, so a round
        begun while the run went on stops at the bound too)."""
        return self._ended_at is not None and self._clock.now() - self._ended_at >= self._wait_s

    def finish(self) -> None:
        """The run's last line is done: from now on, wait at most ``wait_s`` for what is pending."""
        self._ended_at = self._clock.now()
        verdicts = self.report.verdicts.values()
        self.report.settled_in_run = sum(v.state in ("ready", "failed") for v in verdicts)
        self._wake.set()

    async def _export_round(self, due: list[int], *, deadline: float) -> None:
        assert self._export is not None
        self.report.exports += 1
        found = await read_by_export(self._export, [self.watches[i].product_id for i in due], self._since,
                                     self._clock, deadline=deadline)
        self._settle([(i, judge(self.watches[i], found.get(self.watches[i].product_id))) for i in due])
        if not found:
            self._export = None  # refused or empty: read directly from now on

    def _settle(self, verdicts: list[tuple[int, Verdict]]) -> None:
        now = self._clock.now()
        for i, verdict in verdicts:
            self.report.verdicts[i] = verdict
            self._reads[i] = reads = self._reads.get(i, 0) + 1
            self._unread.discard(i)
            if verdict.state in ("ready", "failed"):
                self._due.pop(i, None)
                self._on_settled(i, verdict)
            else:
                self._schedule(i, now + next_read_s(reads, self._poll_s, self._max_poll_s))

    async def _read_round(self, due: list[int]) -> None:
        """Read these watches: by id where the results named their images, else by product; up to
        :data:`READS_IN_FLIGHT` queries at once."""
        index = {id(self.watches[i]): i for i in due}
        gate = asyncio.Semaphore(READS_IN_FLIGHT)

        async def by_ids(group: list[MediaWatch]) -> None:
            async with gate:
                if self._past_bound():
                    return  # the rest stays unread: reported as not verified
                found, queries = await read_ids(self._requester, [m for w in group for m in w.media_ids])
                self.report.queries += queries
                self._settle([(index[id(watch)], judge(watch, tail_of(watch, found))) for watch in group])

        async def by_products(group: list[MediaWatch]) -> None:
            async with gate:
                if self._past_bound():
                    return
                self.report.queries += 1
                self.report.product_queries += 1
                nodes = await read_products(self._requester, group)
                self._settle([(index[id(w)], judge(w, nodes.get(at))) for at, w in enumerate(group)])

        async with asyncio.TaskGroup() as tg:
            for group in id_groups(self.watches[i] for i in due if self.watches[i].media_ids):
                tg.create_task(by_ids(group))
            for group in batches(self.watches[i] for i in due if not self.watches[i].media_ids):
                tg.create_task(by_products(group))


async def follow_media(
    requester: Requester,
    watches: Sequence[MediaWatch],
    *,
    clock: Clock,
    wait_s: float = MEDIA_WAIT_S,
    poll_s: float = POLL_S,
) -> MediaReport:
    """Read these images (at once, then as they come due) until each is READY or FAILED, or ``wait_s``
    has passed: a :class:`MediaFollower` for lines that are all done already."""
    follower = MediaFollower(requester, clock=clock, first_read_s=0.0, poll_s=poll_s, max_poll_s=poll_s)
    follower.add(watches)
    follower.finish()
    return await follower.run(wait_s)
