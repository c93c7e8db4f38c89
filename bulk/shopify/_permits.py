"""What a request does when its permit loses its lease before the shop answered (pure).

A permit's lease is lost when its holder could not renew it in time (a paused process, an unreachable
coordination store; docs/scheduler.md, self-fencing): the grant then refuses to send
(:class:`~bulk.errors.PermitLostError` from ``grant.guard`` before the request starts) or cancels the
request it runs. The in-flight cap needs the request to stop; the change it carries still has to
reach the shop. So:

- **never sent** (the request had not started): nothing can have been applied — again with a fresh
  permit, on any token (on the same one when an earlier try of it may have been applied);
- **maybe sent** (cancelled while running): the shop may have applied it. It goes again only if
  sending it twice cannot apply it twice — the one rule of :func:`bulk.shopify._resend.safe_twice`,
  which the client's transient retries follow too (a query, a mutation whose every root field carries
  ``@idempotent(key:)``, or one that sets values: prices, an image set, a description) — and then on
  the *same token*: the shop scopes idempotency keys per app, and replays the first answer to a key it
  has seen (an ``inventorySetQuantities`` with a ``changeFromQuantity`` check is neither applied twice
  nor turned into a false STALE). Any other mutation (an image append, a bulk operation's start)
  keeps the error: the caller decides, as before;
- at most :data:`PERMIT_RETRIES` fresh permits per request: a lease lost again and again means this
  process cannot keep one, and the error stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bulk.shopify._resend import safe_twice

PERMIT_RETRIES = 3  # fresh permits one request may take after losing one


@dataclass(frozen=True, slots=True)
class Again:
    """Send again with a fresh permit, on ``pin`` (None: any token)."""

    pin: int | None


def after_permit_lost(
    *, losses: int, maybe_sent: bool, document: str, token: int, pinned: int | None,
    variables: Mapping[str, Any] | None = None,
) -> Again | None:
    """What to do after the ``losses``-th lost permit of one request (None: the error stands).

    ``maybe_sent``: a try of the request started (it may have reached the shop); ``token``: the
    lost grant's token; ``pinned``: the token the request was already bound to, if any;
    ``variables``: the request's (an image append is told apart from a description by them)."""
    if losses > PERMIT_RETRIES:
        return None
    if not maybe_sent:
        return Again(pinned)
    if not safe_twice(document, variables):
        return None
    return Again(token)
