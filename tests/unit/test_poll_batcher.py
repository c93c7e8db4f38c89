"""Polls of one token's operations waiting together go to the shop as one query."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from bulk.errors import TransientError
from bulk.lanes.bulk._calls import CallGate
from bulk.lanes.bulk._polls import PollBatcher
from bulk.lanes.bulk.ports import OpStatus


class Shop:
    """Each ``statuses`` query waits until the test answers it; records its token and operations."""

    def __init__(self) -> None:
        self.queries: list[tuple[int, set[str]]] = []
        self._answers: list[asyncio.Future[Exception | None]] = []

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        assert len(set(op_ids)) == len(op_ids), "an operation asked twice in one query"
        self.queries.append((token_index, set(op_ids)))
        answer: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        fault = await answer
        if fault is not None:
            raise fault
        return {op: OpStatus(op, "RUNNING") for op in op_ids}

    def answer(self, n: int, fault: Exception | None = None) -> None:
        self._answers[n].set_result(fault)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached")


def batcher(shop: Shop, calls: int = 4) -> PollBatcher:
    return PollBatcher(shop, CallGate(calls))  # type: ignore[arg-type]  # only statuses is used


async def test_polls_of_one_token_waiting_together_are_one_query_and_tokens_apart() -> None:
    shop = Shop()
    polls = batcher(shop)
    first = asyncio.create_task(polls.status("op-1", 0))
    await until(lambda: len(shop.queries) == 1)  # in flight: the next polls of token 0 wait for it
    later = [asyncio.create_task(polls.status(op, 0)) for op in ("op-2", "op-3", "op-2")]
    other = asyncio.create_task(polls.status("op-9", 1))
    await until(lambda: len(shop.queries) == 2)
    assert shop.queries[1] == (1, {"op-9"})  # another token: a query of its own, at once
    shop.answer(0)
    await until(lambda: len(shop.queries) == 3)
    assert shop.queries[2] == (0, {"op-2", "op-3"})  # the three that waited: one query, op-2 once
    shop.answer(1)
    shop.answer(2)
    answers = await asyncio.gather(first, *later, other)
    assert [a.id for a in answers] == ["op-1", "op-2", "op-3", "op-2", "op-9"]
    assert len(shop.queries) == 3 and polls.queries == 3


async def test_a_fault_reaches_every_poll_the_query_carried() -> None:
    shop = Shop()
    polls = batcher(shop)
    blocker = asyncio.create_task(polls.status("a", 0))
    await until(lambda: len(shop.queries) == 1)
    carried = [asyncio.create_task(polls.status(op, 0)) for op in ("b", "c")]
    shop.answer(0)
    await until(lambda: len(shop.queries) == 2)
    shop.answer(1, TransientError("503 from the shop"))
    results = await asyncio.gather(*carried, return_exceptions=True)
    assert all(isinstance(r, TransientError) for r in results) and (await blocker).id == "a"


async def test_a_leader_cancelled_waiting_for_a_place_hands_its_polls_to_a_new_leader() -> None:
    shop = Shop()
    polls = batcher(shop, calls=1)
    blocker = asyncio.create_task(polls.status("x", 1))  # holds the one call place
    await until(lambda: len(shop.queries) == 1)
    leader = asyncio.create_task(polls.status("op-1", 0))
    waiter = asyncio.create_task(polls.status("op-2", 0))  # behind the leader, who waits for a place
    await until(lambda: polls._calls.waiting == 1)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    shop.answer(0)
    await until(lambda: len(shop.queries) == 2)
    assert shop.queries[1] == (0, {"op-2"})  # the cancelled leader's own poll is not sent
    shop.answer(1)
    assert (await waiter).id == "op-2" and (await blocker).id == "x"


async def test_a_poll_carried_by_a_leader_cancelled_mid_query_asks_again() -> None:
    shop = Shop()
    polls = batcher(shop, calls=1)
    blocker = asyncio.create_task(polls.status("x", 1))
    await until(lambda: len(shop.queries) == 1)
    leader = asyncio.create_task(polls.status("op-1", 0))
    carried = asyncio.create_task(polls.status("op-2", 0))
    await until(lambda: polls._calls.waiting == 1)
    shop.answer(0)
    await until(lambda: len(shop.queries) == 2)
    assert shop.queries[1] == (0, {"op-1", "op-2"})
    leader.cancel()  # before the answer: op-2's poll leads a query of its own
    with pytest.raises(asyncio.CancelledError):
        await leader
    await until(lambda: len(shop.queries) == 3)
    assert shop.queries[2] == (0, {"op-2"})
    shop.answer(2)
    assert (await carried).id == "op-2" and (await blocker).id == "x"
