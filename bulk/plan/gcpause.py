"""Pause the cyclic garbage collector while reading and planning; keep its full collections short while
a submission runs (:func:`survivors_frozen`).

Reading and planning allocate millions of small, acyclic objects (rows, models, slots, dicts) that live
until a chunk is planned. The cyclic collector would walk them again and again as they accumulate —
measured at 4-6× the cost of the work itself (building a price row: ~3 µs without, ~19 µs with).
Reference counting still frees everything; only cycle detection waits until the block ends.

The collector is process-wide while blocks run in several threads (the reader, the planner): a counter
keeps it paused until the last block ends. When it ends, what survived is *frozen* (``gc.freeze``)
before the collector comes back: the run's long-lived state (the planner's overlay, buffered chunks)
would otherwise be scanned whole at the next collection, after every chunk (measured: ~4 µs a row).
Frozen objects are still freed by reference counting; only cycles among them wait for ``gc.unfreeze``.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from bulk.clock import Clock, MonotonicClock

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Disable the cyclic GC inside the block; it comes back (if it was on) when the last block ends."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.freeze()
                gc.enable()


class _SurvivorsFrozen:
    """While at least one user runs, what survives a collection of generation ``from_generation`` or
    older is frozen at once (the lowest generation any user asked for); every ``reclaim_every_s``
    (the shortest any user asked for), one full collection walks everything again."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self.users: Counter[int] = Counter()  # from_generation → how many users asked for it
        self.reclaims: Counter[float] = Counter()  # reclaim_every_s → how many users asked for it
        self.lock = threading.Lock()
        self.lowest = 2
        self.reclaimed_at = 0.0
        self.reclaiming = False  # unfrozen: the next full collection walks everything

    def _after(self, phase: str, info: dict[str, int]) -> None:
        if phase != "stop":
            return
        if self.reclaiming:  # nothing is frozen until a full collection has walked it all
            if info["generation"] == 2:
                self.reclaiming = False
                self.reclaimed_at = self.clock.now()
                gc.freeze()
        elif self.reclaims and self.clock.now() - self.reclaimed_at >= min(self.reclaims):
            gc.unfreeze()
            self.reclaiming = True
        elif info["generation"] >= self.lowest:
            gc.freeze()

    @contextmanager
    def during_run(self, from_generation: int = 2, *, reclaim_every_s: float | None = None) -> Iterator[None]:
        """A full (gen-2) collection walks every long-lived object not frozen; a run's heap grows to
        millions (catalog picture, plan, pool, outcomes), so each one stopped the process for up to
        ~470 ms (23 a 1/10-scale Black Friday run, 3 s in all: docs/urgent-lane.md) — an urgent change
        that met one waited that long. Freezing the survivors of each full collection leaves the next
        one only what arrived since; but Python starts one when that has grown by a quarter of what
        survived the last, so at full scale each still walked over a million objects (112 a run, up to
        130 ms each). ``from_generation=1`` freezes what survives a gen-1 collection too: full
        collections then find nothing to walk (none at all in a 1/10-scale run; the process's peak
        memory the same). Cycles among frozen objects wait until the last user ends, when everything
        is handed back to the collector — or, for a server that runs for hours (``bulk sim``), until
        the next reclaim: every ``reclaim_every_s`` everything is unfrozen until one full collection
        has walked it (one long pause then instead of one a few seconds)."""
        with self.lock:
            if not self.users:
                gc.callbacks.append(self._after)
                self.reclaimed_at = self.clock.now()
            self.users[from_generation] += 1
            self.lowest = min(self.users)
            if reclaim_every_s is not None:
                self.reclaims[reclaim_every_s] += 1
        try:
            yield
        finally:
            with self.lock:
                self.users[from_generation] -= 1
                self.users += Counter()  # drop the generations nobody asks for any more
                self.lowest = min(self.users, default=2)
                if reclaim_every_s is not None:
                    self.reclaims[reclaim_every_s] -= 1
                    self.reclaims += Counter()
                if not self.users:
                    gc.callbacks.remove(self._after)
                    gc.unfreeze()
                    self.reclaiming = False


survivors_frozen = _SurvivorsFrozen().during_run
