"""The direct route: planned lines sent as single mutations through the scheduler.

:func:`send_line` is the one sender (the submitting process and the fleet's workers both use it). A
local run sends its lines as tasks; with a shared journal (``--database-url``) the submission cuts them
into :data:`~bulk.journal.UnitKind.DIRECT_BATCH` units (:func:`direct_units`) that workers claim and
send (:func:`send_batch`), so the submitting process sends nothing itself.

Why units: a submission routed "direct" is thousands of small mutations; in a fleet they must be
spread over every worker (each keeps its own requests in flight, all under the one shared scheduler
cap), survive a worker's death, and end every row in exactly one outcome. A batch is an inline JSON
payload ``{"lines": [{"kind", "variables", "rows", "cost"}, …]}``; the worker sends its lines with a
few concurrent senders, records outcomes in small batches, and on shutdown stops taking new lines,
lets the requests in flight finish, and gives the unit back. A re-claimed unit skips lines whose rows
already have an outcome.

Known limit: a worker killed (-9) between a request's answer and the outcome's commit leaves that
line to be sent again by the next claimant (a second identical write). Bulk shards do not have this
window wider than one journal write; prefer the bulk route when exactly-once writes matter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bulk.errors import MaybeAppliedError, RunStoppedError, ShopifyError
from bulk.journal import Claim, Journal, NewUnit, Outcome, UnitKind
from bulk.lanes.bulk import decide
from bulk.models import Lane, OutcomeStatus
from bulk.plan import PlannedLine, line_cost
from bulk.shopify.documents import DIRECT_MUTATIONS, document
from bulk.shopify.requester import Requester

FLUSH_EVERY = 50  # outcomes per journal write
# A row whose request may have been applied and must not be sent twice (docs/errors.md, check_shop):
# only an image append is such a direct line today (the others set values, and are resent).
MAYBE_APPLIED = {
    "media": "network fault after sending: the images may have been added, and Shopify does not give "
             "back an image's source to tell; check the product, or send its whole image set in "
             "replace mode, which cannot add an image twice",
}
MAYBE_APPLIED_OTHER = ("network fault after sending: the change may have been applied; submit the file again "
                       "with --again — it compares with the shop and sends only what differs")


def direct_units(run_key: str, lines: Sequence[PlannedLine], *, batch: int = 200) -> list[NewUnit]:
    """``lines`` cut into :data:`~bulk.journal.UnitKind.DIRECT_BATCH` units of ``batch`` lines."""
    units = []
    for start in range(0, len(lines), batch):
        chunk = lines[start:start + batch]
        payload = {"lines": [
            {"kind": ln.kind, "variables": ln.variables, "rows": [list(r) for r in ln.rows],
             "cost": line_cost(ln)} for ln in chunk]}
        units.append(NewUnit(kind=UnitKind.DIRECT_BATCH, client_identifier=f"{run_key}/direct/{start}",
                             line_count=len(chunk), payload=payload))
    return units


async def send_batch(
    claim: Claim, journal: Journal, requester: Requester, *, concurrency: int, stopping: asyncio.Event,
    on_drained: Callable[[], None] | None = None,
) -> bool:
    """Send the unit's lines; ``True`` when every line was sent (the caller completes the unit),
    ``False`` when ``stopping`` was set first (the caller gives it back). ``on_drained`` is called
    once, when no line is left to start (the last ones are in flight): a worker claims its next unit
    then, so its senders do not sit idle while this one ends."""
    unit = claim.unit
    lines: list[dict[str, Any]] = list(unit.payload["lines"])
    if unit.attempt > 1:  # a previous holder may have sent some lines already
        done = {(o.file, o.line) for o in await journal.list_outcomes(unit.run_id)}
        lines = [ln for ln in lines if not all((f, n) in done for f, n in ln["rows"])]
    queue = iter(lines)
    pending: list[Outcome] = []
    lock = asyncio.Lock()

    async def flush(force: bool) -> None:
        async with lock:
            if pending and (force or len(pending) >= FLUSH_EVERY):
                batch = list(pending)
                pending.clear()
                await journal.record_outcomes(unit.run_id, batch)

    drained = False

    async def sender() -> None:
        nonlocal drained
        for line in queue:
            if stopping.is_set():
                return
            status, reason = await _send(requester, line)
            pending.extend(Outcome(f, n, status, reason or None, unit_id=unit.unit_id)
                           for f, n in line["rows"])
            await flush(False)
        if not drained and on_drained is not None:
            drained = True
            on_drained()

    async with asyncio.TaskGroup() as tg:
        for i in range(max(1, concurrency)):
            tg.create_task(sender(), name=f"direct-{unit.unit_id}-{i}")
    await flush(True)
    return not stopping.is_set() or next(queue, None) is None


async def _send(requester: Requester, line: Mapping[str, Any]) -> tuple[OutcomeStatus, str]:
    return await send_line(requester, line["kind"], line["variables"], cost=float(line["cost"]))


async def send_line(requester: Requester, kind: str, variables: Mapping[str, Any], *,
                    cost: float) -> tuple[OutcomeStatus, str]:
    """Send one planned line (``kind``: "variants" | "product" | "media" | "set") and decide its rows'
    outcome from the answer: applied, or rejected with the shop's reason (``userErrors`` or a refused
    request).

    An account-level refusal is not a row's answer: a :class:`~bulk.errors.RunStoppedError` (shop
    frozen, locked or not found, every token refused) is raised, and the run stops — a bad token
    must not turn into one refused request per row. (A single refused token is the client's to
    handle: the request goes again on another token.) A request that may have been applied and is
    not safe to send twice (:class:`~bulk.errors.MaybeAppliedError`: an image append met a 502 or a
    dropped connection) is never resent: its rows are rejected with a reason that says what to do."""
    try:
        response = await requester.request(document(DIRECT_MUTATIONS[kind]), variables, cost=cost,
                                            priority=Lane.NORMAL)
    except RunStoppedError:
        raise
    except MaybeAppliedError as exc:
        return OutcomeStatus.REJECTED, f"{MAYBE_APPLIED.get(kind, MAYBE_APPLIED_OTHER)} ({exc.fault})"
    except ShopifyError as exc:
        return OutcomeStatus.REJECTED, f"shop refused: {exc}"
    return decide({"data": getattr(response, "data", None) or {}})
