"""The contract between the simulator's HTTP/GraphQL front (server, cost, buckets) and its shop state
(catalog, operations, bulk-operation engine).

The front parses and validates a document, charges the token's bucket, then runs it with
``graphql.execute`` over the real Admin schema, passing a :class:`SimContext` as ``context_value``.
Field values come from the shop's resolvers (see ``bulk/sim/_operations.py``): a root field's
resolver returns plain dicts whose keys are field names (``__typename`` on abstract types), so
graphql-core's default resolver serves every nested scalar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Executor(Protocol):
    """Runs a GraphQL document against the shop without charging any bucket (bulk-op lines)."""

    async def execute_unmetered(
        self, document: str, variables: Mapping[str, Any], *, token_index: int
    ) -> dict[str, Any]:
        """Return ``{"data": …}`` or ``{"data": …, "errors": [...]}`` as the API would."""
        ...


@dataclass(frozen=True, slots=True)
class SimContext:
    """What a resolver may know about the request it serves."""

    token_index: int  # which access token (0-based) sent the request
    now: float  # simulator clock, seconds (already scaled by --speed)
    base_url: str  # e.g. "http://127.0.0.1:8787", for staged-upload targets and result URLs
    executor: Executor
