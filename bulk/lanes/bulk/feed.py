"""Planned lines waiting to become bulk shards: cut just in time, each line into exactly one shard.

Why not shard each chunk as soon as it is planned: a shard's size is best decided when a slot frees
(:mod:`bulk.lanes.bulk._sizing`), and the lane asks this pool for shards of the sizes it needs
(:class:`bulk.lanes.bulk.ports.LineFeed`). A cut writes the shard file and adds its unit to the journal at
once, so from then on the journal owns it exactly as before (claims, adoption, retries).

Lines that add images go first, in short shards at first (:func:`pick_kind`, :func:`media_cap`): their
images are read back once their operation ends (:mod:`bulk.lanes.media_check`), at one point an image
out of the buckets' restore rate, so the run's end waits for them unless their operations end early
and often; the last operations carry the other kinds. While the input is still being read no shard is
long (:data:`OPEN_SHARD_LINES`), so image lines planned late (a file of images read after a file of
prices) find a slot soon. The shop's time is the same, only the order changes; the per-product order
(:mod:`bulk.plan.ordering`) is the admission's, not the pool's, so it holds whatever is cut first.

Exactly once across a crash: what was cut depends on timing, so a shard's identity is a hash of the
rows it holds (``RUNKEY/KIND-DIGEST``), and a submission planned again after a crash must not pool a
line that is already in a shard: :class:`ResumeIndex` tells, from the journal, which lines are in an
unfinished shard (their rows belong to it), which are finished (their rows have outcomes), and which
were never cut.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import get_args

from bulk.journal import Journal, NewUnit, UnitKind, UnitState
from bulk.lanes.bulk import shard_data
from bulk.lanes.bulk.shard_data import from_shard_file
from bulk.models import OnEvent
from bulk.plan import PlannedLine, RowId, write_shards
from bulk.plan.diff import LineKind

OnUnit = Callable[[str, list[PlannedLine]], None]

# kinds whose lines may add images (productUpdate media, productSet files): cut before the others
MEDIA_KINDS = frozenset({"product", "media", "set"})
# lines of such a shard at most, at first: its images come back when it ends, so a shard sized to end
# with the run (the lane's balanced share) would leave every read for the end; 1,000 lines is 20 s at
# 50 lines a second. Later rounds of image shards grow (:func:`media_cap`): each shard costs an
# operation (~1 s of the shop's CREATED delay), and a round of shards ending leaves the follow-up more
# to read than it reads while the next round runs (reads take a bucket point an image, a few hundred a
# second; the slots write 50 lines a second each)
MEDIA_SHARD_LINES = 1_000
# lines of any shard at most while the input is still being read: the lane sizes a cut to end with the
# lines known so far, and lines planned later (the images of a file read after the prices) would wait
# for every slot's long operation; 1,000 lines is 20 s at 50 lines a second. At 2,000 (40 s), Black
# Friday's first images reached a slot 67 s into the run (its images file is planned from 24 s on,
# just after the slots took their third shards), and reading them back — a point an image at the
# buckets' restore rate — ended after the last operation. Price lines cut shorter here go into the
# long shards that end the run: the operations are as many.
OPEN_SHARD_LINES = 1_000


def pick_kind(queued: Mapping[str, tuple[int, int]], size: int, *, min_lines: int) -> str | None:
    """The kind the next cut of ``size`` lines takes, from each kind's (lines queued, arrival of its
    oldest line); None when nothing is queued.

    Kinds that add images first, whenever they have ``min_lines`` lines or can fill the size (a shorter
    image shard is worth it: see :data:`MEDIA_SHARD_LINES`); then the kind planned first that can fill
    the size; else the first of them all, images first."""
    kinds = sorted((k for k, (n, _) in queued.items() if n > 0),
                   key=lambda k: (k not in MEDIA_KINDS, queued[k][1]))
    if not kinds:
        return None
    for kind in kinds:
        if kind in MEDIA_KINDS and queued[kind][0] >= min(size, min_lines):
            return kind
    return next((k for k in kinds if queued[k][0] >= size), kinds[0])


# an image shard is (1 ± this) times its round's size, spread evenly over a round's cuts: fifteen
# shards of one size end together, and their results and their images then come all at once (ten
# 8,000-line operations ended within 0.6 s at Black Friday: the follow-up was handed 160,000 images
# in one go, and the urgent burst then waited 580 ms for this process, its worst of the run)
MEDIA_STAGGER = 0.5
_SPREAD = (5 ** 0.5 - 1) / 2  # the golden ratio's fraction: n × it mod 1 spreads evenly for any n


def media_cap(cuts_before: int, slots: int, first: int = MEDIA_SHARD_LINES) -> int:
    """Lines an image shard may hold after ``cuts_before`` image shards: ``first`` lines in the first
    round of the lane's ``slots``, then twice as many each round (1,000, 2,000, 4,000… lines), so each
    round is about as long as all before it. The follow-up is never left without images to read: a
    round's images take longer to read (a point each, a few hundred a second for 15 slots' worth) than
    the next round takes to run (50 lines a second a slot). A run of 200,000 images takes 4 operations
    a slot instead of 14. Within a round the caps are staggered (:data:`MEDIA_STAGGER`) by the cut's
    number, not by which slot frees first (that would make the early ends earlier still), so the
    operations of a round end one after another."""
    rounds = cuts_before // max(1, slots)
    spread = (0.5 + cuts_before * _SPREAD) % 1.0  # the first shard: the round's own size
    return max(1, round((first << min(rounds, 20)) * (1 - MEDIA_STAGGER + 2 * MEDIA_STAGGER * spread)))


@functools.cache
def _cutter() -> ThreadPoolExecutor:
    """The thread that writes cut shards (one for the process: cuts are short and rare)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-shard-cut")


