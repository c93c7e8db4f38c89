"""The bulk lane: claim JSONL shards from the journal and run them as bulk mutation operations.

Per shard: staged upload → ``bulkOperationRunMutation`` → journal ``mark_submitted`` (so a worker that
takes the shard over after a crash *adopts* the running operation instead of starting it twice) → poll
with backoff → download the result JSONL → reconcile by ``__lineNumber`` (results come back in any
order). Lines with userErrors are rejected with the shop's reason; lines the operation never processed
(FAILED, cancelled, partial) go into a new shard, a bounded number of times, then are rejected.

A held shard's lease is renewed while it is worked on; a worker that cannot renew stops touching it
(self-fencing) and the next claimant adopts it. Every write is idempotent, so a crash at any point and a
re-run of the same command end with each row's one outcome. Control calls go through the scheduler at
bulk priority inside the :class:`BulkOpsPort` implementation; this module only decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bulk.clock import Clock, MonotonicClock
from bulk.errors import (
    JournalError,
    LimitReachedError,
    NetworkError,
    PermitLostError,
    ServerError,
    ThrottledError,
)
from bulk.journal import Claim, Journal, Outcome, UnitKind, UnitState
from bulk.lanes import shard_data
from bulk.lanes.shard_data import ShardData
from bulk.models import OutcomeStatus
from bulk.shopify.bulk_operations import poll_until_finished

log = logging.getLogger(__name__)

# faults after which a shard is given back to the journal rather than failing the whole run
TRANSIENT = (ServerError, NetworkError, ThrottledError, PermitLostError)


@dataclass(frozen=True, slots=True)
class OpStatus:
    """A bulk operation as last polled."""

    id: str
    status: str
    url: str | None = None
    partial_url: str | None = None
    error_code: str | None = None
    object_count: int = 0


class BulkOpsPort(Protocol):
    """What the lane needs from the shop; implemented over the transport + scheduler."""

    async def upload(self, path: Path, *, token_index: int) -> str:
        """Stage ``path``; return the stagedUploadPath."""
        ...

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        """Start a bulk mutation of ``kind`` ("variants" | "product"); return its GID.

        Raises :class:`~bulk.errors.LimitReachedError` when the token has no free operation slot."""
        ...

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        """The operation this token's app started with ``client_identifier``, if any."""
        ...

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        """Poll one operation."""
        ...

    def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """The result JSONL lines of a finished operation."""
        ...


@dataclass(frozen=True, kw_only=True)
class BulkLaneConfig:
    """Knobs of the bulk lane; defaults suit Shopify's API 2026-04."""

    tokens: int = 3
    ops_per_token: int = 5
    max_attempts: int = 3  # bulk operations one line may go through before it is rejected
    poll_initial_s: float = 0.5
    poll_max_s: float = 10.0
    limit_backoff_s: float = 5.0
    lease_s: float = 60.0
    max_claims: int = 10  # a shard never started is given up (rows rejected) after this many claims
    idle_wait_s: float = 1.0  # drain mode: wait between claims while other workers hold units


def encode_remote(token_index: int, op_id: str) -> str:
    """The journal's ``remote_id``: the operation and the token (app) that owns it."""
    return f"{token_index}|{op_id}"


def decode_remote(remote_id: str) -> tuple[int, str]:
    """Inverse of :func:`encode_remote`."""
    token, _, op = remote_id.partition("|")
    return int(token), op


