"""The chaos worker's request leaves in one piece, right after its last look at the lease.

Why it matters: the shop serves a request from the moment it has its headers. A request whose end
left in a later write (a chunked body's closing chunk) sits in the shop while the sender is paused
or starved — past its lease, while its permit goes to another worker: one request over the cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bulk.clock import ManualClock
from bulk.errors import PermitLostError
from bulk.scheduler._chaos_worker import _AtTheWire
from bulk.scheduler._grant import Grant

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Shop:
    """A bare TCP server that records what arrives in each read and answers a whole request."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []
        self.port = 0
        self.closed = asyncio.Event()  # a client closed its connection

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            self.reads.append(data)
            head, _, body = b"".join(self.reads).partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            if len(body) >= length:
                writer.write(ANSWER)
                await writer.drain()
        writer.close()
        self.closed.set()


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    recorder = Shop()
    server = await asyncio.start_server(recorder.serve, "127.0.0.1", 0)
    recorder.port = server.sockets[0].getsockname()[1]
    async with server:
        yield recorder


def grant(seconds_left: float) -> Grant:
    return Grant(permit_id="p:w1", token_index=0, fence=1, cost=1.0, priority=1, clock=ManualClock(),
                 deadline=seconds_left)


async def test_the_whole_request_arrives_in_the_first_read(shop: Shop) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{shop.port}/graphql", data=_AtTheWire(b'{"query": "{ shop { name } }"}',
                                                                    grant(1.0), need=0.5)) as response:
        assert response.status == 200
    head, _, body = shop.reads[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /graphql") and body == b'{"query": "{ shop { name } }"}'
    assert b"chunked" not in head.lower()


async def test_a_permit_without_the_lease_needed_sends_nothing(shop: Shop) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError) as raised:
            await session.post(f"http://127.0.0.1:{shop.port}/graphql",
                               data=_AtTheWire(b"{}", grant(0.3), need=0.5))
    assert isinstance(raised.value.__cause__, PermitLostError)
    await asyncio.wait_for(shop.closed.wait(), 10)  # a hang guard: the connection was opened, then closed
    assert shop.reads == []
