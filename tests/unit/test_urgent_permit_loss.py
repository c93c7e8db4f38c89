"""A permit that loses its lease before the answer: the request goes again with a fresh permit when
that cannot apply anything twice (never sent; or sent, but safe to send twice — a query, an
``@idempotent`` mutation, a price update — then on the same token, where the shop replays the key), at
most ``PERMIT_RETRIES`` times; otherwise (an image append) the PermitLostError stands. Doubles for
the scheduler and the transport, a ManualClock: no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import pytest

from bulk.clock import ManualClock
from bulk.errors import PermitLostError
from bulk.models import Lane
from bulk.shopify import documents
from bulk.shopify._permits import PERMIT_RETRIES, Again, after_permit_lost
from bulk.shopify.client import Grant, ShopifyClient
from bulk.shopify.inventory import QuantityChange, set_quantities_variables
from bulk.shopify.transport import Response, Transport

T = TypeVar("T")
SET = documents.document(documents.INVENTORY_SET_QUANTITIES)
PRICES = documents.document(documents.PRODUCT_VARIANTS_BULK_UPDATE)
APPEND = documents.document(documents.PRODUCT_UPDATE)
IMAGES = {"product": {"id": "gid://shopify/Product/1"},
          "media": [{"originalSource": "https://img.example/a.png", "mediaContentType": "IMAGE"}]}
LOCATIONS = documents.document(documents.LOCATIONS)
CHANGE = QuantityChange(inventory_item_id="gid://shopify/InventoryItem/10",
                        location_id="gid://shopify/Location/1", quantity=5, change_from=3)


class LosingScheduler:
    """Grants token 0, 1, 2, … in turn (or the pinned one); the n-th grant's permit is lost as
    ``script[n]`` says: ``"before"`` (the lease is gone when the request would start: nothing is
    sent), ``"during"`` (the request reaches the shop, then the lease is gone before its answer is
    taken), anything else: kept."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.asked: list[int | None] = []  # the token each acquire was pinned to
        self.granted: list[int] = []

    def acquire(
        self, *, cost: float, priority: Lane, token_index: int | None = None
    ) -> AbstractAsyncContextManager[Grant]:
        fate = self.script.pop(0) if self.script else "kept"
        token = len(self.granted) % 3 if token_index is None else token_index
        self.asked.append(token_index)
        self.granted.append(token)

        class _Grant:
            token_index = token

            async def guard(self, work: Awaitable[T]) -> T:
                if fate == "before":
                    if asyncio.iscoroutine(work):
                        work.close()
                    raise PermitLostError("lost before the send")
                answer = await work
                if fate == "during":
                    raise PermitLostError("lost mid-request")
                return answer

            def settle(self, cost: Mapping[str, Any] | None) -> None:
                pass

            def throttled(self, cost: Mapping[str, Any] | None) -> None:
                raise AssertionError("not throttled here")

            def refused(self) -> None:
                raise AssertionError("no token is refused here")

        @asynccontextmanager
        async def grant() -> AsyncIterator[Grant]:
            yield _Grant()

        return grant()


class RecordingTransport:
    """Answers every request at once; records (token, variables) of each one that left."""

    token_count = 3

    def __init__(self) -> None:
        self.sent: list[tuple[int, Mapping[str, Any] | None]] = []

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None, *,
                      token_index: int, timeout_s: float | None = None) -> Response:
        self.sent.append((token_index, variables))
        return Response(data={"ok": True}, extensions={}, cost=None, token_index=token_index)

    def statistics(self) -> None:
        return None


def client(scheduler: LosingScheduler, transport: RecordingTransport) -> ShopifyClient:
    fake: Any = transport  # the client only calls execute() and token_count
    real: Transport = fake
    return ShopifyClient(real, scheduler, clock=ManualClock())


def variables() -> dict[str, Any]:
    return set_quantities_variables([CHANGE], idempotency_key="bulk-inv-test")


async def test_a_permit_lost_before_the_send_goes_again_with_a_fresh_one_on_any_token() -> None:
    sched, wire = LosingScheduler("before"), RecordingTransport()
    shop = client(sched, wire)
    response = await shop.request(SET, variables(), cost=10, priority=Lane.URGENT)
    assert response.data == {"ok": True}
    assert sched.asked == [None, None]  # nothing left on the lost permit: no token is bound
    assert wire.sent == [(1, variables())]  # sent once, with the second permit
    assert shop.statistics().permits_lost == 1


async def test_an_idempotent_mutation_lost_mid_request_goes_again_on_its_token_with_its_key() -> None:
    sched, wire = LosingScheduler("during"), RecordingTransport()
    shop = client(sched, wire)
    await shop.request(SET, variables(), cost=10, priority=Lane.URGENT)
    # it may have been applied: again on the same app, same key -> the shop replays, never applies twice
    assert sched.asked == [None, 0]
    assert wire.sent == [(0, variables()), (0, variables())]


async def test_a_query_lost_mid_request_is_simply_read_again() -> None:
    sched, wire = LosingScheduler("during", "before"), RecordingTransport()
    await client(sched, wire).request(LOCATIONS, {"first": 5}, cost=12, priority=Lane.URGENT)
    assert len(sched.asked) == 3 and [token for token, _ in wire.sent] == [0, 0]


async def test_an_image_append_lost_mid_request_is_not_sent_again() -> None:
    sched, wire = LosingScheduler("during"), RecordingTransport()
    with pytest.raises(PermitLostError):
        await client(sched, wire).request(APPEND, IMAGES, cost=10, priority=Lane.NORMAL)
    assert len(wire.sent) == 1  # it may have been applied, and a resend would add the images twice


async def test_a_price_update_lost_mid_request_goes_again_on_its_token() -> None:
    sched, wire = LosingScheduler("during"), RecordingTransport()
    prices = {"productId": "gid://shopify/Product/1", "variants": []}
    await client(sched, wire).request(PRICES, prices, cost=10, priority=Lane.NORMAL)
    assert wire.sent == [(0, prices), (0, prices)]  # sets values: a second apply changes nothing


async def test_permits_lost_again_and_again_end_in_the_error() -> None:
    sched, wire = LosingScheduler(*["before"] * (PERMIT_RETRIES + 1)), RecordingTransport()
    shop = client(sched, wire)
    with pytest.raises(PermitLostError):
        await shop.request(SET, variables(), cost=10, priority=Lane.URGENT)
    assert len(sched.asked) == PERMIT_RETRIES + 1 and wire.sent == []
    assert shop.statistics().permits_lost == PERMIT_RETRIES + 1


def test_the_decision_table() -> None:
    decide = after_permit_lost
    assert decide(losses=1, maybe_sent=False, document=PRICES, token=2, pinned=None) == Again(None)
    assert decide(losses=1, maybe_sent=False, document=PRICES, token=2, pinned=1) == Again(1)
    assert decide(losses=1, maybe_sent=True, document=SET, token=2, pinned=None) == Again(2)
    assert decide(losses=1, maybe_sent=True, document=PRICES, token=2, pinned=None) == Again(2)
    assert decide(losses=1, maybe_sent=True, document=APPEND, token=2, pinned=None, variables=IMAGES) is None
    assert decide(losses=PERMIT_RETRIES + 1, maybe_sent=False, document=SET, token=2, pinned=None) is None
