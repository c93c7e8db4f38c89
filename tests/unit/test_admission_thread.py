"""The per-product admission run in its own thread (``bulk.submit._admission_thread``): the event loop
keeps turning while a chunk is admitted, and calls take effect in the order they were made."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

import pytest

from bulk.plan import PlannedLine
from bulk.plan.ordering import KindAdmission
from bulk.submit._admission_thread import AdmissionThread


def price(product: int, row: int) -> PlannedLine:
    return PlannedLine("variants", {"productId": f"gid://shopify/Product/{product}", "variants": []},
                       (("prices.csv", row),))


class GatedAdmission(KindAdmission):
    """Admits only once the test's event loop has let it (what a slow chunk looks like to the loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def admit(self, lines: Iterable[PlannedLine]) -> list[PlannedLine]:
        if not self.gate.wait(timeout=10):  # never set: the admission blocked the loop that sets it
            raise AssertionError("the event loop did not run while a chunk was admitted")
        return super().admit(lines)


async def test_the_event_loop_keeps_turning_while_a_chunk_is_admitted() -> None:
    admission = GatedAdmission()
    desk = AdmissionThread(admission)
    try:
        admitting = asyncio.create_task(desk.admit([price(1, 1), price(2, 2)]))
        await asyncio.sleep(0)  # the admission has started: an urgent change's turn on the loop
        served = asyncio.Event()
        asyncio.get_running_loop().call_soon(served.set)
        await served.wait()
        assert not admitting.done()
        admission.gate.set()
        released, admitted = await admitting
        assert released == [] and admitted == [price(1, 1), price(2, 2)]
    finally:
        desk.close()


async def test_lines_marked_done_without_waiting_are_free_for_the_next_call() -> None:
    desk = AdmissionThread()
    try:
        first, second, other = price(1, 1), price(1, 2), price(2, 3)
        assert await desk.admit([first]) == ([], [first])
        assert await desk.admit([second, other]) == ([], [other])  # the product's earlier line is in flight
        assert desk.held == 1
        desk.done([first])  # a shard's end, from a callback: not awaited
        assert await desk.release_held() == [second]
        assert desk.held == 0
        desk.done([other])
        third = price(2, 4)
        assert await desk.admit([third]) == ([], [third])
    finally:
        desk.close()


async def test_a_failed_done_is_raised_by_the_next_call() -> None:
    desk = AdmissionThread()
    try:
        desk.done([PlannedLine("nonsense", {}, ())])  # type: ignore[arg-type]  # no book for this kind
        with pytest.raises(KeyError):
            await desk.release_held()
    finally:
        desk.close()
