"""The real servers the suite relies on are there and isolated per test."""

from __future__ import annotations

import psycopg
import redis


def test_redis_database_starts_empty_and_is_writable(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set("k", "v")
    assert client.get("k") == b"v"
    client.close()


def test_postgres_database_is_fresh(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("create table t (x int)")
