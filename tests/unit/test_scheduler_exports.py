"""The scheduler's public names are a contract the lanes code against: pin them."""

from __future__ import annotations

import bulk.scheduler


def test_exported_members() -> None:
    assert sorted(bulk.scheduler.__all__) == [
        "Backend",
        "Grant",
        "Scheduler",
        "SchedulerConfig",
        "SchedulerStatistics",
        "TokenStatistics",
    ]
    for name in bulk.scheduler.__all__:
        assert getattr(bulk.scheduler, name).__module__.startswith("bulk.scheduler.")


def test_the_facade_keeps_the_names_callers_use() -> None:
    from bulk.scheduler import Grant, Scheduler

    for name in ("in_process", "redis", "acquire", "statistics", "__aenter__", "__aexit__"):
        assert callable(getattr(Scheduler, name))
    for name in ("guard", "settle", "throttled", "check", "remaining"):
        assert callable(getattr(Grant, name))


async def test_a_grant_never_shows_a_token_and_reports_itself() -> None:
    from bulk.clock import ManualClock
    from bulk.models import Lane
    from bulk.scheduler import Scheduler

    async with Scheduler.in_process(token_count=3, max_in_flight=2, clock=ManualClock()) as sched:
        async with sched.acquire(10, Lane.URGENT) as grant:
            assert "token_index=" in repr(grant) and "fence=1" in repr(grant)
            assert sched.statistics().in_flight == 1
        stats = sched.statistics()
        assert stats.in_flight == 0 and stats.admitted == 1 and len(stats.tokens) == 3
        assert "in_flight=0/2" in repr(sched)
