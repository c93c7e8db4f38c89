"""A ``bulk worker`` started before its servers waits for them (systemd ordering, containers starting
together): a real Redis started after the worker, a PostgreSQL that starts accepting connections after
it. No sleeps: the test waits for the worker's own log lines, each with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bulk.journal.migrations import upgrade_postgres

REPO = Path(__file__).resolve().parents[2]
LINE_TIMEOUT_S = 60.0


async def start_worker(database_url: str, redis_url: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BULK_", "SHOPIFY_"))}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulk", "worker", "--database-url", database_url, "--redis-url", redis_url,
        "--shop", "sim://?products=10", "--drain", "--idle-wait-s", "0.05", "--start-wait-s", "120",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def line_with(stream: asyncio.StreamReader, words: str, seen: list[str]) -> str:
    """The next line of ``stream`` that holds ``words`` (every line read goes to ``seen``)."""
    async with asyncio.timeout(LINE_TIMEOUT_S):
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"the stream ended before {words!r}: {seen}")
            seen.append(raw.decode().rstrip())
            if words in seen[-1]:
                return seen[-1]


async def finished(worker: asyncio.subprocess.Process, seen: list[str]) -> tuple[int, str]:
    """The worker's exit status and standard output, once it drained and stopped."""
    assert worker.stdout is not None and worker.stderr is not None
    async with asyncio.timeout(LINE_TIMEOUT_S):
        out, err = await asyncio.gather(worker.stdout.read(), worker.stderr.read())
        code = await worker.wait()
    seen += err.decode().splitlines()
    return code, out.decode()


@contextlib.asynccontextmanager
async def stopped_at_the_end(worker: asyncio.subprocess.Process) -> AsyncIterator[None]:
    try:
        yield
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_worker_started_before_redis_waits_for_it(database_url: str, tmp_path: Path,
                                                          own_port: int) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    await upgrade_postgres(database_url)
    port = own_port  # kept for this test: nothing else takes it while the worker waits for Redis
    worker = await start_worker(database_url, f"redis://127.0.0.1:{port}/0")
    seen: list[str] = []
    redis_server: subprocess.Popen[bytes] | None = None
    async with stopped_at_the_end(worker):
        assert worker.stderr is not None
        first = await line_with(worker.stderr, "not reachable yet", seen)
        assert f"Redis at redis://127.0.0.1:{port}/0 is not reachable yet" in first
        assert "waiting 0.5 s before attempt 2" in first
        redis_server = subprocess.Popen(  # noqa: ASYNC220  (a server of this test's own, started late)
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
        try:
            code, out = await finished(worker, seen)
        finally:
            redis_server.terminate()
            redis_server.wait(10)
    assert code == 0, seen
    assert "started" in out and "stopped" in out
    assert any(f"Redis at redis://127.0.0.1:{port}/0 is up" in line for line in seen), seen
    assert not any(line.startswith("bulk: error:") for line in seen), seen


async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_worker_started_before_postgresql_waits_for_it(database_url: str, redis_url: str,
                                                               own_port: int) -> None:
    """PostgreSQL "starts" on a port once the worker said it waits: a proxy that opens that port then,
    in front of the test's real server."""
    await upgrade_postgres(database_url)
    real = urlsplit(database_url)
    port = own_port  # kept for this test: nothing else takes it while the worker waits
    late = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{port}"))

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(real.hostname, real.port)
        await asyncio.gather(forward(client_r, server_w), forward(server_r, client_w))

    worker = await start_worker(late, redis_url)
    seen: list[str] = []
    async with stopped_at_the_end(worker):
        assert worker.stderr is not None
        first = await line_with(worker.stderr, "not reachable yet", seen)
        assert f"PostgreSQL at {late} is not reachable yet" in first
        server = await asyncio.start_server(relay, "127.0.0.1", port)
        async with server:
            code, out = await finished(worker, seen)
    assert code == 0, seen
    assert "started" in out and "stopped" in out
    assert any(f"PostgreSQL at {late} is up" in line for line in seen), seen
