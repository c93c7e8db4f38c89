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
from collections.abc import Iterator
from contextlib import contextmanager

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
    """While at least one submission runs, what survives a full collection is frozen at once."""

    def __init__(self) -> None:
        self.users = 0
        self.lock = threading.Lock()

    @staticmethod
    def _after(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    @contextmanager
    def during_run(self) -> Iterator[None]:
        """A full (gen-2) collection walks every long-lived object; a run's heap grows to millions
        (catalog picture, plan, pool, outcomes), so each one stopped the process for up to ~470 ms
        (23 a 1/10-scale Black Friday run, 3 s in all: docs/urgent-lane.md) — an urgent change that
        met one waited that long. Freezing the survivors of each full collection leaves the next one
        only what arrived since (Python starts one when that has grown by a quarter). Cycles among
        frozen objects wait until the last run ends, when everything is handed back to the collector."""
        with self.lock:
            if self.users == 0:
                gc.callbacks.append(self._after)
            self.users += 1
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    gc.callbacks.remove(self._after)
                    gc.unfreeze()


survivors_frozen = _SurvivorsFrozen().during_run
