"""While a submission runs, a full collection freezes its survivors (the next one walks only what is
new); when the last run ends, the collector gets everything back."""

from __future__ import annotations

import gc
import weakref

from bulk.clock import ManualClock
from bulk.plan.gcpause import _SurvivorsFrozen, survivors_frozen


def test_a_full_collection_during_a_run_freezes_what_survived() -> None:
    gc.unfreeze()
    kept = [[i] for i in range(5_000)]  # long-lived objects of the run
    with survivors_frozen():
        assert gc.get_freeze_count() == 0  # nothing frozen until a full collection ran
        gc.collect(1)
        assert gc.get_freeze_count() == 0  # a young collection freezes nothing
        gc.collect(2)
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0  # the run ended: the collector sees them again
    assert kept[-1] == [4_999]


def test_runs_side_by_side_keep_it_until_the_last_one_ends() -> None:
    gc.unfreeze()
    with survivors_frozen():
        with survivors_frozen():
            gc.collect()
        gc.collect()
        assert gc.get_freeze_count() > 0  # the first run still runs
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gc.get_freeze_count() == 0  # no callback left behind


def test_a_submission_freezes_what_survives_a_gen1_collection_too() -> None:
    """A submission (``from_generation=1``) leaves full collections nothing to walk; a served shop
    beside it in the same process does not lower that, nor raise it when it ends first."""
    gc.unfreeze()
    kept = [[i] for i in range(5_000)]
    with survivors_frozen(1):
        with survivors_frozen():  # `bulk sim` in the same process (sim://)
            gc.collect(0)
            assert gc.get_freeze_count() == 0  # a gen-0 collection freezes nothing
            gc.collect(1)
            assert gc.get_freeze_count() >= len(kept)
        gc.unfreeze()
        gc.collect(1)
        assert gc.get_freeze_count() >= len(kept)  # the submission still runs
    assert gc.get_freeze_count() == 0
    with survivors_frozen():
        gc.collect(1)
        assert gc.get_freeze_count() == 0  # the default again: only full collections freeze
    assert kept[-1] == [4_999]


class Node:
    """Refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_server_reclaims_what_it_froze_every_reclaim_interval() -> None:
    """``bulk sim`` serves for hours: cycles frozen while alive and dropped later are freed by one full
    collection over everything every ``reclaim_every_s``, and the freezing goes on after it."""
    gc.unfreeze()
    clock = ManualClock()
    frozen = _SurvivorsFrozen(clock)
    cycle = Node()
    gone = weakref.ref(cycle)
    with frozen.during_run(1, reclaim_every_s=3600.0):
        gc.collect(1)
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert gone() is not None  # frozen: no collection sees it
        clock.advance(3600.0)
        gc.collect(1)  # the reclaim is due: everything is unfrozen, nothing frozen until a full walk
        assert gc.get_freeze_count() == 0
        gc.collect(1)
        assert gc.get_freeze_count() == 0
        gc.collect(2)
        assert gone() is None  # the full walk freed the dropped cycle
        assert gc.get_freeze_count() > 0  # and froze what survived it
        gc.collect(1)
        assert gc.get_freeze_count() > 0  # back to freezing after gen-1 collections
    assert gc.get_freeze_count() == 0
