"""The urgent lane's micro-batcher with a recording fake sender (no network): batching, ordering,
idempotency keys and per-item outcomes. The shop-facing behaviour is in test_urgent_sim.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from bulk.clock import ManualClock
from bulk.errors import PermitLostError, ServerError
from bulk.lanes.urgent import (
    PHASES,
    InventoryStatus,
    SendTimes,
    UrgentConfig,
    UrgentLane,
    add_http,
    add_permit,
    idempotency_key,
    interpret,
    merge,
    take_batch,
)
from bulk.shopify.inventory import QuantityChange


def change(item: int, loc: int = 1, qty: int = 5, change_from: int | None = None) -> QuantityChange:
    return QuantityChange(
        inventory_item_id=f"gid://shopify/InventoryItem/{item}",
        location_id=f"gid://shopify/Location/{loc}",
        quantity=qty,
        change_from=change_from,
    )


class RecordingSender:
    """Records every batch; answers from ``answer`` (default: all applied)."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[QuantityChange], str]] = []
        self.gate: asyncio.Event | None = None
        self.answer: Any = None
        self.arrived = asyncio.Event()

    async def __call__(self, changes: Sequence[QuantityChange], key: str) -> Mapping[str, Any]:
        self.batches.append((list(changes), key))
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.answer is not None:
            result: Mapping[str, Any] = self.answer(changes)
            return result
        return {
            "inventoryAdjustmentGroup": {"id": "gid://shopify/InventoryAdjustmentGroup/1"},
            "userErrors": [],
        }


async def test_ten_thousand_changes_leave_in_at_most_forty_calls() -> None:
    sender = RecordingSender()
    clock = ManualClock()
    async with UrgentLane(sender, clock=clock) as lane:
        results = await lane.set([change(i) for i in range(10_000)])
    assert len(sender.batches) <= 40
    assert max(len(b) for b, _ in sender.batches) <= 250
    assert [r.status for r in results] == [InventoryStatus.APPLIED] * 10_000
    assert [r.inventory_item_id for r in results] == [c.inventory_item_id for c in map(change, range(10_000))]
    assert lane.statistics().batches == len(sender.batches)


async def test_changes_arriving_within_the_window_share_one_call() -> None:
    sender = RecordingSender()
    clock = ManualClock()
    async with UrgentLane(sender, config=UrgentConfig(window_s=0.005), clock=clock) as lane:
        first = lane.submit(change(1))
        await asyncio.sleep(0)
        second = lane.submit(change(2))
        await asyncio.sleep(0)
        assert sender.batches == []  # the window is still open
        clock.advance(0.005)
        assert (await first).status is InventoryStatus.APPLIED
        assert (await second).status is InventoryStatus.APPLIED
    assert len(sender.batches) == 1
    assert len(sender.batches[0][0]) == 2


async def test_a_change_to_a_pair_in_flight_waits_for_it() -> None:
    sender = RecordingSender()
    sender.gate = asyncio.Event()
    async with UrgentLane(sender, config=UrgentConfig(window_s=0), clock=ManualClock()) as lane:
        a = lane.submit(change(7, qty=1))
        c = lane.submit(change(8, qty=3))
        await sender.arrived.wait()
        b = lane.submit(change(7, qty=2))  # item 7's first change is on its way: this one waits
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(sender.batches) == 1
        sender.gate.set()
        await asyncio.gather(a, b, c)
        assert lane.statistics().merged == 0
    assert [[x.quantity for x in batch] for batch, _ in sender.batches] == [[1, 3], [2]]
    assert [t.pair_wait for t in lane.timings()] == [False, False, True]


def applied_with_previous(before: int) -> Any:
    """An answer that applied every change, each replacing ``before``."""
    def answer(changes: Sequence[QuantityChange]) -> Mapping[str, Any]:
        return {"inventoryAdjustmentGroup": {"id": "g", "changes": [
            {"name": "available", "delta": c.quantity - before, "quantityAfterChange": c.quantity,
             "item": {"id": c.inventory_item_id}, "location": {"id": c.location_id}} for c in changes]},
            "userErrors": []}
    return answer


async def test_changes_to_one_pair_waiting_together_travel_as_one_item_in_order() -> None:
    sender = RecordingSender()
    sender.answer = applied_with_previous(before=4)
    async with UrgentLane(sender, config=UrgentConfig(window_s=0), clock=ManualClock()) as lane:
        results = await lane.set([change(7, qty=1), change(8, qty=3), change(7, qty=2),
                                  change(7, qty=6, change_from=2)])  # expects the one before: merges
        assert lane.statistics().merged == 2
    sent = [[(x.quantity, x.change_from) for x in batch] for batch, _ in sender.batches]
    assert sent == [[(6, None), (3, None)]]
    assert [r.status for r in results] == [InventoryStatus.APPLIED] * 4
    assert [(r.quantity, r.previous) for r in results] == [(1, 4), (3, 4), (2, 1), (6, 2)]  # undo in turn


