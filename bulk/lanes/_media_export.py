"""Read many products' media with one bulk query: the end of a run that added thousands of images.

Direct reads cost bucket points (about 7 a product with two new images); a bulk query costs none
beyond its control calls, so :class:`bulk.lanes.media_check.MediaFollower` uses this when many products
are due at once. The query (``queries/media_export.graphql``) exports every product written since the
run started — ours and any other writer's — with its media in position order; only the products asked
for are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bulk.catalog.sync import ExportPort
from bulk.clock import Clock
from bulk.errors import ShopifyError
from bulk.shopify.bulk_operations import TERMINAL
from bulk.shopify.documents import MEDIA_EXPORT, document


def media_export_query(since: str | None) -> str:
    """The bulk query reading products written after ``since`` (ISO, UTC) with their media."""
    text = document(MEDIA_EXPORT)
    if since is None:
        return text
    return re.sub(r"\bproducts\s*\{", f'products(query: "updated_at:>=\'{since}\'") {{', text, count=1)


async def read_by_export(port: ExportPort, products: Sequence[str], since: str | None,
                         clock: Clock, *, deadline: float) -> dict[str, list[Mapping[str, Any]]]:
    """These products' media, in position order, read with one bulk query (empty when the shop
    refused it, it failed, or it was not finished at ``deadline`` on ``clock``: the caller reads
    directly)."""
    wanted = set(products)
    try:
        op = await port.start_query(media_export_query(since), token_index=0)
        delay = 0.5
        while True:
            status = await port.status(op, token_index=0)
            if status.status in TERMINAL or clock.now() >= deadline:
                break
            await clock.sleep(min(delay, max(0.0, deadline - clock.now())))
            delay = min(5.0, delay * 1.5)
        if status.status != "COMPLETED" or not status.url:
            return {}
        found: dict[str, list[Mapping[str, Any]]] = {}
        read = 0
        async for line in port.results(status.url):
            if read % 1000 == 0 and clock.now() >= deadline:
                break  # a big shop's media file: what is read so far counts, the rest stays unread
            read += 1
            parent = line.get("__parentId")
            if parent is None:
                if line.get("id") in wanted:
                    found[str(line["id"])] = []
            elif parent in found:
                found[str(parent)].append(line)
        return found
    except ShopifyError:
        return {}

