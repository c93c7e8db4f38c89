"""The one shape every part that sends a document asks for: ``ShopifyClient.request``.

Lanes, the submission and the fleet's workers depend on this protocol, not on the client, so tests
hand them a recorder and the client stays free to change how it schedules and retries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bulk.models import Lane


class Requester(Protocol):
    """Sends one document through the scheduler; ``token_index`` pins it to one app's token (a bulk
    operation belongs to the app that started it)."""

    async def request(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        cost: float,
        priority: Lane,
        token_index: int | None = None,
    ) -> Any: ...
