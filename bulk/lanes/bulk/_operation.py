"""One claimed shard's bulk operation: start it (or adopt it), wait for its end, reconcile its results.

The steps the lane (:mod:`bulk.lanes.bulk._lane`) runs for every shard it holds, kept apart from how the lane
decides *which* shards to hold and when: load the shard; give it up if it kept failing before a start;
adopt the operation a dead holder started (recorded, or found by its ``clientIdentifier``); otherwise
upload it — before a slot is free, so that only ``bulkOperationRunMutation`` remains when one is —
then take the reserved token's next free slot and start it; poll it to its end, keeping the slot
board's estimate of that end and the measured pace current; free the slot at once; reconcile.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bulk.clock import Clock
from bulk.errors import LimitReachedError, StorageRefusedError, TokenRefusedError
from bulk.journal import Claim, Journal, Outcome
from bulk.lanes.bulk import shard_data
from bulk.lanes.bulk._calls import Call, CallGate
from bulk.lanes.bulk._polls import PollBatcher
from bulk.lanes.bulk._slots import LeadMeter, PaceMeter, SlotBoard
from bulk.lanes.bulk.ports import BulkLaneConfig, BulkOpsPort, OpStatus, decode_remote, encode_remote
from bulk.lanes.bulk.reconcile import KeepOutcomes, OnOutcomes, reconcile
from bulk.lanes.bulk.shard_data import ShardData
from bulk.models import OnEvent, OutcomeStatus
from bulk.shopify.bulk_operations import Progress, poll_with_estimate

RESULT_READERS = 2  # operations whose results are read at once
MAX_OVERHEAD_S = 30.0  # a measured per-operation overhead above this is a fluke, not the shop's pace
UPLOAD_MARGIN = 0.9  # share of the staged upload's byte limit a shard is cut to (lines vary in size)
SPLIT_SUFFIX = "/retry-part"  # a part of a shard cut smaller: root_of() still finds its shard


@dataclass
class Holding:
    """A claimed shard in this lane: its reservation of its token's next free slot (until its operation
    starts), and when its lease was last renewed (by the lease clock, when the renewal was *sent*)."""

    token: int
    busy_s: float
    renewed_at: float = -math.inf
    reserved: bool = True
    start_s: float = 0.0  # from a free slot to the shop's answer to the start (lane's clock)
    start_call_s: float = 0.0  # of which the start's call (its permit and the shop's answer)


@dataclass
class LaneParts:
    """What a shard's steps share with the lane that holds it."""

    port: BulkOpsPort
    journal: Journal
    config: BulkLaneConfig
    clock: Clock  # the shop's time: polls, pace, estimated ends, back-offs
    lease_clock: Clock  # the journal's time: leases (a sped-up simulator does not speed them up)
    workdir: Path
    board: SlotBoard
    pace: PaceMeter
    lead: LeadMeter  # how early the next shard is prepared (measured)
    wake: Callable[[], None]  # the lane should look again (a slot freed, an end is near)
    on_event: OnEvent
    on_outcomes: OnOutcomes
    keep: KeepOutcomes | None = None  # filters outcomes before they are recorded (see reconcile)
    slots: list[asyncio.Semaphore] = field(default_factory=list)  # per token: operations running
    # control calls in flight at once: the rest of the shop's in-flight cap stays free for the urgent
    # lane (its requests would otherwise queue behind a burst of polls, uploads and starts)
    calls: CallGate = field(init=False)  # control calls in flight: config.max_control_calls
    polls: PollBatcher = field(init=False)  # a token's polls waiting together go as one query
    operations: list[OpStatus] = field(default_factory=list)  # every operation that ended here
    # results read at once: 15 operations end together, and reading all their results side by side
    # leaves the event loop (polls, starts, the urgent lane) one of many threads wanting the GIL
    readers: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(RESULT_READERS))
    line_bytes: float = 0.0  # the largest mean bytes per JSONL line of a shard seen (to fit uploads)

    def __post_init__(self) -> None:
        self.calls = CallGate(self.config.max_control_calls)
        self.polls = PollBatcher(self.port, self.calls)

    def max_lines(self) -> int | None:
        """Lines one shard may hold so its file fits the staged upload's policy (``None``: no limit
        known yet, or no line seen)."""
        limit = getattr(self.port, "upload_limit", None)
        if not isinstance(limit, int) or self.line_bytes <= 0:
            return None
        return max(1, int(limit * UPLOAD_MARGIN / self.line_bytes))


