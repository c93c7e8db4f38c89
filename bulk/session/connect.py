"""Open a shop session for a process of the fleet: the scheduler shared through Redis when one is named."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from bulk.scheduler import Scheduler
from bulk.session.shop import Shop, ShopConfig
from bulk.submit.options import shop_id


@contextlib.asynccontextmanager
async def shop_session(
    shop: str, tokens: str | Sequence[str] | None, *, redis_url: str | None, max_in_flight: int = 8
) -> AsyncIterator[Shop]:
    """An open :class:`Shop`; with ``redis_url`` its scheduler is the fleet's shared one (Redis), keyed
    by the shop so every submitter and worker of that shop draws on the same buckets and cap."""
    factory = None
    if redis_url is not None:

        def factory(token_count: int, time_scale: float) -> Scheduler:
            return Scheduler.redis(redis_url, shop=shop_id(shop), token_count=token_count,
                                   max_in_flight=max_in_flight, time_scale=time_scale)

    async with Shop.connect(shop, tokens, config=ShopConfig(max_in_flight=max_in_flight),
                            scheduler_factory=factory) as s:
        yield s
