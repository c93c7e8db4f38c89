"""The bulk lane's vocabulary: the port onto the shop, the feed of planned lines, its configuration.

Kept apart from the lane's machinery (:mod:`bulk.lanes.bulk._lane`) so that ports, workers and tests depend
on these small types only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class OpStatus:
    """A bulk operation as last polled."""

    id: str
    status: str
    url: str | None = None
    partial_url: str | None = None
    error_code: str | None = None
    object_count: int = 0
    created_at: str | None = None  # the shop's clock when it was created (a catalog sync's bound)


class BulkOpsPort(Protocol):
    """What the lane needs from the shop; implemented over the transport + scheduler."""

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        """Stage ``path``; return the stagedUploadPath. ``admitted`` is held around the shop's part
        (``stagedUploadsCreate``) only: the file itself goes to the storage target, not the shop's API."""
        ...

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        """Start a bulk mutation of ``kind`` ("variants" | "product" | "media" | "set"); return its GID.

        Raises :class:`~bulk.errors.LimitReachedError` when the token has no free operation slot."""
        ...

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        """The operation this token's app started with ``client_identifier``, if any."""
        ...

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        """Poll one operation."""
        ...

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        """Poll several operations of one token at once (one request where the shop allows)."""
        ...

    def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """The result JSONL lines of a finished operation."""
        ...


class LineFeed(Protocol):
    """Planned lines not yet cut into shards: the lane asks for shards of the sizes it needs, when it
    needs them (a local submission; a fleet's shards are cut at planning time instead)."""

    @property
    def pooled(self) -> int:
        """Lines waiting to be cut."""
        ...

    async def cut(self, sizes: Sequence[int]) -> int:
        """Add shards of (about) these line counts to the journal, in this order; return how many."""
        ...


@dataclass(frozen=True, kw_only=True)
class BulkLaneConfig:
    """Knobs of the bulk lane; defaults suit Shopify's API 2026-04."""

    tokens: int = 3
    ops_per_token: int = 5
    max_attempts: int = 3  # bulk operations one line may go through before it is rejected
    poll_initial_s: float = 0.5
    poll_max_s: float = 10.0
    limit_backoff_s: float = 5.0
    lease_s: float = 60.0
    max_claims: int = 10  # a shard never started is given up (rows rejected) after this many claims
    idle_wait_s: float = 1.0  # drain mode: wait between claims while other workers hold units
    poll_fine_s: float = 0.1  # polls of an operation at or past its estimated end
    # how operations are sized and prepared (see bulk/lanes/bulk/_sizing.py); in the lane's clock
    lines_per_s: float = 50.0  # one operation's pace until polls have measured it
    op_overhead_s: float = 1.5  # start, CREATED -> RUNNING, detecting the end
    look_ahead_s: float = 2.0  # cut, claim and upload the next shard this long before a slot frees
    min_op_lines: int = 100  # no smaller operation is cut from a feed while it has more lines
    tail_reserve: float = 0.15  # once all lines are known, long cuts leave this share for the end
    max_control_calls: int = 4  # polls, uploads and starts in flight at once (the shop's cap is 8)

    def __post_init__(self) -> None:
        if min(self.tokens, self.ops_per_token, self.min_op_lines, self.max_control_calls) < 1 \
                or self.lines_per_s <= 0:
            raise ValueError("tokens, ops_per_token, lines_per_s, min_op_lines and max_control_calls "
                             "must be positive")


def encode_remote(token_index: int, op_id: str) -> str:
    """The journal's ``remote_id``: the operation and the token (app) that owns it."""
    return f"{token_index}|{op_id}"


def decode_remote(remote_id: str) -> tuple[int, str]:
    """Inverse of :func:`encode_remote`."""
    token, _, op = remote_id.partition("|")
    return int(token), op


