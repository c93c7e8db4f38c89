"""What an idle client sees of the shop's answer time: a 1-point query every ``interval`` seconds from a
process of its own, for the run's length.

Why: the simulator's ``latency_by_operation`` is the latency it *draws* (its sleep), not the time it
takes to answer. On a loaded box the shop's own event loop (15 bulk operations, staged uploads,
GraphQL execution) adds hundreds of ms to every answer; this probe measures that from a process
that does nothing else, so an urgent figure can be split into "the shop was slow" and "we were".
``python -m bench._shopprobe URL TOKEN`` prints one JSON list of latencies (ms) when it gets SIGTERM
or stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bulk.shopify.transport import API_VERSION

# 1 point: the probe must not move the buckets it measures beside; a file, so tests/unit/test_documents.py
# validates it against the Admin schema like every document we send
QUERY = (Path(__file__).parent / "shop_probe.graphql").read_text()


async def probe(url: str, token: str, samples: list[float], stop: asyncio.Event, interval_s: float) -> None:
    """Send :data:`QUERY` every ``interval_s`` until ``stop``; append each answer's time (ms)."""
    endpoint = f"{url}/admin/api/{API_VERSION}/graphql.json"
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            t0 = time.perf_counter()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(endpoint, json={"query": QUERY},
                                        headers={"X-Shopify-Access-Token": token}) as response:
                    await response.read()
                    if response.status == 200:
                        samples.append((time.perf_counter() - t0) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


@contextlib.asynccontextmanager
async def shop_probe(url: str, token: str, samples: list[float]) -> AsyncIterator[None]:
    """Run the probe in a process of its own while the block runs; ``samples`` filled at its end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._shopprobe", url, token,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        yield
    finally:
        out, _ = await proc.communicate(b"")  # closing stdin stops it
        with contextlib.suppress(ValueError):
            samples.extend(json.loads(out or b"[]"))


async def _main(url: str, token: str) -> None:
    samples: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def until_stdin_closes() -> None:
        await reader.read()
        stop.set()

    closing = asyncio.create_task(until_stdin_closes())
    await probe(url, token, samples, stop, 0.2)
    closing.cancel()
    print(json.dumps([round(s, 2) for s in samples]))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
