"""The cost-aware scheduler: every request of either lane goes through it.

Public names only; the modules behind them are private details (see docs/scheduler.md).
"""

from bulk.scheduler._config import SchedulerConfig
from bulk.scheduler._grant import Grant
from bulk.scheduler._scheduler import Scheduler
from bulk.scheduler.protocol import Backend, SchedulerStatistics, TokenStatistics

__all__ = [
    "Backend",
    "Grant",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerStatistics",
    "TokenStatistics",
]
