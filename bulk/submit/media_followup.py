"""The end of a run that added images: follow them up, and make rows whose image FAILED ``rejected``.

The journal keeps a row's first outcome for good (a mutation Shopify applied *was* applied), so the
verdict on its images is kept beside it, in the run's folder (``media.json``: ``[file, line, status,
reason]`` per amended row), and applied to the outcomes whenever the report is written — the same
report when the same input is submitted again after the run finished. What :mod:`bulk.lanes.media_check`
reads back also goes into the catalog: which media GID is which URL we sent, and each image's status.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bulk.catalog import CatalogStore
from bulk.clock import Clock
from bulk.lanes.media_check import MediaWatch, Verdict, follow_media
from bulk.models import OnEvent, Outcomes, OutcomeStatus, RowId
from bulk.shopify.requester import Requester

VERDICTS_FILE = "media.json"


async def follow_up_media(
    requester: Requester,
    catalog: CatalogStore,
    watches: Sequence[MediaWatch],
    outcomes: Outcomes,
    workdir: Path,
    *,
    clock: Clock,
    wait_s: float,
    on_event: OnEvent,
) -> dict[str, int]:
    """Follow the images of the lines the shop applied; returns products by final state (empty when
    the run added no image). Rows are amended through ``workdir``/:data:`VERDICTS_FILE`."""
    applied = [w for w in watches
               if w.rows and all(outcomes.get(row, (None, ""))[0] is OutcomeStatus.APPLIED for row in w.rows)]
    if not applied:
        return {}
    on_event("media_follow_up", {"products": len(applied), "wait_s": wait_s})

    def remember(verdicts: list[Verdict]) -> None:
        media = [m for v in verdicts for m in v.media]
        catalog.content.remember_sources((gid, url) for gid, url, _, _ in media)
        catalog.content.set_status((gid, status, code) for gid, _, status, code in media)

    report = await follow_media(requester, applied, clock=clock, wait_s=wait_s, on_read=remember)
    amended: dict[RowId, tuple[str, str]] = {}
    for i, watch in enumerate(applied):
        verdict = report.verdicts.get(i)
        if verdict is None or verdict.state == "ready":
            continue
        status = OutcomeStatus.REJECTED if verdict.state == "failed" else OutcomeStatus.APPLIED
        for row in watch.rows:
            amended[row] = (status.value, verdict.reason)
    path = workdir / VERDICTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([[f, n, s, r] for (f, n), (s, r) in amended.items()]), encoding="utf-8")
    counts = report.counts()
    on_event("media_checked", {**counts, "queries": report.queries, "waited_s": report.waited_s})
    return counts


def amend_outcomes(outcomes: Outcomes, workdir: Path) -> Outcomes:
    """``outcomes`` with the image verdicts of the run in ``workdir`` applied (the same dict when there
    are none)."""
    path = workdir / VERDICTS_FILE
    if not path.is_file():
        return outcomes
    amended = json.loads(path.read_text(encoding="utf-8"))
    if not amended:
        return outcomes
    out = dict(outcomes)
    for file, line, status, reason in amended:
        if (file, line) in out:
            out[(file, line)] = (OutcomeStatus(status), reason)
    return out