def root_of(client_identifier: str) -> str:
    """The shard a retry shard descends from (``…/retry/retry`` → ``…``)."""
    return client_identifier.split("/retry", 1)[0]


def digest(lines: Iterable[PlannedLine]) -> str:
    """A short hash of the rows the lines decide: the identity of a shard cut from them."""
    h = hashlib.sha256()
    for line in lines:
        for file, number in line.rows:
            h.update(f"{file}\0{number}\n".encode())
    return h.hexdigest()[:16]


class LinePool:
    """Lines of one run waiting to be cut, one queue per kind: lines that add images first, else first
    planned first cut."""

    def __init__(self, journal: Journal, run_id: int, *, run_key: str, directory: Path, inline: bool,
                 on_unit: OnUnit, on_event: OnEvent | None = None, min_lines: int = 1,
                 media_lines: int = MEDIA_SHARD_LINES, open_lines: int = OPEN_SHARD_LINES,
                 all_known: asyncio.Event | None = None, slots: int = 1) -> None:
        self._journal = journal
        self._media_lines, self._open_lines = media_lines, open_lines
        self._slots = slots  # the lane's operation slots: image shards grow a round at a time
        self._media_cuts = 0  # image shards cut so far
        self._all_known = all_known  # set once the input is read (None: every line is known)
        self._min_lines = min_lines  # a kind's rest smaller than this goes with the cut before it
        self._on_event = on_event or (lambda _name, _data: None)
        self._run_id = run_id
        self._run_key = run_key
        self._directory = directory
        self._inline = inline
        self._on_unit = on_unit
        self._queues: dict[str, _Runs] = {k: _Runs() for k in get_args(LineKind)}
        self._order = itertools.count()
        self.cuts = 0

    def add(self, lines: Iterable[PlannedLine]) -> None:
        """Admitted lines, ready to be cut (each run of one kind kept whole: a chunk's 240,000 lines
        are a few runs, not a Python step each on the event loop, which is the urgent lane's too)."""
        for kind, run in itertools.groupby(lines, key=attrgetter("kind")):
            self._queues[kind].append(next(self._order), list(run))

    @property
    def pooled(self) -> int:
        """Lines waiting to be cut."""
        return sum(q.size for q in self._queues.values())

    def _take(self, size: int) -> list[PlannedLine]:
        """At most ``size`` lines of one kind (:func:`pick_kind`; image shards at most
        :func:`media_cap`, any shard at most ``open_lines`` while the input is still being read)."""
        kind = pick_kind({k: (q.size, q.first_arrival) for k, q in self._queues.items() if q.size}, size,
                         min_lines=self._min_lines)
        if kind is None:
            return []
        queue = self._queues[kind]
        if kind in MEDIA_KINDS:
            size = min(size, media_cap(self._media_cuts, self._slots, self._media_lines))
        if self._all_known is not None and not self._all_known.is_set():
            size = min(size, self._open_lines)
        if queue.size - size < self._min_lines:
            size = queue.size  # a tiny rest of this kind would be an operation of its own later
        if kind in MEDIA_KINDS:
            self._media_cuts += 1
        return queue.take(size)

    async def cut(self, sizes: Sequence[int]) -> int:
        """Cut shards of these sizes (fewer lines when the pool runs dry) and add them to the journal."""
        batches: list[list[PlannedLine]] = []
        for size in sizes:
            lines = self._take(size)
            if not lines:
                break
            batches.append(lines)
        if not batches:
            return 0
        # one trip to the pool's own thread for every file: not queued behind the worker threads'
        # other jobs (15 operations ending together parse and decide their results in them), which
        # held Black Friday's next shards 4-7 s after their slots freed
        made = await asyncio.get_running_loop().run_in_executor(_cutter(), self._write, batches)
        for ident, lines, _unit in made:
            self._on_unit(ident, lines)
        units = [unit for _, _, unit in made]
        await self._journal.add_units(self._run_id, units)
        self.cuts += len(units)
        self._on_event("sharded", {"shards": len(units), "lines": sum(u.line_count for u in units)})
        return len(units)

    def _write(self, batches: list[list[PlannedLine]]) -> list[tuple[str, list[PlannedLine], NewUnit]]:
        """The shard files of each batch and their units (blocking: runs in a worker thread)."""
        out: list[tuple[str, list[PlannedLine], NewUnit]] = []
        for lines in batches:
            tag = digest(lines)
            ident = f"{self._run_key}/{lines[0].kind}-{tag}"
            shards = write_shards(lines, self._directory, shards=1, prefix=tag)
            for i, shard in enumerate(shards):  # one, unless the lines pass the upload size limit
                unit_ident = ident if len(shards) == 1 else f"{ident}.{i}"
                out.append((unit_ident, [lines[n] for n in shard.line_indexes],
                            from_shard_file(unit_ident, shard, inline=self._inline)))
        return out

    def __repr__(self) -> str:
        return f"LinePool(pooled={self.pooled}, cuts={self.cuts})"


