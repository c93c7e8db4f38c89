"""Which run a submission plans (or resumes, or only reports) — and the run's lock, taken before it
plans anything (:mod:`bulk.submit.runlock`: one run, one process; on a PostgreSQL journal shared
across machines, its session lock too: :mod:`bulk.journal._pg_run_locks`)."""

from __future__ import annotations

from pathlib import Path

from bulk.journal import Journal, Run, RunStatus, SqliteJournal
from bulk.models import OnEvent
from bulk.submit import runlock
from bulk.submit.options import RunOptions
from bulk.submit.submission import INLINE_WORKER
from bulk.submit.timeline import EVENTS_FILE


async def run_to_plan(journal: Journal, run_key: str, request: RunOptions, input_name: str,
                       on_event: OnEvent, *, runs_dir: Path) -> tuple[str, bool, runlock.RunLock | None]:
    """The run key this submission uses, whether it plans from a picture brought up to date now, and the
    run's lock, taken here (:class:`~bulk.errors.RunHeldError` when another live process holds it).

    A new run does (a dry run too); an interrupted one plans again against the cache as it was (its
    decisions must not change: rows in its running operations would turn ``unchanged`` once their
    writes are in the shop); a finished one plans nothing. ``--again``: the first run of the chain
    ``KEY``, ``KEY+again1``, ``KEY+again2``… that has not finished — an interrupted ``--again`` run
    resumes, a finished one is followed by a new run that compares with the shop anew; without it, the
    newest run of that chain (reported when finished, carried on when interrupted). An interrupted
    run that never got past its catalog sync (Ctrl-C while a big shop was exported) planned nothing:
    it is brought up to date like a new one, never planned against a half-synced or stale cache. The
    run is created here as the submission would create it."""
    if request.dry_run:
        return run_key, True, None
    while True:
        key, n = run_key, 0
        while True:
            run, created = await journal.create_run(key, input_name=input_name, input_hash=key,
                                                    options={"route": request.route})
            if created or run.status is not RunStatus.DONE:
                break
            if not request.again:  # the chain's newest run: what the last --again did, or carries on
                key, run = await _newest_of_chain(journal, run_key, key, run)
                break
            n += 1
            key = f"{run_key}+again{n}"
        lock = runlock.hold_run(runs_dir, run.run_id, key)
        try:
            # a journal shared across machines: a process on another one is refused the same way
            await journal.hold_run(run.run_id, holder=lock.holder.describe())
            run = await journal.get_run(run.run_id)  # read again: its last holder may have finished it
        except BaseException:
            lock.release()
            raise
        if created or run.status is not RunStatus.DONE or not request.again:
            break
        await journal.release_run(run.run_id)
        lock.release()  # finished by the process that held it: --again goes on to the next run
    if not created and isinstance(journal, SqliteJournal):
        # the embedded journal's inline units were this run's last process's, now gone (the lock is
        # ours): adopt its units at once rather than after their leases (--lease-s) expire
        await journal.release_run_leases(run.run_id, INLINE_WORKER)
    if not created and run.status is not RunStatus.DONE:
        if not _planned_before(run, runs_dir):
            return key, True, lock
        on_event("catalog_kept", {"run": run.run_id,
                                  "reason": "an interrupted run resumes on the picture it was planned from"})
    return key, created, lock


async def _newest_of_chain(journal: Journal, run_key: str, key: str, run: Run) -> tuple[str, Run]:
    """The last run of the chain ``KEY``, ``KEY+again1``… that exists: a plain submit of a file after
    ``--again`` reports (or resumes) that run, not the first one, whose outcomes are older."""
    n = 1
    while (newer := await journal.find_run(f"{run_key}+again{n}")) is not None:
        key, run, n = f"{run_key}+again{n}", newer, n + 1
    return key, run


def _planned_before(run: Run, runs_dir: Path) -> bool:
    """Whether an interrupted run got past its catalog sync: the journal holds something of it (an
    outcome, a unit), or it began recording its events, which happens right after the sync (a direct
    batch may have been sent before its outcomes were recorded: that run resumes on its picture too)."""
    c = run.counters
    progress = c.rows_finished + c.units_pending + c.units_active + c.units_done + c.units_failed
    return progress > 0 or (runs_dir / run.run_key / EVENTS_FILE).exists()
