"""The bulk lane: run JSONL shards as bulk mutation operations across every token's op slots.

Per shard: staged upload → ``bulkOperationRunMutation`` (with a ``clientIdentifier`` so a restarted
worker adopts the running operation instead of starting it twice) → poll with backoff → download the
result JSONL → reconcile by ``__lineNumber`` (results come back in any order). Lines with userErrors are
rejected with the shop's reason; lines the operation never processed (FAILED, cancelled, partial) go into
a new shard, a bounded number of times. Control calls go through the scheduler at bulk priority inside
the :class:`BulkOpsPort` implementation; the lane itself only decides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bulk.clock import Clock, MonotonicClock
from bulk.errors import LimitReachedError
from bulk.models import OutcomeStatus
from bulk.plan import RowId, ShardFile, read_rows

log = logging.getLogger(__name__)

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "CANCELLED", "EXPIRED"})


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

        Raises :class:`LimitReachedError` when the token has no free operation slot."""
        ...

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        """The GID of an operation already started with this identifier, if any."""
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
    max_attempts: int = 3
    poll_initial_s: float = 0.5
    poll_max_s: float = 10.0
    limit_backoff_s: float = 5.0


@dataclass
class LaneReport:
    """Per-row outcomes decided by the lane, and what happened to operations."""

    outcomes: dict[RowId, tuple[OutcomeStatus, str]] = field(default_factory=dict)
    operations: list[OpStatus] = field(default_factory=list)
    retried_lines: int = 0


OnEvent = Callable[[str, dict[str, Any]], None]


class BulkLane:
    """Runs shards side by side, at most ``ops_per_token`` operations per token."""

    def __init__(
        self,
        port: BulkOpsPort,
        config: BulkLaneConfig,
        *,
        run_key: str,
        clock: Clock | None = None,
        on_event: OnEvent | None = None,
    ) -> None:
        self._port = port
        self._config = config
        self._run_key = run_key
        self._clock = clock or MonotonicClock()
        self._on_event = on_event or (lambda _name, _data: None)
        self._slots = [asyncio.Semaphore(config.ops_per_token) for _ in range(config.tokens)]
        self._running = [0] * config.tokens
        self.report = LaneReport()

    async def run(self, shards: list[ShardFile], workdir: Path) -> LaneReport:
        """Run every shard to the end; lines that keep failing end rejected, never lost."""
        async with asyncio.TaskGroup() as tg:
            for index, shard in enumerate(shards):
                tg.create_task(self._run_shard(shard, f"{index}", workdir, attempt=1))
        return self.report

    async def _run_shard(self, shard: ShardFile, name: str, workdir: Path, *, attempt: int) -> None:
        rows = read_rows(shard.rows_path)
        ident = f"{self._run_key}/{name}/{attempt}"
        token, op = await self._launch(shard, ident)
        try:
            final = await self._poll(op, token)
        finally:
            self._running[token] -= 1
            self._slots[token].release()
        self.report.operations.append(final)
        self._on_event("shard_done", {"shard": name, "status": final.status, "lines": shard.lines})
        seen: set[int] = set()
        for url in (final.url, final.partial_url):
            if url:
                async for line in self._port.results(url):
                    n = int(line["__lineNumber"])
                    if n in seen or n >= len(rows):
                        continue
                    seen.add(n)
                    self._decide(rows[n], line)
        missing = [n for n in range(len(rows)) if n not in seen]
        if not missing:
            return
        if attempt >= self._config.max_attempts:
            reason = f"not applied after {attempt} bulk operations ({final.status} {final.error_code or ''})"
            for n in missing:
                for row in rows[n]:
                    self.report.outcomes[row] = (OutcomeStatus.REJECTED, reason.strip())
            return
        self.report.retried_lines += len(missing)
        retry = _subset(shard, missing, workdir / f"retry-{name}-{attempt + 1}")
        await self._run_shard(retry, f"{name}r", workdir, attempt=attempt + 1)

    def _decide(self, rows: list[RowId], line: dict[str, Any]) -> None:
        data = line.get("data") or {}
        payload = next(iter(data.values()), None) if isinstance(data, dict) else None
        errors = (payload or {}).get("userErrors") or []
        if line.get("errors"):
            errors = errors + line["errors"]
        if errors:
            reason = "; ".join(str(e.get("message", e)) for e in errors)
            for row in rows:
                self.report.outcomes[row] = (OutcomeStatus.REJECTED, f"shop refused: {reason}")
        else:
            for row in rows:
                self.report.outcomes[row] = (OutcomeStatus.APPLIED, "")

    async def _launch(self, shard: ShardFile, ident: str) -> tuple[int, str]:
        """Take a free slot on the least busy token and start (or adopt) the operation."""
        while True:
            token = min(range(self._config.tokens), key=lambda t: self._running[t])
            await self._slots[token].acquire()
            self._running[token] += 1
            try:
                existing = await self._port.find(ident, token_index=token)
                if existing:
                    return token, existing
                staged = await self._port.upload(shard.path, token_index=token)
                op = await self._port.start(shard.kind, staged, client_identifier=ident, token_index=token)
                self._on_event("shard_started", {"shard": ident, "token": token, "op": op})
                return token, op
            except LimitReachedError:
                # another worker holds this token's slots: back off, then try again
                self._running[token] -= 1
                self._slots[token].release()
                await self._clock.sleep(self._config.limit_backoff_s)
            except BaseException:
                self._running[token] -= 1
                self._slots[token].release()
                raise

    async def _poll(self, op: str, token: int) -> OpStatus:
        delay = self._config.poll_initial_s
        while True:
            status = await self._port.status(op, token_index=token)
            if status.status in TERMINAL:
                return status
            await self._clock.sleep(delay)
            delay = min(self._config.poll_max_s, delay * 1.5)


def _subset(shard: ShardFile, keep: list[int], prefix: Path) -> ShardFile:
    """A new shard holding only lines ``keep`` of ``shard`` (for a retry)."""
    data = shard.path.read_bytes().splitlines(keepends=True)
    rows = shard.rows_path.read_text().splitlines(keepends=True)
    path = prefix.with_suffix(".jsonl")
    rows_path = prefix.with_suffix(".rows.jsonl")
    path.write_bytes(b"".join(data[n] for n in keep))
    rows_path.write_text("".join(rows[n] for n in keep))
    return ShardFile(shard.kind, path, rows_path, len(keep), path.stat().st_size)
