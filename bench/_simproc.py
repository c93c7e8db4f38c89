"""A ``bulk sim`` server in a process of its own, for benchmarks: the shop and the client under test
each get a core, and the shop's CPU work never blocks the client's event loop (or vice versa)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp


@dataclass(frozen=True)
class SimServer:
    """A running ``bulk sim`` process."""

    url: str
    pid: int

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the shop process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def sim_process(*options: str) -> AsyncIterator[str]:
    """Start ``bulk sim --port P OPTIONS…``; yield its base URL once it answers; stop it after."""
    async with sim_server(*options) as server:
        yield server.url


@contextlib.asynccontextmanager
async def sim_server(*options: str) -> AsyncIterator[SimServer]:
    """Like :func:`sim_process`, yielding the process too (for its CPU time)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulk", "sim", "--port", str(port), *options,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(1200):  # a hang guard, not a budget: a loaded box starts Python slowly
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"bulk sim exited: {err.decode()[-500:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/_sim/stats") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield SimServer(url, proc.pid)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def sim_requests(url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """``POST /_sim/requests``: what the shop drew and took for each of ``ids`` it still keeps."""
    async with aiohttp.ClientSession() as session, \
            session.post(f"{url}/_sim/requests", json={"ids": ids}) as resp:
        resp.raise_for_status()
        data: dict[str, dict[str, Any]] = (await resp.json())["requests"]
        return data


async def sim_stats(url: str) -> dict[str, object]:
    """``GET /_sim/stats``."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_sim/stats") as resp:
        data: dict[str, object] = await resp.json()
        return data
