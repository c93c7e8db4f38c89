"""A document the shop has not seen is checked in a worker thread, once, while the loop serves others."""

from __future__ import annotations

import asyncio
import threading

import pytest

import bulk.sim._first_sight as first_sight
from bulk.sim._first_sight import FirstSight
from bulk.sim._schema import Prepared, SupportChecker, prepare

NEW = "query SeenFirstHere { shop { name } }"


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, list[str]]:
    """``prepare`` waits for the gate, and says which texts it was asked and in which thread."""
    gate, asked = threading.Event(), []

    def slow_prepare(text: str) -> Prepared:
        asked.append(threading.current_thread().name)
        assert gate.wait(10), "the test never opened the gate"
        return prepare(text)

    monkeypatch.setattr(first_sight, "prepare", slow_prepare)
    return gate, asked


async def test_the_loop_serves_others_while_a_new_document_is_checked(
    gated: tuple[threading.Event, list[str]],
) -> None:
    gate, asked = gated
    documents = FirstSight(SupportChecker({"QueryRoot": frozenset({"shop"}), "Shop": frozenset({"name"})}))
    first = asyncio.create_task(documents.check(NEW))
    same = asyncio.create_task(documents.check(NEW))
    for _ in range(5):  # other requests' steps run meanwhile
        await asyncio.sleep(0)
    assert not first.done() and not same.done()
    gate.set()
    (prepared, unsupported), again = await first, await same
    assert prepared.document is not None and unsupported == ()
    assert again[0] is prepared  # the second request waited for the same check
    assert asked == [asked[0]] and asked[0] != threading.current_thread().name  # once, not on the loop


async def test_a_known_document_is_answered_without_a_thread(
    gated: tuple[threading.Event, list[str]],
) -> None:
    gate, asked = gated
    gate.set()
    documents = FirstSight(SupportChecker({}))
    known = await documents.check(NEW)
    assert await documents.check(NEW) is known
    assert len(asked) == 1
    assert known[1][0]["extensions"]["code"] == "NOT_IMPLEMENTED_IN_SIMULATOR"  # the support check ran


async def test_a_caller_that_gives_up_leaves_the_check_to_the_others(
    gated: tuple[threading.Event, list[str]],
) -> None:
    gate, _ = gated
    documents = FirstSight(SupportChecker({}))
    leaving = asyncio.create_task(documents.check(NEW))
    staying = asyncio.create_task(documents.check(NEW))
    await asyncio.sleep(0)
    leaving.cancel()
    gate.set()
    prepared, _ = await staying
    assert prepared.document is not None
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_refused_document_keeps_its_errors() -> None:
    documents = FirstSight(SupportChecker({}))
    prepared, unsupported = await documents.check("{ shop { colour } }")
    assert prepared.errors[0]["extensions"]["code"] == "undefinedField"
    assert unsupported == ()


async def test_a_check_does_not_queue_behind_the_shops_other_threads() -> None:
    # The default pool is where the shop parses staged files: a new status poll's document checked
    # there waited behind them. The check has a thread of its own.
    loop = asyncio.get_running_loop()
    gate = threading.Event()
    busy = [loop.run_in_executor(None, gate.wait, 10) for _ in range(64)]  # every default thread taken
    documents = FirstSight(SupportChecker({}))
    try:
        prepared, _ = await asyncio.wait_for(documents.check(NEW), timeout=10)
        assert prepared.document is not None
    finally:
        gate.set()
        await asyncio.gather(*busy)
        documents.close()


async def test_a_check_begun_early_is_the_one_a_later_request_waits_for(
    gated: tuple[threading.Event, list[str]],
) -> None:
    gate, asked = gated
    documents = FirstSight(SupportChecker({"QueryRoot": frozenset({"shop"}), "Shop": frozenset({"name"})}))
    documents.begin(NEW)  # the request arrived; its latency has not passed yet
    documents.begin(NEW)  # another with the same text: no second check
    gate.set()
    prepared, unsupported = await documents.check(NEW)
    assert prepared.document is not None and unsupported == ()
    assert len(asked) == 1 and asked[0] != threading.current_thread().name
    documents.begin(NEW)  # known now: nothing to begin
    assert len(asked) == 1