def test_a_compare_and_set_expecting_another_quantity_does_not_merge() -> None:
    assert merge(change(7, qty=1, change_from=5), change(7, qty=2)) == change(7, qty=2, change_from=5)
    assert merge(change(7, qty=1), change(7, qty=2, change_from=1)) == change(7, qty=2)
    assert merge(change(7, qty=1), change(7, qty=2, change_from=9)) is None


async def test_a_merged_change_the_shop_refuses_goes_again_one_change_at_a_time() -> None:
    def answer(changes: Sequence[QuantityChange]) -> Mapping[str, Any]:  # the shop holds 5
        errors = [{"field": ["input", "quantities", str(i), "changeFromQuantity"], "message": "stale",
                   "code": "CHANGE_FROM_QUANTITY_STALE"}
                  for i, c in enumerate(changes) if c.change_from is not None and c.change_from != 5]
        return {"inventoryAdjustmentGroup": None if errors else {"id": "g"}, "userErrors": errors}

    sender = RecordingSender()
    sender.answer = answer
    async with UrgentLane(sender, config=UrgentConfig(window_s=0), clock=ManualClock()) as lane:
        results = await lane.set([change(7, qty=1, change_from=3), change(7, qty=2)])
    # merged (2, check 3): stale; then alone, in order: the first is stale, the second applies
    assert [[(x.quantity, x.change_from) for x in b] for b, _ in sender.batches] == [
        [(2, 3)], [(1, 3)], [(2, None)]]
    assert [r.status for r in results] == [InventoryStatus.STALE, InventoryStatus.APPLIED]


async def test_each_change_says_where_its_time_went() -> None:
    clock = ManualClock()
    sender = RecordingSender()
    sender.gate = asyncio.Event()

    async def send(changes: Sequence[QuantityChange], key: str) -> Mapping[str, Any]:
        await clock.sleep(0.020)  # waiting for the scheduler's grant
        add_permit(0.020)
        started = clock.now()
        answer = await sender(changes, key)  # on the wire until the gate opens
        add_http(clock.now() - started)
        return answer

    async with UrgentLane(send, config=UrgentConfig(window_s=0.005), clock=clock) as lane:
        asked = clock.now()
        clock.advance(0.040)  # its lookups: 10 ms for a grant, 25 ms on the wire, the rest batching
        future = lane.submit(change(1), since=asked, lookups=SendTimes(permit_s=0.010, http_s=0.025,
                                                                       requests=1))
        await clock.run_until_idle()
        clock.advance(0.005)  # the window
        await clock.run_until_idle()
        clock.advance(0.020)  # the grant
        await sender.arrived.wait()
        clock.advance(0.050)  # the wire
        sender.gate.set()
        assert (await future).status is InventoryStatus.APPLIED
    [timing] = lane.timings()
    ms = {name: round(getattr(timing, f"{name}_s") * 1000, 6) for name in PHASES}
    assert ms == {"lookup": 40, "lookup_permit": 10, "lookup_http": 25, "queued": 5, "start": 0,
                  "permit": 20, "http": 50, "other": 0, "total": 115}
    assert timing.requests == 1 and not timing.pair_wait
    phases = lane.statistics().phases
    assert set(phases) == set(PHASES) and phases["http"] == {"p50_ms": 50.0, "p99_ms": 50.0, "max_ms": 50.0}


def test_take_batch_keeps_per_pair_order_and_the_size_limit() -> None:
    pending = [change(1), change(2), change(1, qty=9), change(3), change(4)]
    taken, waiting = take_batch(pending, busy={change(4).pair}, max_batch=2)
    assert taken == [0, 1]
    assert waiting == [2, 3, 4]


def test_idempotency_key_is_derived_from_content_and_scope() -> None:
    batch = [change(1), change(2, change_from=3)]
    assert idempotency_key(batch, scope="s") == idempotency_key(list(batch), scope="s")
    assert idempotency_key(batch, scope="s") != idempotency_key(batch, scope="t")
    assert idempotency_key(batch, scope="s") != idempotency_key([change(1), change(2)], scope="s")
    assert idempotency_key(batch, scope="s").strip()


def test_interpret_reports_stale_and_rejected_per_item_and_resends_the_rest() -> None:
    batch = [change(1, change_from=3), change(2), change(3)]
    payload = {
        "inventoryAdjustmentGroup": None,
        "userErrors": [
            {
                "field": ["input", "quantities", "0", "changeFromQuantity"],
                "message": "stale",
                "code": "CHANGE_FROM_QUANTITY_STALE",
            },
            {
                "field": ["input", "quantities", "2", "locationId"],
                "message": "nope",
                "code": "INVALID_LOCATION",
            },
        ],
    }
    results, resend = interpret(batch, payload)
    assert results[0].status is InventoryStatus.STALE
    assert results[2].status is InventoryStatus.REJECTED and results[2].code == "INVALID_LOCATION"
    assert resend == [1]
    applied, none = interpret(batch, {**payload, "inventoryAdjustmentGroup": {"id": "x"}})
    assert applied[1].status is InventoryStatus.APPLIED and none == []


