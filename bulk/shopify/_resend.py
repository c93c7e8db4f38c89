"""May a request go to the shop a second time? (pure: the one rule, for faults and for lost permits)

A 500, 502 or 504, an ``INTERNAL_SERVER_ERROR``, a dropped connection or a timeout after sending may
come *after* the shop applied the request (docs/simulator.md models each so). Sending it again is
right only when a second apply leaves the shop as one would. That depends on the document's root
fields, and for two of them on the variables:

- queries: read only;
- a root field carrying ``@idempotent(key:)`` (``inventorySetQuantities``): the shop replays the first
  answer to a key it has seen, per app — so only ever again on the *same* token;
- ``productVariantsBulkUpdate``: sets absolute values (price, compare-at price) — unless it carries
  ``media`` (``CreateMediaInput`` creates new media on each apply);
- ``productSet``: its list fields (``files``) replace, so the product's media become exactly the list
  again;
- ``productUpdate``: its product fields (a description) set values — but ``media`` *appends*
  (``CreateMediaInput``): a second apply adds the images twice, the duplicate gallery of issue 16;
- ``stagedUploadsCreate``: only hands out upload targets; a second one is an unused target that
  expires, nothing in the shop changes;
- ``bulkOperationCancel``: cancelling an operation again finds it canceling or canceled (a
  ``userErrors`` answer at worst), nothing more is stopped;
- ``bulkOperationRunQuery``: an export changes no data; a second one is at worst a wasted slot (the
  caller polls the operation whose id it got);
- anything else — ``bulkOperationRunMutation`` above all (a second call starts a second operation over
  the same staged file: its images appended twice) — is *not* safe: the caller decides (the bulk lane
  ends the attempt and the next one adopts the operation by its ``clientIdentifier``).

And may the fault have reached the shop at all (:func:`maybe_applied`)? A 503 is refused before
running (Shopify's "Service Unavailable"), and a connection that never opened sent nothing: both are
resent whatever the document. Every other transient fault may have been applied.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    ValueNode,
    VariableNode,
    parse,
)

from bulk.errors import MaybeAppliedError, NetworkError, ServerError, TransientError

# Root fields whose second apply leaves the shop as the first did (the module docstring says why).
SAFE_TWICE = frozenset({"productVariantsBulkUpdate", "productSet", "productUpdate", "stagedUploadsCreate",
                        "bulkOperationCancel", "bulkOperationRunQuery"})
# Of those, the ones whose ``media`` argument (``[CreateMediaInput!]``) creates new media on each apply.
APPENDS_MEDIA = frozenset({"productUpdate", "productVariantsBulkUpdate"})
REFUSED_BEFORE_RUNNING = frozenset({503})  # 5xx statuses that ran nothing

log = logging.getLogger(__name__)


def safe_twice(document: str, variables: Mapping[str, Any] | None = None) -> bool:
    """True when sending ``document`` with ``variables`` twice cannot apply anything twice: every
    root field of every mutation in it is safe (:data:`SAFE_TWICE` and no media to append, or
    ``@idempotent``); queries always are."""
    roots = _mutation_roots(document)
    if roots is None:
        return False
    return all(_field_safe(field, variables or {}) for field in roots)


def maybe_applied(error: TransientError) -> bool:
    """Whether the transient fault ``error`` may have come after the shop applied the request: not
    for a 503 (refused before running) nor a connection that never opened; yes for the rest."""
    if isinstance(error, ServerError):
        return error.status not in REFUSED_BEFORE_RUNNING
    if isinstance(error, NetworkError):
        return error.maybe_sent
    return True  # INTERNAL_SERVER_ERROR ran, then failed (and any transient fault not known here)


def resend_after(error: TransientError, document: str, variables: Mapping[str, Any] | None) -> bool:
    """The client's rule after a transient fault: may the request go again (on the same token)?"""
    return not maybe_applied(error) or safe_twice(document, variables)


@functools.lru_cache(maxsize=64)
def _mutation_roots(document: str) -> tuple[FieldNode, ...] | None:
    """The root fields of the document's mutations (None: it holds a subscription, never resent)."""
    roots: list[FieldNode] = []
    for node in parse(document).definitions:
        if not isinstance(node, OperationDefinitionNode) or node.operation is OperationType.QUERY:
            continue
        if node.operation is not OperationType.MUTATION:
            return None
        for selection in node.selection_set.selections:
            if not isinstance(selection, FieldNode):
                return None  # a fragment at the root: not looked into, so not known safe
            roots.append(selection)
    return tuple(roots)


def _field_safe(field: FieldNode, variables: Mapping[str, Any]) -> bool:
    if any(d.name.value == "idempotent" for d in field.directives or ()):
        return True
    name = field.name.value
    if name not in SAFE_TWICE:
        return False
    if name in APPENDS_MEDIA:
        media = next((a.value for a in field.arguments or () if a.name.value == "media"), None)
        return media is None or not _given(media, variables)
    return True


def _given(value: ValueNode, variables: Mapping[str, Any]) -> bool:
    """Whether an argument's value carries anything (a non-empty list, or any other non-null value)."""
    if isinstance(value, VariableNode):
        bound = variables.get(value.name.value)
        return bound is not None and bound != [] and bound != ()
    if isinstance(value, NullValueNode):
        return False
    if isinstance(value, ListValueNode):
        return bool(value.values)
    return True


def not_resent(error: TransientError, token: int) -> MaybeAppliedError:
    """The error a request that may have been applied, and is not safe to send twice, ends with
    (logged with the action ``graphql.maybe_applied``)."""
    extra = {"action": "graphql.maybe_applied", "token_index": token, "error": type(error).__name__}
    log.warning("may have been applied: not resent", extra=extra)
    status = error.status if isinstance(error, ServerError) else None
    return MaybeAppliedError(
        f"{error} — after the request was sent on token #{token}: the shop may have applied it, and "
        "sending it again could apply it twice, so it was not resent",
        fault=str(error), status=status, token_index=token,
    )