OnEvent = Callable[[str, dict[str, Any]], None]


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
        on_event: OnEvent | None = None,
    ) -> None:
        self._port = port
        self._workdir = workdir or Path(tempfile.gettempdir()) / "bulk-uploads"
        self._journal = journal
        self._config = config
        self._worker = worker_id
        self._clock = clock or MonotonicClock()
        self._on_event = on_event or (lambda _name, _data: None)
        self._slots = [asyncio.Semaphore(config.ops_per_token) for _ in range(config.tokens)]
        self._wake = asyncio.Event()
        self._running = [0] * config.tokens
        self.operations: list[OpStatus] = []

    def __repr__(self) -> str:
        return f"BulkLane(worker={self._worker!r}, running={self._running}, done={len(self.operations)})"

    def notify(self) -> None:
        """New shards were added: look for them now rather than at the next idle check."""
        self._wake.set()

    async def drain(self, run_id: int | None = None, *, until: asyncio.Event | None = None) -> None:
        """Process shards (of one run, or any) until none is pending or held by anyone — and, when
        ``until`` is given, until it is set (more shards may still be coming: a streaming submission)."""
        capacity = self._config.tokens * self._config.ops_per_token
        active: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            active.discard(task)
            self._wake.set()  # a slot is free

        async with asyncio.TaskGroup() as tg:
            while True:
                self._wake.clear()
                free = capacity - len(active)
                claims = await self._journal.claim(
                    self._worker, [UnitKind.BULK_SHARD], lease_s=self._config.lease_s, limit=free,
                    run_id=run_id,
                ) if free > 0 else []
                for claim in claims:
                    task = tg.create_task(self._process(claim))
                    active.add(task)
                    task.add_done_callback(finished)
                more_coming = until is not None and not until.is_set()
                if not claims and not active and not more_coming and not await self._others_hold(run_id):
                    return
                if not claims:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._config.idle_wait_s)

    async def process(self, claim: Claim) -> None:
        """Work one shard claimed by the caller (a long-lived worker runs its own claim loop)."""
        await self._process(claim)

    async def _others_hold(self, run_id: int | None) -> bool:
        if run_id is None:
            return False
        units = await self._journal.list_units(run_id)
        return any(u.kind == UnitKind.BULK_SHARD and u.state in (UnitState.PENDING, UnitState.CLAIMED,
                                                                   UnitState.SUBMITTED) for u in units)

    async def _process(self, claim: Claim) -> None:
        """Work one shard under its lease; stop touching it the moment the lease is lost.

        A transient fault (5xx, network, a lost scheduler permit) gives the shard back: it stays
        ``submitted`` when its operation was started, so the next claimant adopts that operation."""
        work = asyncio.ensure_future(self._work(claim))
        keeper = asyncio.ensure_future(self._keep_lease(claim, work))
        try:
            await work
        except asyncio.CancelledError:
            if not keeper.done() or keeper.cancelled() or keeper.exception() is None:
                # stopped from outside (Ctrl-C, SIGTERM): hand the shard back so a re-run or another
                # worker adopts it at once instead of waiting for the lease to end
                with contextlib.suppress(JournalError, asyncio.CancelledError):
                    await asyncio.shield(self._journal.release(claim))
                raise
            log.warning("lease lost; another worker will adopt the shard",
                        extra={"action": "bulk.lease_lost", "unit": claim.unit_id})
        except TRANSIENT as exc:
            log.warning("transient fault; shard given back",
                        extra={"action": "bulk.released", "unit": claim.unit_id, "error": type(exc).__name__})
            with contextlib.suppress(JournalError):
                await self._journal.release(claim)
            self._on_event("shard_released", {"unit": claim.unit_id, "error": type(exc).__name__})
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep_lease(self, claim: Claim, work: asyncio.Future[None]) -> None:
        try:
            while True:
                await self._clock.sleep(self._config.lease_s / 3)
                claim = await self._journal.heartbeat(claim, lease_s=self._config.lease_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            work.cancel()  # self-fencing: without a lease we must not write on this unit
            raise

    async def _work(self, claim: Claim) -> None:
        unit = claim.unit
        shard = await asyncio.to_thread(shard_data.load, unit)
        if not unit.remote_id and unit.attempt > self._config.max_claims:
            # never started, and given back too often: a fault that does not pass; say so per row
            rows = shard.rows
            cause = unit.error or "transient faults"
            reason = f"not sent: the shard failed {unit.attempt - 1} times ({cause})"
            await self._journal.record_outcomes(unit.run_id, [
                Outcome(f, ln, OutcomeStatus.REJECTED, reason, unit_id=unit.unit_id)
                for line_rows in rows for f, ln in line_rows])
            await self._journal.fail(claim, reason, retry=False)
            self._on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                          "status": "GIVEN_UP", "lines": unit.line_count, "retried": 0})
            return
        found = None if unit.remote_id or unit.attempt <= 1 else await self._find(unit.client_identifier)
        if found is not None:
            # an earlier holder died between starting the operation and recording it: adopt it
            claim = await self._journal.mark_submitted(claim, encode_remote(*found))
            unit = claim.unit
        if unit.remote_id:
            token, op = decode_remote(unit.remote_id)
            await self._slots[token].acquire()
            self._running[token] += 1
            self._on_event("shard_adopted", {"unit": unit.unit_id, "op": op})
        else:
            token, op = await self._launch(shard, claim)
            claim = await self._journal.mark_submitted(claim, encode_remote(token, op))
            self._on_event("shard_started", {"shard": unit.client_identifier, "token": token, "op": op})
        try:
            final = await self._poll(op, token)
        finally:
            self._running[token] -= 1
            self._slots[token].release()
        self.operations.append(final)
        await self._reconcile(claim, final, shard)

    async def _reconcile(self, claim: Claim, final: OpStatus, shard: ShardData) -> None:
        unit = claim.unit
        rows = shard.rows
        outcomes: list[Outcome] = []
        seen: set[int] = set()
        for url in (final.url, final.partial_url):
            if not url:
                continue
            async for line in self._port.results(url):
                n = int(line["__lineNumber"])
                if n in seen or n >= len(rows):
                    continue
                seen.add(n)
                status, reason = decide(line)
                outcomes += [Outcome(f, ln, status, reason or None, unit_id=unit.unit_id)
                             for f, ln in rows[n]]
        missing = [n for n in range(len(rows)) if n not in seen]
        generation = unit.client_identifier.count("/retry")
        if missing and generation + 1 < self._config.max_attempts:
            retry = shard.subset(missing)
            ident = f"{unit.client_identifier}/retry"
            if unit.payload_path is None:
                new = shard_data.inline_unit(ident, retry)
            else:
                folder = Path(unit.payload_path).parent
                new = await asyncio.to_thread(shard_data.file_unit, ident, retry, folder)
            await self._journal.add_units(unit.run_id, [new])
        elif missing:
            reason = f"not applied after {generation + 1} bulk operations ({final.status} " \
                     f"{final.error_code or ''})".replace(" )", ")")
            outcomes += [Outcome(f, ln, OutcomeStatus.REJECTED, reason, unit_id=unit.unit_id)
                         for n in missing for f, ln in rows[n]]
        await self._journal.record_outcomes(unit.run_id, outcomes)
        await self._journal.complete(claim)
        self._on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                      "status": final.status,
                                      "lines": unit.line_count, "retried": len(missing)})

    async def _find(self, ident: str) -> tuple[int, str] | None:
        """Where an operation with this client identifier already runs (any token), if anywhere."""
        for token in range(self._config.tokens):
            op = await self._port.find(ident, token_index=token)
            if op is not None:
                return token, op
        return None

    async def _launch(self, shard: ShardData, claim: Claim) -> tuple[int, str]:
        """Take a free slot on the least busy token and start the operation there."""
        ident = claim.unit.client_identifier
        while True:
            token = min(range(self._config.tokens), key=lambda t: self._running[t])
            await self._slots[token].acquire()
            self._running[token] += 1
            try:
                path = await asyncio.to_thread(shard.write, self._workdir)
                try:
                    staged = await self._port.upload(path, token_index=token)
                finally:
                    path.unlink(missing_ok=True)
                # self-fencing: a holder paused past its lease must not start what a new holder owns
                await self._journal.heartbeat(claim, lease_s=self._config.lease_s)
                op = await self._port.start(shard.kind, staged, client_identifier=ident, token_index=token)
                return token, op
            except LimitReachedError:
                # another worker or app run holds this token's slots: back off, then look again
                self._running[token] -= 1
                self._slots[token].release()
                await self._clock.sleep(self._config.limit_backoff_s)
            except BaseException:
                self._running[token] -= 1
                self._slots[token].release()
                raise

    async def _poll(self, op: str, token: int) -> OpStatus:
        return await poll_until_finished(lambda: self._port.status(op, token_index=token), self._clock,
                                         initial_s=self._config.poll_initial_s, max_s=self._config.poll_max_s)


def decide(line: dict[str, Any]) -> tuple[OutcomeStatus, str]:
    """The outcome of one result line: applied, or rejected with the shop's userErrors."""
    data = line.get("data") or {}
    payload = next(iter(data.values()), None) if isinstance(data, dict) else None
    errors = list((payload or {}).get("userErrors") or []) + list(line.get("errors") or [])
    if errors:
        return OutcomeStatus.REJECTED, "shop refused: " + "; ".join(str(e.get("message", e)) for e in errors)
    return OutcomeStatus.APPLIED, ""