def test_interpret_rejects_all_on_an_error_without_an_item() -> None:
    results, resend = interpret(
        [change(1), change(2)],
        {"inventoryAdjustmentGroup": None, "userErrors": [{"field": ["input", "reason"], "message": "bad"}]},
    )
    assert {r.status for r in results.values()} == {InventoryStatus.REJECTED}
    assert resend == []


async def test_a_stale_item_does_not_block_the_others() -> None:
    def answer(changes: Sequence[QuantityChange]) -> Mapping[str, Any]:
        errors = [
            {
                "field": ["input", "quantities", str(i), "changeFromQuantity"],
                "message": "stale",
                "code": "CHANGE_FROM_QUANTITY_STALE",
            }
            for i, c in enumerate(changes)
            if c.change_from is not None
        ]
        return {"inventoryAdjustmentGroup": None if errors else {"id": "g"}, "userErrors": errors}

    sender = RecordingSender()
    sender.answer = answer
    async with UrgentLane(sender, config=UrgentConfig(window_s=0), clock=ManualClock()) as lane:
        results = await lane.set([change(1), change(2, change_from=4), change(3)])
    assert [r.status for r in results] == [
        InventoryStatus.APPLIED,
        InventoryStatus.STALE,
        InventoryStatus.APPLIED,
    ]
    assert len(sender.batches) == 2
    assert sender.batches[0][1] != sender.batches[1][1]  # new content, new key


async def test_a_failed_call_rejects_its_items_with_the_reason() -> None:
    async def failing(changes: Sequence[QuantityChange], key: str) -> Mapping[str, Any]:
        raise ServerError("HTTP 502 from the shop", status=502, token_index=1)

    async with UrgentLane(failing, config=UrgentConfig(window_s=0), clock=ManualClock()) as lane:
        results = await lane.set([change(1), change(2)])
    assert {r.status for r in results} == {InventoryStatus.REJECTED}
    assert all("502" in (r.reason or "") for r in results)
    assert "UrgentLane(" in repr(lane)


async def test_a_permit_lost_again_and_again_rejects_its_items_never_raises() -> None:
    async def losing(changes: Sequence[QuantityChange], key: str) -> Mapping[str, Any]:
        raise PermitLostError("permit 7 on token 1 lost its lease mid-request")

    async with UrgentLane(losing, config=UrgentConfig(window_s=0), clock=ManualClock()) as lane:
        results = await lane.set([change(1), change(2)])
    assert {r.status for r in results} == {InventoryStatus.REJECTED}
    assert all("lost its lease" in (r.reason or "") for r in results)


async def test_an_ambiguous_sku_is_rejected_never_guessed() -> None:
    from typing import cast

    from bulk.models import InventoryUpdate, Source
    from bulk.shopify.client import ShopifyClient
    from bulk.shopify.resolve import InventoryResolver
    from bulk.shopify.transport import Response

    class TwoItemsForOneSku:
        """Answers the SKU lookup: SKU-A is on two inventory items, SKU-B on one."""

        def __init__(self) -> None:
            self.calls: list[Mapping[str, Any]] = []

        async def request(self, document: str, variables: Mapping[str, Any], **_: Any) -> Response:
            self.calls.append(variables)
            nodes = {
                'sku:"SKU-A"': [
                    {"id": "gid://shopify/InventoryItem/1", "sku": "SKU-A"},
                    {"id": "gid://shopify/InventoryItem/2", "sku": "SKU-A"},
                ],
                'sku:"SKU-B"': [
                    {"id": "gid://shopify/InventoryItem/3", "sku": "SKU-B"},
                    {"id": "gid://shopify/InventoryItem/4", "sku": "SKU-B-2"},
                ],
            }
            data = {f"s{i}": {"nodes": nodes.get(variables[f"q{i}"], [])} for i in range(len(variables))}
            return Response(data=data, extensions={}, cost=None, token_index=0)

    client = TwoItemsForOneSku()
    resolver = InventoryResolver(cast(ShopifyClient, client))
    updates = [
        InventoryUpdate(
            source=Source(file="t", line=n), sku=sku, location_id="gid://shopify/Location/1", quantity=1
        )
        for n, sku in enumerate(["SKU-A", "SKU-B"], start=1)
    ]
    assert resolver.resolve_cached(updates) is None  # not known yet: a lookup is needed
    resolved = await resolver.resolve(updates)
    assert isinstance(resolved[0], str) and "ambiguous SKU 'SKU-A'" in resolved[0]
    assert isinstance(resolved[1], QuantityChange) and resolved[1].inventory_item_id.endswith("/3")
    assert len(client.calls) == 1  # both SKUs in one call (the search is not exact: sku compared)
    assert resolver.resolve_cached(updates) == resolved and len(client.calls) == 1  # known: at once
