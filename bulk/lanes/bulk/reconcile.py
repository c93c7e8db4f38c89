"""A finished bulk operation's results, turned into one outcome per input row.

Results come back in any order: each line is matched to the shard's line (and so to its input rows) by
``__lineNumber``, never by position. Lines with userErrors are rejected with the shop's reason; lines
the operation never processed (FAILED, cancelled, partial) go into a new shard, a bounded number of
times, then are rejected. An operation that ended COMPLETED having counted every line released the
lines held behind it at once (:func:`all_processed`): a line missing from its results is rejected,
never retried, since a retry could land after a newer change of the same product.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from bulk.journal import ROW_ORDER, Claim, Journal, Outcome
from bulk.lanes.bulk import shard_data
from bulk.lanes.bulk.shard_data import ShardData
from bulk.models import OutcomeStatus
from bulk.plan import RowId

Results = Callable[[str], AsyncIterator[dict[str, Any]]]
DECIDE_BATCH = 2000  # result lines decided per worker-thread call
# outcomes heard at a time, the event loop free for others between: a shard's 8,000 image outcomes
# are ~20 ms of the listener's Python in one go, more while worker threads want the GIL too
HEARD_AT_ONCE = 1000
OnOutcomes = Callable[[Sequence[Outcome]], None]
KeepOutcomes = Callable[[list[Outcome]], list[Outcome]]  # which of these outcomes to record


async def reconcile(
    results: Results,
    journal: Journal,
    claim: Claim,
    *,
    status: str,
    error_code: str | None,
    urls: tuple[str | None, ...],
    shard: ShardData,
    max_attempts: int,
    objects: int = 0,
    on_outcomes: OnOutcomes | None = None,
    keep: KeepOutcomes | None = None,
) -> int:
    """Record every row's outcome from the result files at ``urls`` (complete, partial); lines missing
    from them go into a retry shard while attempts remain. Completes the claim; returns how many lines
    were retried. ``objects`` is the shop's count of processed lines; ``on_outcomes`` hears the
    outcomes once the journal has them."""
    unit = claim.unit
    rows = shard.rows
    outcomes: list[Outcome] = []
    seen: set[int] = set()
    for url in urls:
        if not url:
            continue
        batch: list[dict[str, Any]] = []
        async for line in results(url):
            batch.append(line)
            if len(batch) >= DECIDE_BATCH:  # a result file of 20k lines is ~1 s of Python: not on the loop
                outcomes += await asyncio.to_thread(_decide_lines, batch, rows, seen, unit.unit_id)
                batch = []
        outcomes += await asyncio.to_thread(_decide_lines, batch, rows, seen, unit.unit_id)
    missing = [n for n in range(len(rows)) if n not in seen]
    generation = unit.client_identifier.count("/retry")
    counted_all = all_processed(status, objects, len(rows))
    retry = bool(missing) and generation + 1 < max_attempts and not counted_all
    if retry:
        subset = shard.subset(missing)
        ident = f"{unit.client_identifier}/retry"
        if unit.payload_path is None:
            new = shard_data.inline_unit(ident, subset)
        else:
            folder = Path(unit.payload_path).parent
            new = await asyncio.to_thread(shard_data.file_unit, ident, subset, folder)
        await journal.add_units(unit.run_id, [new])
    elif missing:
        if counted_all:
            reason = ("no result line although the shop counted every line as processed; not retried "
                      "(a later change of the same product may already be in the shop): check it")
        else:
            reason = f"not applied after {generation + 1} bulk operations ({status} {error_code or ''})"
            reason = reason.replace(" )", ")")
        outcomes += [Outcome(f, ln, OutcomeStatus.REJECTED, reason, unit_id=unit.unit_id)
                     for n in missing for f, ln in rows[n]]
    # in row order, sorted in a thread: the listener's own sort (the report's book) is then linear
    outcomes = await asyncio.to_thread(sorted, outcomes, key=ROW_ORDER)
    if keep is not None:  # rows decided already by another part of the row (the first outcome stands)
        outcomes = keep(outcomes)
    await journal.record_outcomes(unit.run_id, outcomes)
    if on_outcomes is not None:
        for start in range(0, len(outcomes), HEARD_AT_ONCE):
            if start:
                await asyncio.sleep(0)  # an urgent change's turn
            on_outcomes(outcomes[start:start + HEARD_AT_ONCE])
    await journal.complete(claim)
    return len(missing) if retry else 0


def all_processed(status: str, objects: int, lines: int) -> bool:
    """An operation that ended COMPLETED having processed every line: each line's write is in the shop,
    so lines of the same products held behind it may go now — not only after its results were read,
    which takes seconds when 15 operations end together. (A line the shop did not process would be
    retried, and must not land after a newer line of its product: so not on any other end.)"""
    return status == "COMPLETED" and objects >= lines


def _decide_lines(lines: list[dict[str, Any]], rows: Sequence[Sequence[RowId]], seen: set[int],
                  unit_id: int) -> list[Outcome]:
    """The outcomes of the rows behind result ``lines`` not ``seen`` before (adds them to ``seen``)."""
    outcomes: list[Outcome] = []
    for line in lines:
        n = int(line["__lineNumber"])
        if n in seen or n >= len(rows):
            continue
        seen.add(n)
        outcome, reason = decide(line)
        media = media_ids(line)
        outcomes += [Outcome(f, ln, outcome, reason or None, object_id=media, unit_id=unit_id)
                     for f, ln in rows[n]]
    return outcomes


def media_ids(line: dict[str, Any]) -> str | None:
    """The product's media GIDs in order, space-separated, when the line's answer names them (the bulk
    documents of descriptions and images do: bulk/lanes/media_check.py reads new images by id)."""
    data = line.get("data")
    payload = next(iter(data.values()), None) if isinstance(data, dict) and data else None
    product = payload.get("product") if isinstance(payload, dict) else None
    media = product.get("media") if isinstance(product, dict) else None
    if not isinstance(media, dict) or not isinstance(media.get("nodes"), list):
        return None
    return " ".join(str(node.get("id")) for node in media["nodes"] if isinstance(node, dict))


def decide(line: dict[str, Any]) -> tuple[OutcomeStatus, str]:
    """The outcome of one result line: applied, or rejected with the shop's userErrors."""
    data = line.get("data") or {}
    payload = next(iter(data.values()), None) if isinstance(data, dict) else None
    errors = list((payload or {}).get("userErrors") or []) + list(line.get("errors") or [])
    if errors:
        return OutcomeStatus.REJECTED, "shop refused: " + "; ".join(str(e.get("message", e)) for e in errors)
    return OutcomeStatus.APPLIED, ""
