"""Polls of one token's operations that wait at the same moment go to the shop as one query.

Why: each running operation is polled on its own schedule, every fraction of a second near its
estimated end — and when a round of operations ends together, fifteen of them are. One query per
poll kept the lane's few control calls busy with polls (``_calls.py``), so ends were seen late and
starts waited. A poll joins the query its token is about to send (or the next one): one request
answers all of them (``BulkOpsPort.statuses``, one aliased ``bulkOperation`` per operation, 1 point
each), and at most one poll query per token is in flight.

No task of its own: the first poll of a token to find no query in flight sends one (its *leader*),
carrying every poll of that token waiting when its call place frees; a poll that came later leads
the next query once it returns. A leader cancelled mid-query hands the polls it carried back, and
one of them leads the next query.
"""

from __future__ import annotations

import asyncio

from bulk.lanes.bulk._calls import Call, CallGate
from bulk.lanes.bulk.ports import BulkOpsPort, OpStatus


class _LeadAgain(Exception):
    """The leader carrying this poll was cancelled: ask again (and perhaps lead)."""


class PollBatcher:
    """``await batcher.status(op, token)``: the operation's status, polled together with every other
    poll of ``token`` that waits at the same moment."""

    def __init__(self, port: BulkOpsPort, calls: CallGate) -> None:
        self._port = port
        self._calls = calls
        self._waiting: dict[int, list[tuple[str, asyncio.Future[OpStatus]]]] = {}
        self._leading: set[int] = set()
        self.queries = 0  # poll queries sent
        self.polls = 0  # polls answered

    async def status(self, op: str, token: int) -> OpStatus:
        while True:
            answer: asyncio.Future[OpStatus] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(token, []).append((op, answer))
            if token not in self._leading:
                await self._lead(token, answer)
            try:
                return await answer
            except _LeadAgain:
                continue

    async def _lead(self, token: int, mine: asyncio.Future[OpStatus]) -> None:
        """Send one poll query for ``token``, carrying every poll of it waiting when a call place
        frees; polls that come later are led by one of them (the leader's own poll goes on)."""
        self._leading.add(token)
        carried: list[tuple[str, asyncio.Future[OpStatus]]] = []
        try:
            async with self._calls.call(Call.POLL):
                carried = self._waiting.pop(token, [])
                await self._query(token, carried)
                carried = []
        finally:
            self._leading.discard(token)
            for _, answer in carried:  # cancelled mid-query: the polls it carried ask again
                if answer is mine:
                    answer.cancel()  # nobody reads it: this leader's own poll ends with the leader
                elif not answer.done():
                    answer.set_exception(_LeadAgain())
            later = []
            for op, answer in self._waiting.pop(token, []):
                if answer is mine:  # cancelled while waiting for a place: its poll ends with it
                    answer.cancel()
                else:
                    later.append((op, answer))
            while later:  # the next leader: it asks again and sends the next query
                _, answer = later.pop(0)
                if not answer.done():
                    answer.set_exception(_LeadAgain())
                    break
            if later:
                self._waiting[token] = later

    async def _query(self, token: int, carried: list[tuple[str, asyncio.Future[OpStatus]]]) -> None:
        self.queries += 1
        try:
            found = await self._port.statuses(list(dict.fromkeys(op for op, _ in carried)), token_index=token)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every poll it carried meets the fault, as each would have alone
            for _, answer in carried:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for op, answer in carried:
            if not answer.done():
                self.polls += 1
                answer.set_result(found[op])

    def __repr__(self) -> str:
        return f"PollBatcher(queries={self.queries}, polls={self.polls})"
