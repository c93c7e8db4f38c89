"""The bulk-operation engine: runs bulk mutations line by line and bulk queries object by object.

Why paced by absolute deadlines on the injected clock: line ``k`` of an operation is due at
``start + k / rate``, so a test that advances a ManualClock once lets every chunk whose time has come
run at once, with no sleeps and no lost wake-ups; a ScaledClock makes benchmarks faster without
changing any ratio.

Behaviour (where Shopify's docs are silent the stricter choice is made):

- CREATED → RUNNING after ``START_LATENCY_S`` → COMPLETED / FAILED / CANCELED. At most
  ``MAX_RUNNING_PER_APP`` CREATED/RUNNING/CANCELING operations per app (token), queries and
  mutations counted together.
- Mutation lines run in a shuffled order, in concurrent chunks; results are written in completion
  order as ``{"data": …, "__lineNumber": n}`` (0-based, the line's position in the upload), with
  ``"errors"`` when the line had top-level errors. Match by ``__lineNumber``, never by position.
- ``objectCount``/``rootObjectCount``/``fileSize`` are UnsignedInt64, served as strings like Shopify.
- Fault injection: with probability ``fault_rate`` an operation dies part-way with FAILED /
  INTERNAL_SERVER_ERROR; mutation lines done so far stay applied and are listed in
  ``partialDataUrl``; an export keeps the objects written so far there.
- Cancel: CANCELING at once, CANCELED at the next chunk boundary, partial results kept.
- An operation running longer than 24 h (sim time) ends FAILED / TIMEOUT.
- A query with no objects completes with ``url`` null, like Shopify.

One operation's state, its statuses and these limits: :mod:`bulk.sim._bulk_op_state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from bulk.sim._bulk_op_state import ACTIVE, MAX_DURATION_S, START_LATENCY_S, TERMINAL, BulkOp, Lines
from bulk.sim._context import Executor
from bulk.sim._files import FileStore
from bulk.sim._ops_common import ShopCore


class BulkEngine:
    """Owns every bulk operation and the background task running each."""

    def __init__(
        self,
        core: ShopCore,
        files: FileStore,
        *,
        lines_per_s: float,
        slowdown: float,
        fault_rate: float,
        seed: int,
    ) -> None:
        if lines_per_s <= 0 or slowdown <= 0 or not 0.0 <= fault_rate <= 1.0:
            raise ValueError("lines_per_s and slowdown must be > 0, fault_rate in [0, 1]")
        self.core = core
        self.files = files
        self.seconds_per_line = slowdown / lines_per_s
        self.chunk = max(1, min(500, int(lines_per_s / 10)))
        self.fault_rate = fault_rate
        self._rng = random.Random(seed)
        self._ops: dict[int, BulkOp] = {}
        self._nums = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.lines_run = 0

    # -- lookups --------------------------------------------------------------------------------
    def get(self, num: int, token: int) -> BulkOp | None:
        """Operation ``num`` if it belongs to app ``token`` (apps never see each other's ops)."""
        op = self._ops.get(num)
        return op if op is not None and op.token == token else None

    def of_token(self, token: int) -> list[BulkOp]:
        """All operations of one app, oldest first."""
        return [op for op in self._ops.values() if op.token == token]

    def active(self, token: int) -> int:
        """How many operations of app ``token`` count against the concurrency limit."""
        return sum(1 for op in self.of_token(token) if op.status in ACTIVE)

    def find(self, gid_or_num: str | int) -> BulkOp:
        """Any app's operation by GID or number (the shop's own view; KeyError if unknown)."""
        return self._ops[int(str(gid_or_num).rsplit("/", 1)[-1])]

    async def wait(self, gid_or_num: str | int) -> BulkOp:
        """Wait until an operation is terminal (tests and drains gate on this, never on sleeps)."""
        op = self.find(gid_or_num)
        await op.done.wait()
        return op

    async def wait_objects(self, gid_or_num: str | int, count: int) -> BulkOp:
        """Wait until an operation has processed ``count`` objects (or ended)."""
        op = self.find(gid_or_num)
        while op.object_count < count and not op.done.is_set():
            await op.progress.wait()  # pulsed per chunk, left set once the op has ended
        return op

    # -- starting -------------------------------------------------------------------------------
    def _new(self, token: int, kind: str, query: str, base_url: str, client_id: str | None) -> BulkOp:
        op = BulkOp(next(self._nums), token, kind, query, self.core.clock.now(), base_url, client_id)
        self._ops[op.num] = op
        return op

    def start_mutation(
        self,
        *,
        token: int,
        mutation: str,
        lines: list[dict[str, Any]],
        executor: Executor,
        base_url: str,
        client_identifier: str | None,
    ) -> BulkOp:
        """Create a mutation op over ``lines`` (variables per line) and start running it."""
        op = self._new(token, "MUTATION", mutation, base_url, client_identifier)
        self._spawn(op, lambda: self._run_mutation(op, lines, executor))
        return op

    def start_query(self, *, token: int, query: str, lines: Lines, base_url: str, estimate: int) -> BulkOp:
        """Create a query op whose output ``lines`` produces and start running it. ``estimate`` is an
        upper bound of its object count: an injected fault strikes at a random object below it (so a
        filtered export that is far smaller than its estimate usually escapes the fault)."""
        op = self._new(token, "QUERY", query, base_url, None)
        self._spawn(op, lambda: self._run_query(op, lines, estimate))
        return op

    def cancel(self, op: BulkOp) -> bool:
        """Ask a running operation to stop; False if it is already finished."""
        if op.status not in ACTIVE:
            return False
        op.cancel_requested = True
        op.status = "CANCELING"
        return True

    def _spawn(self, op: BulkOp, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a resolver bug must not vanish: the op fails visibly
                op.crash = exc
                self._finish(op, "FAILED", [], error="INTERNAL_SERVER_ERROR")
            finally:
                op.running.set()
                op.done.set()
                op.progress.set()

        task = asyncio.get_running_loop().create_task(guarded(), name=f"sim-bulk-op-{op.num}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- running --------------------------------------------------------------------------------
    async def _until(self, deadline: float) -> None:
        await self.core.clock.sleep(deadline - self.core.clock.now())

    async def _started(self, op: BulkOp) -> float:
        start = op.created + START_LATENCY_S
        await self._until(start)
        if op.status == "CREATED":
            op.status = "RUNNING"
        op.running.set()
        return start

    def _fault_at(self, total: int) -> int | None:
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self._rng.randrange(1, total) if total > 1 else 0
        return None

    async def _run_mutation(self, op: BulkOp, lines: list[dict[str, Any]], executor: Executor) -> None:
        start = await self._started(op)
        order = list(range(len(lines)))
        self._rng.shuffle(order)
        fail_at = self._fault_at(len(order))
        out: list[bytes] = []

        async def one(n: int) -> None:
            response = await executor.execute_unmetered(op.query, lines[n], token_index=op.token)
            record: dict[str, Any] = {"data": response.get("data")}
            if response.get("errors"):
                record["errors"] = response["errors"]
            record["__lineNumber"] = n
            out.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            op.object_count += 1
            op.root_object_count += 1
            self.lines_run += 1

        for i in range(0, len(order), self.chunk):
            chunk = order[i : i + self.chunk]
            if fail_at is not None and i < fail_at < i + len(chunk):
                chunk = chunk[: fail_at - i]  # the fault strikes part-way through this chunk
            due = start + (i + len(chunk)) * self.seconds_per_line
            await self._until(due)
            if self._stopped(op, start, due, out, fail_at, i):
                return
            await asyncio.gather(*(one(n) for n in chunk))
            self._progressed(op)
            if fail_at is not None and op.object_count >= fail_at:
                self._finish(op, "FAILED", out, error="INTERNAL_SERVER_ERROR", at=due)
                return
        self._finish(op, "COMPLETED", out, at=start + op.object_count * self.seconds_per_line)

    async def _run_query(self, op: BulkOp, lines: Lines, estimate: int) -> None:
        start = await self._started(op)
        fail_at = self._fault_at(estimate)
        out: list[bytes] = []
        produced = lines()
        done = 0
        while True:
            batch = list(itertools.islice(produced, self.chunk))
            if not batch:
                break
            due = start + (done + len(batch)) * self.seconds_per_line
            await self._until(due)
            if self._stopped(op, start, due, out, fail_at, done):
                return
            out.append(b"".join(line for _, line in batch))  # one object per chunk, not per line
            op.root_object_count += sum(is_root for is_root, _ in batch)
            done += len(batch)
            op.object_count = done
            self._progressed(op)
        self._finish(op, "COMPLETED", out, at=start + op.object_count * self.seconds_per_line)

    @staticmethod
    def _progressed(op: BulkOp) -> None:
        op.progress.set()
        op.progress.clear()  # waiters already woken; the next chunk sets it again

    def _stopped(
        self, op: BulkOp, start: float, due: float, out: list[bytes], fail_at: int | None, done: int
    ) -> bool:
        """End ``op`` before its next chunk (due at ``due``) if it was canceled, hit its injected fault,
        or its schedule — by the pacing, not by however far a test advanced the clock — passed 24 h."""
        if op.cancel_requested:
            self._finish(op, "CANCELED", out)
        elif fail_at is not None and done >= fail_at:
            self._finish(op, "FAILED", out, error="INTERNAL_SERVER_ERROR", at=due)
        elif due - start > MAX_DURATION_S:
            self._finish(op, "FAILED", out, error="TIMEOUT", at=start + MAX_DURATION_S)
        else:
            return False
        return True

    def _finish(
        self, op: BulkOp, status: str, out: list[bytes], *, error: str | None = None, at: float | None = None
    ) -> None:
        """End ``op``; ``at`` is when its last line was due (a clock advanced far past it must not make
        the operation look slower than it was)."""
        if op.status in TERMINAL:
            return
        now = self.core.clock.now()
        op.status, op.error_code = status, error
        op.completed = now if at is None else min(now, at)
        if not out:
            return
        data = b"".join(out)
        partial = status != "COMPLETED"
        key = f"bulk/{op.num}/{'partial' if partial else 'result'}.jsonl"
        self.files.publish(key, data)
        url = f"{op.base_url}/_sim/files/{key}"
        if partial:
            op.partial_url = url
        else:
            op.url, op.file_size = url, len(data)

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Cancel every running operation's task and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def statistics(self) -> dict[str, Any]:
        """Operations by status and type, and lines run."""
        by_status = Counter(op.status for op in self._ops.values())
        return {
            "bulk_operations": len(self._ops),
            "bulk_by_status": dict(sorted(by_status.items())),
            "bulk_running_tasks": len(self._tasks),
            "bulk_lines_run": self.lines_run,
        }

    def __repr__(self) -> str:
        return f"BulkEngine(ops={len(self._ops)}, tasks={len(self._tasks)}, lines_run={self.lines_run})"
