"""Read new images by product: each product's last *n* media (lines sent directly, whose answers named
no media ids; :mod:`bulk.lanes.media_check` decides what is read and when).

One query aliases ``node(id:)`` for up to :data:`MAX_ALIASES` products
(``queries/product_media_status.graphql``), ``$last`` the group's largest n, at most
:data:`QUERY_BUDGET` requested points: about 7 points a product with two new images.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bulk.errors import ShopifyError
from bulk.lanes._media_ids import HEADROOM
from bulk.models import Lane
from bulk.shopify.documents import PRODUCT_MEDIA_STATUS, aliased
from bulk.shopify.requester import Requester

QUERY_BUDGET = 700.0  # requested points per follow-up query (a query may cost at most 1000)
MAX_ALIASES = 100
NODE_COST = 1.0  # the product node
MEDIA_NODE_COST = 2.0  # one media node with its mediaErrors (the Media interface's dearest member)


def query_cost(last: int, products: int) -> float:
    """Requested cost of reading the last ``last`` media of ``products`` products in one query."""
    return products * (NODE_COST + 2 + last * MEDIA_NODE_COST)


def batches(watches: Iterable[Any]) -> list[list[Any]]:
    """Watches grouped into queries: by how many images each reads (one ``$last`` per query), at most
    :data:`QUERY_BUDGET` points and :data:`MAX_ALIASES` products each."""
    out: list[list[Any]] = []
    for watch in sorted(watches, key=lambda w: w.last):
        group = out[-1] if out else None
        if group is not None and len(group) < MAX_ALIASES and \
                query_cost(watch.last, len(group) + 1) <= QUERY_BUDGET:
            group.append(watch)
        else:
            out.append([watch])
    return out


def status_document(count: int) -> str:
    """The follow-up query for ``count`` products: ``p0 … p{count-1}`` aliases of ``node(id:)`` sharing
    the fragment of ``queries/product_media_status.graphql``."""
    return aliased(PRODUCT_MEDIA_STATUS, "ProductMediaStatus", count=count, query="ProductMediaStatus",
                   alias="p", variable="id", extra="$last: Int!")


_ALIAS = re.compile(r"p(\d+)")


async def read_products(requester: Requester,
                        group: Sequence[Any]) -> dict[int, list[Mapping[str, Any]] | None]:
    """Each watch's last images, by its position in ``group`` (absent: not read): one query."""
    last = max(w.last for w in group)
    variables: dict[str, Any] = {f"id{i}": w.product_id for i, w in enumerate(group)}
    variables["last"] = last
    try:
        response = await requester.request(status_document(len(group)), variables,
                                           cost=math.ceil(query_cost(last, len(group))) + HEADROOM,
                                           priority=Lane.BACKGROUND)
    except ShopifyError:
        return {}
    data = getattr(response, "data", None) or {}
    out: dict[int, list[Mapping[str, Any]] | None] = {}
    for alias, node in data.items():
        match = _ALIAS.fullmatch(alias)
        if match is None or not isinstance(node, dict):
            continue
        at = int(match[1])
        watch = group[at]
        media = (node.get("media") or {}).get("nodes")
        nodes: list[Mapping[str, Any]] | None = list(media) if isinstance(media, list) else None
        # $last is the group's largest: keep only this product's own last images
        out[at] = None if nodes is None else nodes[max(0, len(nodes) - watch.last):]
    return out