class OperationSteps:
    """Runs one claimed shard to the outcomes of its rows (see the module docstring)."""

    def __init__(self, parts: LaneParts) -> None:
        self._p = parts
        config = parts.config
        if not parts.slots:
            parts.slots.extend(asyncio.Semaphore(config.ops_per_token) for _ in range(config.tokens))

    def unreserve(self, holding: Holding) -> None:
        """The shard no longer waits for a slot of its token (it started, or gave up)."""
        if holding.reserved:
            self._p.board.unreserve(holding.token, holding.busy_s)
            holding.reserved = False
            self._p.wake()

    async def renew(self, claim: Claim, holding: Holding) -> Claim:
        """Extend the shard's lease; remember when the renewal was sent."""
        sent = self._p.lease_clock.now()
        claim = await self._p.journal.heartbeat(claim, lease_s=self._p.config.lease_s)
        holding.renewed_at = sent
        return claim

    async def run(self, claim: Claim, holding: Holding) -> None:
        """Work the shard to its rows' outcomes (the caller keeps its lease and handles faults)."""
        unit = claim.unit
        claimed_at = self._p.clock.now()
        self._p.on_event("shard_claimed", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                         "lines": unit.line_count})
        shard = await asyncio.to_thread(shard_data.load, unit)
        found = None if unit.remote_id or unit.attempt <= 1 else await self._find(unit.client_identifier)
        if found is not None:
            # an earlier holder died between starting the operation and recording it, or its start met a
            # fault after the shop may have applied it (MaybeAppliedError, never resent): adopt it
            claim = await self._p.journal.mark_submitted(claim, encode_remote(*found))
            unit = claim.unit
        elif not unit.remote_id and unit.attempt > self._p.config.max_claims:
            await self._give_up(claim, shard)  # looked for first: a start that ran is never given up
            return
        if unit.remote_id:
            token, op = decode_remote(unit.remote_id)
            self.unreserve(holding)
            await self._p.slots[token].acquire()
            self._p.board.start(op, token, self._p.clock.now() + unit.line_count / self._p.pace.rate)
            launched_at = None  # started by someone else, some time ago
            self._p.on_event("shard_adopted", {"unit": unit.unit_id, "op": op})
        else:
            try:
                token, op = await self._launch(shard, claim, holding, claimed_at=claimed_at)
            except StorageRefusedError as exc:
                await self._upload_refused(claim, shard, exc)
                return
            launched_at = self._p.clock.now()
            self._p.on_event("shard_started", {"shard": unit.client_identifier, "token": token, "op": op,
                                             "lines": unit.line_count, "start_s": round(holding.start_s, 3),
                                             "start_call_s": round(holding.start_call_s, 3)})
            claim = await self._p.journal.mark_submitted(claim, encode_remote(token, op))
        try:
            final = await self._poll(op, token, unit.line_count, launched_at=launched_at)
        finally:
            self._p.board.finish(op)
            self._p.slots[token].release()
            self._p.wake()  # the slot is free now; reconciling happens beside the next operation
        self._p.operations.append(final)
        self._p.on_event("op_finished", {"op": op, "status": final.status, "objects": final.object_count,
                                       "ident": unit.client_identifier, "lines": unit.line_count})
        async with self._p.readers:
            retried = await reconcile(self._p.port.results, self._p.journal, claim, status=final.status,
                                      error_code=final.error_code, urls=(final.url, final.partial_url),
                                      shard=shard, max_attempts=self._p.config.max_attempts,
                                      objects=final.object_count, on_outcomes=self._p.on_outcomes,
                                      keep=self._p.keep)
        self._p.on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                      "status": final.status, "lines": unit.line_count, "retried": retried})

    async def _give_up(self, claim: Claim, shard: ShardData) -> None:
        """Never started, and given back too often: a fault that does not pass; say so per row."""
        unit = claim.unit
        cause = unit.error or "transient faults"
        reason = f"not sent: the shard failed {unit.attempt - 1} times ({cause})"
        outcomes = [Outcome(f, ln, OutcomeStatus.REJECTED, reason, unit_id=unit.unit_id)
                    for line_rows in shard.rows for f, ln in line_rows]
        if self._p.keep is not None:
            outcomes = self._p.keep(outcomes)
        await self._p.journal.record_outcomes(unit.run_id, outcomes)
        self._p.on_outcomes(outcomes)
        await self._p.journal.fail(claim, reason, retry=False)
        self._p.on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                      "status": "GIVEN_UP", "lines": unit.line_count, "retried": 0})

    async def _find(self, ident: str) -> tuple[int, str] | None:
        """Where an operation with this client identifier already runs (any token still allowed), if
        anywhere. A refused token's operations cannot be seen any more: they are looked for no longer."""
        for token in range(self._p.config.tokens):
            try:
                async with self._p.calls.call(Call.UPLOAD):
                    op = await self._p.port.find(ident, token_index=token)
            except TokenRefusedError:
                continue
            if op is not None:
                return token, op
        return None

    async def _upload_refused(self, claim: Claim, shard: ShardData, exc: StorageRefusedError) -> None:
        """The storage refused the shard's file (final for that upload): over the policy's size limit,
        cut it into parts that fit, each a shard of its own; otherwise, or for a single line, its rows
        are rejected with the storage's code and message."""
        unit = claim.unit
        sizes = [len(line) for line in shard.lines]
        if exc.code == "EntityTooLarge" and exc.max_bytes and len(sizes) > 1:
            self._p.line_bytes = max(self._p.line_bytes, sum(sizes) / len(sizes))
            parts = split_to_fit(sizes, int(exc.max_bytes * UPLOAD_MARGIN))
            if len(parts) > 1:
                folder = Path(unit.payload_path).parent if unit.payload_path else self._p.workdir / "parts"
                new = []
                for k, part in enumerate(parts):
                    ident = f"{unit.client_identifier}{SPLIT_SUFFIX}{k}"
                    subset = shard.subset(part)
                    new.append(shard_data.inline_unit(ident, subset) if unit.payload_path is None else
                               await asyncio.to_thread(shard_data.file_unit, ident, subset, folder))
                await self._p.journal.add_units(unit.run_id, new)
                await self._p.journal.fail(claim, f"cut into {len(parts)} shards: {exc}", retry=False)
                self._p.on_event("shard_split", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                               "parts": len(parts), "max_bytes": exc.max_bytes})
                self._p.on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                              "status": "SPLIT", "lines": unit.line_count,
                                              "retried": unit.line_count})
                self._p.wake()
                return
        reason = f"not sent: {exc}"
        outcomes = [Outcome(f, ln, OutcomeStatus.REJECTED, reason, unit_id=unit.unit_id)
                    for line_rows in shard.rows for f, ln in line_rows]
        await self._p.journal.record_outcomes(unit.run_id, outcomes)
        self._p.on_outcomes(outcomes)
        await self._p.journal.fail(claim, reason, retry=False)
        self._p.on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                      "status": "UPLOAD_REFUSED", "lines": unit.line_count, "retried": 0})

    async def _launch(self, shard: ShardData, claim: Claim, holding: Holding, *,
                      claimed_at: float) -> tuple[int, str]:
        """Upload the shard for the reserved token (no slot needed for that), then take the token's next
        free slot and start the operation there."""
        ident = claim.unit.client_identifier
        token = holding.token
        if shard.lines:
            self._p.line_bytes = max(self._p.line_bytes, sum(map(len, shard.lines)) / len(shard.lines))
        # a control call's place is held for stagedUploadsCreate only: the file goes to the storage
        # target, not the shop's API (megabytes: polls and starts would wait for it)
        if claim.unit.payload_path is not None:  # the shard is a JSONL file already: send it as it is
            staged = await self._p.port.upload(Path(claim.unit.payload_path), token_index=token,
                                               admitted=self._p.calls.call(Call.UPLOAD))
        else:
            path = await asyncio.to_thread(shard.write, self._p.workdir)
            try:
                staged = await self._p.port.upload(path, token_index=token,
                                                   admitted=self._p.calls.call(Call.UPLOAD))
            finally:
                path.unlink(missing_ok=True)
        prepared_s = self._p.clock.now() - claimed_at
        self._p.lead.observe(prepared_s)
        self._p.on_event("shard_uploaded", {"ident": ident, "prepared_s": round(prepared_s, 3),
                                          "lead_s": round(self._p.lead.lead_s, 3)})
        while True:
            await self._p.slots[token].acquire()
            slot_at = self._p.clock.now()
            try:
                # self-fencing: a holder paused past its lease must not start what a new holder owns.
                # A renewal sent a moment ago proves the same (a pause shows on the clock), saving a
                # journal round trip on the path from a free slot to the start.
                if self._p.lease_clock.now() - holding.renewed_at >= self._p.config.lease_s / 4:
                    claim = await self.renew(claim, holding)
                async with self._p.calls.call(Call.START):
                    sent_at = self._p.clock.now()
                    op = await self._p.port.start(shard.kind, staged, client_identifier=ident,
                                                  token_index=token)
            except LimitReachedError:
                # another worker or app run holds this token's slots: back off, then look again
                self._p.slots[token].release()
                self._p.on_event("start_limit_reached", {"ident": ident, "token": token})
                await self._p.clock.sleep(self._p.config.limit_backoff_s)
                continue
            except BaseException:
                self._p.slots[token].release()
                raise
            self.unreserve(holding)
            self._p.board.start(op, token, self._p.clock.now() + holding.busy_s)
            holding.start_s = self._p.clock.now() - slot_at
            holding.start_call_s = self._p.clock.now() - sent_at
            return token, op

    async def _poll(self, op: str, token: int, lines: int, *, launched_at: float | None) -> OpStatus:
        """Poll until the operation ends, keeping the board's estimate of its end, the lane's measured
        pace and (for an operation started here) its measured fixed overhead up to date."""
        progress = Progress(total=lines, prior=lambda: self._p.pace.rate)
        overhead_seen = launched_at is None

        def estimated(eta: float) -> None:
            nonlocal overhead_seen
            if len(progress.samples) >= 2:
                (t0, c0), (t1, c1) = progress.samples[-2:]
                self._p.pace.observe(t1 - t0, c1 - c0)
                since = progress.running_since()
                if not overhead_seen and launched_at is not None and since is not None:
                    overhead_seen = True
                    self._p.pace.observe_overhead(min(MAX_OVERHEAD_S, since - launched_at))
            self._p.board.estimate(op, eta)
            if eta - self._p.clock.now() <= self._p.lead.lead_s:
                self._p.wake()  # time to prepare the shard for this slot

        async def poll() -> OpStatus:
            return await self._p.polls.status(op, token)

        final = await poll_with_estimate(poll, self._p.clock,
                                         progress, initial_s=self._p.config.poll_initial_s,
                                         max_s=self._p.config.poll_max_s, fine_s=self._p.config.poll_fine_s,
                                         on_estimate=estimated)
        return final


def split_to_fit(sizes: list[int], max_bytes: int) -> list[list[int]]:
    """Line indexes grouped in order so that each group's bytes stay within ``max_bytes`` (a line
    bigger than that alone is a group of its own: its upload is refused again, its rows rejected)."""
    parts: list[list[int]] = [[]]
    used = 0
    for n, size in enumerate(sizes):
        if parts[-1] and used + size > max_bytes:
            parts.append([])
            used = 0
        parts[-1].append(n)
        used += size
    return parts
