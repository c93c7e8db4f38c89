"""Shared fixtures: a clean Redis database and a fresh PostgreSQL database per test, the reading
processes a test started (``children``), the calls a test's event loop has in threads
(``thread_work``: pass ``thread_work.busy`` to ``ManualClock.advance_until``), and a loopback port
kept for the test from the moment it is picked (``own_port``, tests/ports.py).

The suite runs in parallel (pytest-xdist, ``scripts/test``): every fixture here is isolated per test
and per worker process (own Redis database index, own PostgreSQL database), and a test that stops or
restarts a server starts servers of its own (tests/chaos/test_infra_restart.py).

The servers come from ``scripts/test`` (``BULK_TEST_REDIS_URL`` / ``BULK_TEST_DATABASE_URL``).
Without them a test that needs one is skipped locally, but fails under ``CI=true``: CI must never
pass by skipping the real-server tests.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from bulk.sources import _reader_process
from tests.ports import reserved_port
from tests.thread_work import ThreadWork

REPO = Path(__file__).resolve().parent.parent
CSV_SAMPLES = REPO / "tests" / "data" / "csv-samples"

# Hypothesis measures each example on the wall clock (a 200 ms deadline, a "too slow" health check on
# generating data): on a loaded 2-core box a slow example, or its faster replay, fails the test
# ("Unreliable test timings") though nothing is wrong. What a property test checks is its property;
# the per-test timeout in pyproject.toml still guards against a hang.
settings.register_profile("bulk", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bulk")


def _server_url(var: str) -> str:
    url = os.environ.get(var)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{var} is not set under CI: run the suite through scripts/test")
        pytest.skip(f"{var} not set (run through scripts/test for real Redis/PostgreSQL)")
    return url


REDIS_DATABASES = 64  # scripts/servers.sh starts Redis with --databases 64; 0 is left alone


def _redis_databases() -> list[int]:
    """The Redis database indexes this pytest process may use: all of 1..63 in a plain run; under
    pytest-xdist (``-n``) worker ``gwK`` of N takes K+1, K+1+N, ...: no two workers ever flush or
    fill the same database, whatever runs at the same time."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker.removeprefix("gw"))
    mine = list(range(1 + index, REDIS_DATABASES, count))
    if not mine:
        pytest.fail(f"{count} xdist workers but Redis has {REDIS_DATABASES - 1} test databases")
    return mine


_redis_db_counter = itertools.count()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of a flushed Redis database, distinct per test and per xdist worker (see
    ``_redis_databases``). Pub/sub channels are server-wide, not per database: the scheduler's are
    named per client id, so tests on other workers never hear each other."""
    import redis

    base = _server_url("BULK_TEST_REDIS_URL").rsplit("/", 1)[0]
    mine = _redis_databases()
    db = mine[next(_redis_db_counter) % len(mine)]
    url = f"{base}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def database_url() -> Iterator[str]:
    """URL of a brand-new, empty PostgreSQL database, dropped after the test."""
    import psycopg

    admin_url = _server_url("BULK_TEST_DATABASE_URL")
    name = f"bulk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def aioredis(redis_url: str) -> AsyncIterator[object]:
    """An asyncio Redis client on the test's clean database."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every reading process started from now on."""
    started: list[subprocess.Popen[bytes]] = []

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child: subprocess.Popen[bytes] = subprocess.Popen(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(_reader_process, "subprocess", SimpleNamespace(Popen=popen, PIPE=subprocess.PIPE))
    return started


@pytest.fixture
def thread_work(monkeypatch: pytest.MonkeyPatch) -> ThreadWork:
    """The calls this test's event loop has handed to threads and not got back yet (tests/thread_work.py)."""
    work = ThreadWork()
    work.install(monkeypatch)
    return work


@pytest.fixture
def own_port() -> Iterator[int]:
    """A loopback port of this test's own until it ends: refused to connections until the test starts
    a server on it (one that sets ``SO_REUSEADDR``: redis-server, ``asyncio.start_server``), and never
    taken by another process meanwhile (tests/ports.py)."""
    with reserved_port() as port:
        yield port
