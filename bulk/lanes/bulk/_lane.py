"""The bulk lane: claim JSONL shards from the journal and run them as bulk mutation operations.

Per shard (:mod:`bulk.lanes.bulk._operation`): staged upload → ``bulkOperationRunMutation`` → journal
``mark_submitted`` (so a worker that takes the shard over after a crash *adopts* the running operation
instead of starting it twice) → poll until it ends (timed by its estimated end) → reconcile its results
(:mod:`bulk.lanes.bulk.reconcile`).

Keeping the shop's operation slots busy is this module's job: the slot an operation held is free the
moment its end is seen (results are reconciled beside the next operation, not before it), and the
next shard is cut (from a :class:`LineFeed`, sized by :mod:`bulk.lanes.bulk._sizing`), claimed and uploaded
*before* a slot frees — the lane watches each running operation's expected end on a
:class:`~bulk.lanes.bulk._slots.SlotBoard` — so only ``bulkOperationRunMutation`` remains when it does.

A held shard's lease is renewed while it is worked on; a worker that cannot renew stops touching it
(self-fencing) and the next claimant adopts it. Every write is idempotent, so a crash at any point and a
re-run of the same command end with each row's one outcome. Control calls go through the scheduler at
bulk priority inside the :class:`BulkOpsPort` implementation; this module only decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
from pathlib import Path

from bulk.clock import Clock, MonotonicClock, wait_event
from bulk.errors import (
    JournalError,
    LeaseLostError,
    MaybeAppliedError,
    RunStoppedError,
    SchedulerError,
    ShopifyError,
    ThrottledError,
    TokenRefusedError,
    TransientError,
)
from bulk.journal import Claim, Journal, UnitKind, UnitState
from bulk.lanes.bulk._operation import Holding, LaneParts, OperationSteps
from bulk.lanes.bulk._refusals import Refusals
from bulk.lanes.bulk._sizing import Pace, cut_sizes, first_trip
from bulk.lanes.bulk._slots import LeadMeter, PaceMeter, SlotBoard
from bulk.lanes.bulk.ports import (
    BulkLaneConfig,
    BulkOpsPort,
    LineFeed,
    OpStatus,
    decode_remote,
    encode_remote,
)
from bulk.lanes.bulk.reconcile import KeepOutcomes, OnOutcomes, decide
from bulk.models import OnEvent

__all__ = ["BulkLane", "BulkLaneConfig", "BulkOpsPort", "LineFeed", "OpStatus", "decide", "decode_remote",
           "encode_remote"]

log = logging.getLogger(__name__)

# faults after which a shard is given back to the journal rather than failing the whole run: the
# shop's transient faults and pacing past the budget, a lost permit, the coordination store away, and a
# start that may have been applied (never resent: the next attempt adopts it by its clientIdentifier)
TRANSIENT = (TransientError, ThrottledError, SchedulerError, MaybeAppliedError)


def _lease_lost(claim: Claim) -> None:
    """This worker no longer holds the shard: nothing more is written on ``claim``."""
    log.warning("lease lost; another worker will adopt the shard",
                extra={"action": "bulk.lease_lost", "unit": claim.unit_id})


class BulkLane:
    """Claims and runs a run's shards, at most ``ops_per_token`` operations per token at once."""

    def __init__(
        self,
        port: BulkOpsPort,
        journal: Journal,
        config: BulkLaneConfig,
        *,
        worker_id: str,
        workdir: Path | None = None,
        clock: Clock | None = None,
        lease_clock: Clock | None = None,
        on_event: OnEvent | None = None,
        on_outcomes: OnOutcomes | None = None,
        keep: KeepOutcomes | None = None,
    ) -> None:
        self._journal = journal
        self._config = config
        self._worker = worker_id
        self._clock = clock or MonotonicClock()  # polls, pace, back-offs: the shop's time
        self._lease_clock = lease_clock or self._clock  # lease renewals: the journal's time
        self._on_event = on_event or (lambda _name, _data: None)
        self._board = SlotBoard(config.tokens, config.ops_per_token)
        self._wake = asyncio.Event()
        self._pace = PaceMeter(config.lines_per_s, config.op_overhead_s)
        self._lead = LeadMeter(config.look_ahead_s)
        self._parts = LaneParts(port=port, journal=journal, config=config, clock=self._clock,
                                lease_clock=self._lease_clock,
                                workdir=workdir or Path(tempfile.gettempdir()) / "bulk-uploads",
                                board=self._board, pace=self._pace, lead=self._lead, wake=self._wake.set,
                                on_event=self._on_event, on_outcomes=on_outcomes or (lambda _outcomes: None),
                                keep=keep)
        self._steps = OperationSteps(self._parts)
        self._refusals = Refusals(journal, config.tokens, self._board, on_event=self._on_event,
                                  on_outcomes=self._parts.on_outcomes, wake=self._wake.set)

    @property
    def operations(self) -> list[OpStatus]:
        """Every operation that ended in this lane, as last polled."""
        return self._parts.operations

    def __repr__(self) -> str:
        return f"BulkLane(worker={self._worker!r}, {self._board!r}, done={len(self.operations)})"

    def running(self) -> list[tuple[str, int]]:
        """(operation, token) of the bulk operations this lane runs or adopted and has not seen end."""
        return self._board.running_ops()

    def notify(self) -> None:
        """New shards (or lines to cut) were added: look for them now rather than at the next check."""
        self._wake.set()

    def pace(self) -> Pace:
        """One operation slot's pace: measured lines per second, configured overhead."""
        return Pace(lines_per_s=self._pace.rate, overhead_s=self._pace.overhead)

    async def drain(self, run_id: int | None = None, *, until: asyncio.Event | None = None,
                    feed: LineFeed | None = None, all_known: asyncio.Event | None = None) -> None:
        """Process shards (of one run, or any) until none is pending or held by anyone — and, when
        ``until`` is given, until it is set (more shards may still be coming: a streaming submission).
        With a ``feed``, shards are also cut from its lines whenever a slot needs one; once
        ``all_known`` is set, no lines will come but those held behind running ones (cuts are final,
        see :mod:`bulk.lanes.bulk._sizing`) even while ``until`` waits for those."""
        active: set[asyncio.Task[None]] = set()
        claimed: dict[asyncio.Task[None], Claim] = {}  # for a stop: a task cancelled before it ran

        def finished(task: asyncio.Task[None]) -> None:
            active.discard(task)
            if not task.cancelled():
                claimed.pop(task, None)
            self._wake.set()

        async with asyncio.TaskGroup() as tg:
            while True:
                self._wake.clear()
                if self._refusals.stop is not None:
                    # the run cannot go on: every held shard is given back (a cancelled _process
                    # releases its claim), then the cause is raised as it is, not in a group
                    for task in list(active):
                        task.cancel()
                    break
                final = until is None or until.is_set() or (all_known is not None and all_known.is_set())
                started = await self._fill(run_id, feed, more_coming=not final)
                for claim, holding in started:
                    task = tg.create_task(self._process(claim, holding))
                    active.add(task)
                    claimed[task] = claim
                    task.add_done_callback(finished)
                more_coming = until is not None and not until.is_set()
                pooled = feed is not None and feed.pooled > 0
                if not started and not active and not more_coming and not pooled \
                        and not await self._others_hold(run_id):
                    return
                if not started:
                    now = self._clock.now()
                    timeout = self._config.idle_wait_s
                    nxt = self._board.next_opening(now, self._lead.lead_s)
                    if nxt is not None:
                        timeout = min(timeout, max(0.0, nxt - now))
                    await wait_event(self._wake, timeout, self._clock)
        if self._refusals.stop is not None:
            for task, claim in claimed.items():
                if task.cancelled():  # perhaps before it began: its claim is given back here (a no-op
                    with contextlib.suppress(JournalError):  # when _process released it already)
                        await self._journal.release(claim)
            raise self._refusals.stop

    @property
    def stopped(self) -> RunStoppedError | None:
        """Why the run must stop (the shop refuses every request), once a shard met it."""
        return self._refusals.stop

    @property
    def refused_tokens(self) -> list[int]:
        """Tokens the shop refused during this lane's work (out for the run), in order."""
        return sorted(self._refusals.refused)

    async def _fill(self, run_id: int | None, feed: LineFeed | None, *,
                    more_coming: bool) -> list[tuple[Claim, Holding]]:
        """Claim shards for the slots free now or soon; cut new ones from ``feed`` when none is pending.
        Each claim is paired with its slot (the biggest shard with the earliest slot) and reserved."""
        out: list[tuple[Claim, Holding]] = []
        for cut in (False, True):
            now = self._clock.now()
            openings = self._board.openings(now, self._lead.lead_s)
            if not openings:
                break
            if cut:
                if feed is None or feed.pooled <= 0:
                    break
                sizes = cut_sizes(self._board.busy_until(now, exclude=openings), [o.at for o in openings],
                                  now=now, pooled=feed.pooled, pace=self.pace(),
                                  min_lines=self._config.min_op_lines, final=not more_coming,
                                  reserve=self._config.tail_reserve, max_lines=self._parts.max_lines())
                if not await feed.cut(first_trip([s for s in sizes if s > 0])):
                    break
            sent = self._lease_clock.now()  # the claim's lease counts from here
            claims = await self._journal.claim(self._worker, [UnitKind.BULK_SHARD],
                                               lease_s=self._config.lease_s, limit=len(openings),
                                               run_id=run_id)
            if self._refusals.stop is not None:  # the run stopped while claiming: give these back untouched
                for claim in claims:
                    with contextlib.suppress(JournalError):
                        await self._journal.release(claim)
                return []
            claims.sort(key=lambda c: -c.unit.line_count)
            for claim, opening in zip(claims, openings, strict=False):
                out.append((claim, self._reserve(opening.token, claim, renewed_at=sent)))
            if len(claims) == len(openings):
                break
        return out

    def _reserve(self, token: int, claim: Claim, *, renewed_at: float) -> Holding:
        pace = self._pace
        holding = Holding(token, pace.overhead + claim.unit.line_count / pace.rate, renewed_at)
        self._board.reserve(token, holding.busy_s)
        return holding

    async def process(self, claim: Claim) -> None:
        """Work one shard claimed by the caller (a long-lived worker runs its own claim loop)."""
        allowed = [t for t in range(self._config.tokens) if t not in self._refusals.refused] or [0]
        token = min(allowed, key=lambda t: (self._board.running(t), t))
        await self._process(claim, self._reserve(token, claim, renewed_at=-math.inf))

    async def _others_hold(self, run_id: int | None) -> bool:
        if run_id is None:
            return False
        units = await self._journal.list_units(run_id)
        return any(u.kind == UnitKind.BULK_SHARD and u.state in (UnitState.PENDING, UnitState.CLAIMED,
                                                                   UnitState.SUBMITTED) for u in units)

    async def _process(self, claim: Claim, holding: Holding) -> None:
        """Work one shard under its lease; stop touching it the moment the lease is lost.

        A transient fault (5xx, network, a lost scheduler permit) gives the shard back: it stays
        ``submitted`` when its operation was started, so the next claimant adopts that operation; a
        start that may have been applied (:class:`~bulk.errors.MaybeAppliedError`) is given back too,
        and the next claimant finds the operation by its ``clientIdentifier`` before starting one."""
        work = asyncio.ensure_future(self._steps.run(claim, holding))
        keeper = asyncio.ensure_future(self._keep_lease(claim, holding, work))
        try:
            await work
        except asyncio.CancelledError:
            if not keeper.done() or keeper.cancelled() or keeper.exception() is None:
                # stopped from outside (Ctrl-C, SIGTERM): hand the shard back so a re-run or another
                # worker adopts it at once instead of waiting for the lease to end
                with contextlib.suppress(JournalError, asyncio.CancelledError):
                    await asyncio.shield(self._journal.release(claim))
                raise
            _lease_lost(claim)  # the keeper's renewal was refused and it stopped the work
        except LeaseLostError:
            # our own fenced write was refused: the lease ran out while this process was held up (a
            # pause, a loaded machine) — the unit is claimable again and whoever claims it next (this
            # drain, or another worker) adopts its operation; nothing more is written on this claim
            _lease_lost(claim)
        except TRANSIENT as exc:
            log.warning("transient fault; shard given back",
                        extra={"action": "bulk.released", "unit": claim.unit_id, "error": type(exc).__name__})
            with contextlib.suppress(JournalError):
                await self._journal.release(claim)
            self._on_event("shard_released", {"unit": claim.unit_id, "error": type(exc).__name__})
        except RunStoppedError as exc:
            await self._refusals.stop_run(claim, exc)
        except TokenRefusedError as exc:
            await self._refusals.token_refused(claim, exc)
        except ShopifyError as exc:  # final for this shard (e.g. a start's userErrors): its rows say why
            await self._refusals.shard_refused(claim, exc)
        finally:
            self._steps.unreserve(holding)
            keeper.cancel()
            try:
                await keeper
            except asyncio.CancelledError:
                pass
            except JournalError as exc:
                # a renewal refused: either handled above (the work was stopped), or it lost the race
                # with the shard's completion (the unit is done) — nothing is left to protect
                log.info("lease renewal refused after the work ended",
                         extra={"action": "bulk.renewal_refused", "unit": claim.unit_id,
                                "error": type(exc).__name__})

    async def _keep_lease(self, claim: Claim, holding: Holding, work: asyncio.Future[None]) -> None:
        try:
            while True:
                await self._lease_clock.sleep(self._config.lease_s / 3)
                if work.done():  # finished (and completed in the journal): a renewal would be refused
                    return
                claim = await self._steps.renew(claim, holding)
        except asyncio.CancelledError:
            raise
        except Exception:
            work.cancel()  # self-fencing: without a lease we must not write on this unit
            raise

