"""Read new images by their media GIDs: 1 point an image instead of reading each product's media.

A bulk operation's results name each written product's media in order (the bulk documents of
descriptions and images ask for them, and bulk results cost no points); the images a line added are
at the positions it wrote them. :class:`bulk.lanes.media_check.MediaFollower` then reads those images
with aliased ``node(id:)`` queries (``queries/media_status.graphql``): ``status`` only (1 point an
image, :data:`MAX_IDS` a query), and only the images that ended FAILED again with ``mediaErrors``
(2 points each) for Shopify's reason. At 200k new images that is 200k points instead of 1.4M.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bulk.errors import ShopifyError
from bulk.models import Lane
from bulk.shopify.documents import MEDIA_STATUS, aliased
from bulk.shopify.requester import Requester

# images a query: 100 points with MediaStatus, 200 with MediaFailure. Not the 250 a query could hold:
# the follow-up runs at Lane.BACKGROUND, so other lanes' requests go first, but one admitted query
# still takes its points at once; 100 are a third of a second of a Standard plan's three tokens
MAX_IDS = 100
# asked of the scheduler on top of each follow-up query's points and refunded with its answer (the
# bucket is re-synced to the shop's throttleStatus): a query is admitted only while a token holds this
# much more than it and the urgent reserve, so the follow-up spends what the buckets restore above it
# and never leaves an urgent burst (a 252-point location read, a mutation of 50 quantities) waiting
# for restore; the read rate is the restore rate all the same
HEADROOM = 300


def id_document(count: int, fragment: str) -> str:
    """The query reading ``count`` images (``m0 …``) with ``fragment`` (MediaStatus | MediaFailure)."""
    return aliased(MEDIA_STATUS, fragment, count=count, query=fragment, alias="m")


def id_groups(watches: Iterable[Any]) -> list[list[Any]]:
    """Watches (with ``media_ids``) grouped so that a group's images fit one query."""
    groups: list[list[Any]] = []
    size = 0
    for watch in watches:
        count = len(watch.media_ids)
        if not groups or size + count > MAX_IDS:
            groups.append([])
            size = 0
        groups[-1].append(watch)
        size += count
    return groups


async def read_ids(requester: Requester, ids: Sequence[str]) -> tuple[dict[str, Mapping[str, Any]], int]:
    """Each image's node (absent: not read), and the queries it took: statuses, then the reasons of
    the images that FAILED."""
    found, queries = await _query(requester, ids, "MediaStatus", cost_each=1)
    failed = [mid for mid, node in found.items() if node.get("status") == "FAILED"]
    if failed:
        detail, more = await _query(requester, failed, "MediaFailure", cost_each=2)
        found.update(detail)
        queries += more
    return found, queries


def tail_of(watch: Any, found: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
    """The watch's last ``last`` images as :func:`bulk.lanes.media_check.judge` reads them (only its
    new positions filled), or None when one of its images was not read."""
    tail: list[Mapping[str, Any]] = [{} for _ in range(watch.last)]
    for (position, _), mid in zip(watch.new, watch.media_ids, strict=True):
        node = found.get(mid)
        if node is None:
            return None
        tail[position] = node
    return tail


async def _query(requester: Requester, ids: Sequence[str], fragment: str,
                 *, cost_each: int) -> tuple[dict[str, Mapping[str, Any]], int]:
    found: dict[str, Mapping[str, Any]] = {}
    queries = 0
    for at in range(0, len(ids), MAX_IDS):
        chunk = list(ids[at : at + MAX_IDS])
        queries += 1
        try:
            response = await requester.request(id_document(len(chunk), fragment),
                                               {f"m{i}": mid for i, mid in enumerate(chunk)},
                                               cost=cost_each * len(chunk) + HEADROOM,
                                               priority=Lane.BACKGROUND)
        except ShopifyError:
            continue
        data = getattr(response, "data", None) or {}
        for i, mid in enumerate(chunk):
            node = data.get(f"m{i}")
            if isinstance(node, dict):
                found[mid] = node
    return found, queries