class _Runs:
    """Lines of one kind in the order they were added, kept as the runs they were added in; a run's
    arrival number orders it among every kind's runs (the pool's arrival of its oldest line)."""

    def __init__(self) -> None:
        self._runs: deque[tuple[int, list[PlannedLine]]] = deque()
        self._taken = 0  # lines of the first run already taken
        self.size = 0

    def append(self, arrival: int, lines: list[PlannedLine]) -> None:
        self._runs.append((arrival, lines))
        self.size += len(lines)

    @property
    def first_arrival(self) -> int:
        return self._runs[0][0]

    def take(self, size: int) -> list[PlannedLine]:
        """The first ``size`` lines (fewer if there are not as many)."""
        out: list[PlannedLine] = []
        while len(out) < size and self._runs:
            run = self._runs[0][1]
            piece = run[self._taken:self._taken + size - len(out)]
            out += piece
            self._taken += len(piece)
            if self._taken == len(run):
                self._runs.popleft()
                self._taken = 0
        self.size -= len(out)
        return out


@dataclass
class ResumeIndex:
    """Where the lines of a run planned again after a crash already are (see the module docstring)."""

    in_shard: dict[RowId, str] = field(default_factory=dict)  # row -> root identity of its open shard
    finished: set[RowId] = field(default_factory=set)  # rows with an outcome

    @classmethod
    async def load(cls, journal: Journal, run_id: int) -> ResumeIndex:
        """Read the run's unfinished shards and its outcomes.

        Units first: a shard that ends between the two reads has its rows in ``in_shard`` (the caller
        learns of its end), never in neither set, which would send them again."""
        units = await journal.list_units(run_id)
        index = cls(finished={(o.file, o.line) for o in await journal.list_outcomes(run_id)})
        for unit in units:
            if unit.kind != UnitKind.BULK_SHARD or unit.state in (UnitState.DONE, UnitState.FAILED):
                continue
            data = await asyncio.to_thread(shard_data.load, unit)
            root = root_of(unit.client_identifier)
            for rows in data.rows:
                index.in_shard.update(dict.fromkeys(rows, root))
        return index

    def sort(self, lines: Iterable[PlannedLine]) -> tuple[list[PlannedLine], dict[str, list[PlannedLine]],
                                                         list[PlannedLine]]:
        """(never cut, {root: lines already in that open shard}, finished)."""
        fresh: list[PlannedLine] = []
        held: dict[str, list[PlannedLine]] = {}
        finished: list[PlannedLine] = []
        for line in lines:
            root = self.in_shard.get(line.rows[0]) if line.rows else None
            if root is not None:
                held.setdefault(root, []).append(line)
            elif line.rows and all(row in self.finished for row in line.rows):
                finished.append(line)
            else:
                fresh.append(line)
        return fresh, held, finished
