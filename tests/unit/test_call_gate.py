"""The bulk lane's control calls: a start whose slot just freed goes before the polls queued ahead."""

from __future__ import annotations

import asyncio

import pytest

from bulk.lanes.bulk._calls import Call, CallGate


async def test_a_freed_place_goes_to_a_start_before_earlier_polls_then_first_come_first_served() -> None:
    gate = CallGate(1)
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.call(Call.POLL):
            await release.wait()

    async def one(name: str, kind: Call) -> None:
        async with gate.call(kind):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(one(n, k)) for n, k in
               [("poll-1", Call.POLL), ("upload", Call.UPLOAD), ("poll-2", Call.POLL), ("start", Call.START)]]
    await asyncio.sleep(0)
    assert gate.waiting == 4 and order == []  # the one place is held: nobody passes
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["start", "upload", "poll-1", "poll-2"]


async def test_a_cancelled_waiter_leaves_the_line_and_its_place_is_not_lost() -> None:
    gate = CallGate(1)
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.call(Call.POLL):
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    gone = asyncio.create_task(gate._enter(Call.START))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.waiting == 0
    release.set()
    await first
    # both places free again: two calls in a row pass at once (none waits for a place nobody holds)
    async with gate.call(Call.POLL):
        pass
    async with asyncio.timeout(1):
        async with gate.call(Call.START):
            pass


async def test_a_place_handed_to_a_waiter_cancelled_in_the_same_turn_is_passed_on() -> None:
    gate = CallGate(1)
    await gate._enter(Call.POLL)  # the one place, held here
    handed = asyncio.create_task(gate._enter(Call.START))
    after = asyncio.create_task(gate._enter(Call.POLL))
    await asyncio.sleep(0)
    assert gate.waiting == 2
    gate._leave()  # the place goes to the start's future…
    handed.cancel()  # …whose task is cancelled before it resumes: the place goes on to the poll
    with pytest.raises(asyncio.CancelledError):
        await handed
    async with asyncio.timeout(1):
        await after
    assert gate.waiting == 0


async def test_a_waiter_cancelled_before_it_runs_is_passed_over_by_the_next_release() -> None:
    gate = CallGate(1)
    await gate._enter(Call.POLL)
    gone = asyncio.create_task(gate._enter(Call.START))
    after = asyncio.create_task(gate._enter(Call.POLL))
    await asyncio.sleep(0)
    gone.cancel()  # its place's future is cancelled now; its own clean-up runs at its next turn…
    gate._leave()  # …after this release, which passes it over to the poll
    with pytest.raises(asyncio.CancelledError):
        await gone
    async with asyncio.timeout(1):
        await after
    assert gate.waiting == 0
