"""One bulk operation's state, the statuses it goes through and the shop's limits on operations
(the engine that moves them is :mod:`bulk.sim._bulkops`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

START_LATENCY_S = 1.0
MAX_RUNNING_PER_APP = 5
MAX_DURATION_S = 24 * 3600.0
ACTIVE = frozenset({"CREATED", "RUNNING", "CANCELING"})
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
BULK_GID = "gid://shopify/BulkOperation/"


@dataclass(eq=False)
class BulkOp:
    """One bulk operation's state."""

    num: int
    token: int
    type: str  # "QUERY" | "MUTATION"
    query: str
    created: float  # sim time
    base_url: str
    client_identifier: str | None = None
    status: str = "CREATED"
    completed: float | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    url: str | None = None
    partial_url: str | None = None
    error_code: str | None = None
    cancel_requested: bool = False
    crash: BaseException | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)  # set on leaving CREATED
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set on reaching a terminal status
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # pulsed after each chunk

    @property
    def gid(self) -> str:
        """``gid://shopify/BulkOperation/{num}``."""
        return f"{BULK_GID}{self.num}"


Lines = Callable[[], Iterator[tuple[bool, bytes]]]
"""A bulk query's output: ``(is_root, jsonl_line)`` in order, produced lazily."""
