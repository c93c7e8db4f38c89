"""``bulk worker`` at start-up waits for its servers: a bounded back-off, one log line per wait, then one
``bulk: error:`` line (the real servers starting late: tests/integration/test_worker_startup.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from bulk.cli import main
from bulk.cli._worker import NotUpYet, backoff, wait_until_up
from bulk.errors import ConfigError


class Sleeps:
    """A sleep that records how long it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(times: int) -> tuple[list[int], Callable[[], Awaitable[None]]]:
    calls: list[int] = []

    async def probe() -> None:
        calls.append(1)
        if len(calls) <= times:
            raise NotUpYet("Connection refused")

    return calls, probe


def test_the_backoff_doubles_up_to_ten_seconds_within_the_bound() -> None:
    assert backoff(60) == [0.5, 1, 2, 4, 8, 10, 10, 10, 10]
    assert backoff(0) == [] and backoff(0.4) == [] and backoff(3.5) == [0.5, 1, 2]


async def test_a_server_that_comes_up_is_waited_for_one_line_per_wait(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # a dictConfig() earlier in the process (import-linter's, in test_layers) disables existing loggers
    monkeypatch.setattr(logging.getLogger("bulk.cli.worker"), "disabled", False)
    sleeps = Sleeps()
    calls, probe = failing(3)
    with caplog.at_level(logging.INFO, logger="bulk.cli.worker"):
        await wait_until_up("Redis", "redis://:pw@cache:6379/0", probe, bound_s=60,
                            setting="--redis-url", sleep=sleeps)
    assert len(calls) == 4 and sleeps.waits == [0.5, 1, 2]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and all("not reachable yet (Connection refused)" in line for line in lines[:3])
    assert "waiting 0.5 s before attempt 2" in lines[0] and "waiting 2.0 s before attempt 4" in lines[2]
    assert lines[3] == "Redis at redis://:***@cache:6379/0 is up"
    assert not any("pw" in line for line in lines)


async def test_past_the_bound_one_error_says_what_to_do() -> None:
    sleeps = Sleeps()
    calls, probe = failing(100)
    with pytest.raises(ConfigError) as raised:
        await wait_until_up("PostgreSQL", "postgresql://bulk:secret@db/bulk", probe,
                            bound_s=4, setting="--database-url / BULK_DATABASE_URL", sleep=sleeps)
    assert sleeps.waits == [0.5, 1, 2] and len(calls) == 4
    assert str(raised.value) == (
        "PostgreSQL at postgresql://bulk:***@db/bulk is not reachable (Connection refused; waited 3.5 s): "
        "start it or check --database-url / BULK_DATABASE_URL, then start the worker again "
        "(--start-wait-s waits longer)")


async def test_a_refusal_waiting_cannot_cure_is_reported_at_once() -> None:
    sleeps = Sleeps()

    async def probe() -> None:
        raise ConfigError("PostgreSQL at … refused the connection (password authentication failed)")

    with pytest.raises(ConfigError, match="password authentication failed"):
        await wait_until_up("PostgreSQL", "postgresql://db/bulk", probe, bound_s=60, setting="x",
                            sleep=sleeps)
    assert sleeps.waits == []


def test_the_command_ends_in_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["worker", "--database-url", "postgresql://bulk:secret@127.0.0.1:1/bulk", "--shop", "sim://",
                 "--redis-url", "redis://127.0.0.1:1/0", "--start-wait-s", "0"])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("bulk: error:")]
    assert "PostgreSQL at postgresql://bulk:***@127.0.0.1:1/bulk is not reachable" in line
    assert "secret" not in err
