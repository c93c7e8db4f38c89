"""The cost-aware scheduler: every request of either lane goes through it.

Public names only; the modules behind them are private details (see docs/scheduler.md).
"""

from bulk.scheduler.config import SchedulerConfig
from bulk.scheduler.grant import Grant
from bulk.scheduler.protocol import Backend, SchedulerStatistics, TokenStatistics
from bulk.scheduler.scheduler import Scheduler

__all__ = [
    "Backend",
    "Grant",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerStatistics",
    "TokenStatistics",
]
