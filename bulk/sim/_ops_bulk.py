"""Bulk-operation control calls: ``bulkOperationRunMutation``, ``bulkOperationRunQuery``,
``bulkOperationCancel``, ``bulkOperation(id:)``, ``bulkOperations`` (the engine is ``_bulkops.py``; what
a mutation's document and staged file must be: ``_bulk_input.py``).

Why every check happens before an operation exists: Shopify refuses a bad upload, mutation or query
with userErrors and creates nothing, so a client can always tell "never started" from "ran and
failed". Operations are private to the app (token) that started them.

Past the slot limit the answer is today's ``LIMIT_REACHED`` userError, or — with the
``limit_style:in_progress`` fault (:class:`BulkLimit`) — the older answer Shopify gave when one
operation of a type was allowed at a time: ``field`` null, no ``code``, and the message naming the
operation in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bulk.sim import _ops_uploads
from bulk.sim._bulk_input import StagedLines, mutation_problem
from bulk.sim._bulk_op_state import ACTIVE, BULK_GID, MAX_RUNNING_PER_APP, BulkOp
from bulk.sim._bulkops import BulkEngine
from bulk.sim._files import FileStore
from bulk.sim._ops_common import (
    ShopCore,
    Term,
    bad_request,
    connection,
    list_source,
    not_implemented,
    parse_search,
    user_error,
)
from bulk.sim._ops_export import Exporter, ExportError, compile_query
from bulk.sim._values import gid_number, iso, parse_iso

_SEARCH_FIELDS = frozenset({"status", "operation_type", "created_at", "id", "client_identifier"})


@dataclass(frozen=True, slots=True)
class BulkLimit:
    """How many operations an app may run at once, and how the shop says no past that."""

    slots: int = MAX_RUNNING_PER_APP
    style: str = "limit_reached"  # or "in_progress": the older userError, no code

    def __post_init__(self) -> None:
        if self.slots < 1 or self.style not in ("limit_reached", "in_progress"):
            raise ValueError("slots must be >= 1 and style limit_reached or in_progress")


class BulkOps:
    """Resolvers for bulk operations."""

    def __init__(
        self,
        core: ShopCore,
        files: FileStore,
        engine: BulkEngine,
        exporter: Exporter,
        limit: BulkLimit | None = None,
    ) -> None:
        self.core = core
        self.files = files
        self.engine = engine
        self.exporter = exporter
        self.limit = limit or BulkLimit()
        self.staged = StagedLines()
        files.on_upload(self.staged.uploaded)

    def _slots_full(self, token: int, kind: str) -> dict[str, Any] | None:
        """The refusal when app ``token`` has no free slot for a ``kind`` ("MUTATION" | "QUERY")."""
        if self.engine.active(token) < self.limit.slots:
            return None
        if self.limit.style == "limit_reached":
            return _refused(
                None, f"An app can run at most {self.limit.slots} bulk operations at once", "LIMIT_REACHED"
            )
        running = [op for op in self.engine.of_token(token) if op.status in ACTIVE]
        same = [op for op in running if op.type == kind] or running
        gid = same[-1].gid  # the newest in progress, of the same type when there is one
        message = f"A bulk {kind.lower()} operation for this app and shop is already in progress: {gid}."
        return {"bulkOperation": None, "userErrors": [user_error(None, message)]}

    def op_node(self, op: BulkOp) -> dict[str, Any]:
        """A BulkOperation dict (UnsignedInt64 fields as strings, like Shopify)."""
        wall = self.core.wall
        return {
            "__typename": "BulkOperation",
            "id": op.gid,
            "status": op.status,
            "type": op.type,
            "query": op.query,
            "errorCode": op.error_code,
            "createdAt": iso(wall(op.created)),
            "completedAt": None if op.completed is None else iso(wall(op.completed)),
            "objectCount": str(op.object_count),
            "rootObjectCount": str(op.root_object_count),
            "fileSize": None if op.file_size is None else str(op.file_size),
            "url": op.url,
            "partialDataUrl": op.partial_url,
        }

    def by_gid(self, gid: str, token: int) -> dict[str, Any] | None:
        """The caller's operation by GID, else None."""
        num = gid_number(gid, BULK_GID)
        op = None if num is None else self.engine.get(num, token)
        return None if op is None else self.op_node(op)

    # -- reads ----------------------------------------------------------------------------------
    def bulk_operation(self, _: Any, info: Any, *, id: str) -> dict[str, Any] | None:
        """``bulkOperation(id:)``."""
        return self.by_gid(id, info.context.token_index)

    def bulk_operations(self, _: Any, info: Any, *, query: str | None = None, **args: Any) -> Any:
        """``bulkOperations(first:, query: "status:running operation_type:mutation created_at:>T id:>=N")``,
        newest first by default as Shopify documents (``reverse: true`` gives oldest first).

        ``client_identifier:X`` is accepted too: the schema says of ``bulkOperationRunMutation``'s
        ``clientIdentifier`` "an optional identifier which may be used for querying", and
        ``BulkOperation`` has no field to read it back, so a search term is the only way it can be
        used (the filter table of the reference does not list it; see docs/simulator.md)."""
        terms = parse_search(query, _SEARCH_FIELDS)
        ops = {
            op.num: op
            for op in self.engine.of_token(info.context.token_index)
            if all(self._matches(op, t) for t in terms)
        }
        args.pop("sortKey", None)  # CREATED_AT (the default) and ID order are the same here
        args["reverse"] = not args.get("reverse")
        return connection(list_source(sorted(ops), lambda n: self.op_node(ops[n])), **args)

    def _matches(self, op: BulkOp, term: Term) -> bool:
        if term.field == "client_identifier":
            if term.op != "=":
                raise not_implemented(f"Search term '{term.field}:{term.op}'")
            return op.client_identifier == term.value
        if term.field in ("status", "operation_type"):
            if term.op != "=":
                raise not_implemented(f"Search term '{term.field}:{term.op}'")
            return (op.status if term.field == "status" else op.type) == term.value.upper()
        try:
            mine = float(op.num) if term.field == "id" else self.core.wall(op.created)
            wanted = float(term.value.rsplit("/", 1)[-1]) if term.field == "id" else parse_iso(term.value)
        except ValueError as exc:
            raise bad_request(f"Invalid value in search: {term.field}:{term.value}") from exc
        if term.field == "created_at":
            mine = float(int(mine))  # DateTime has whole seconds
        return {
            "=": mine == wanted,
            "<": mine < wanted,
            ">": mine > wanted,
            "<=": mine <= wanted,
            ">=": mine >= wanted,
        }[term.op]

    # -- bulkOperationRunMutation ---------------------------------------------------------------
    async def run_mutation(
        self,
        _: Any,
        info: Any,
        *,
        mutation: str,
        stagedUploadPath: str,
        clientIdentifier: str | None = None,
    ) -> dict[str, Any]:
        """``bulkOperationRunMutation``."""
        ctx = info.context
        problem = mutation_problem(mutation, info.schema)
        if problem:
            return _refused(["mutation"], problem, "INVALID_MUTATION")
        data = self.files.get(stagedUploadPath)
        if data is None:
            return _refused(["stagedUploadPath"], "The staged upload file could not be found", "NO_SUCH_FILE")
        # parsed beside the shop's event loop (a 25k-line file is ~0.5 s of JSON that would stall every
        # other app's requests), and as soon as it was uploaded (StagedLines)
        lines = await self.staged.lines(stagedUploadPath, data)
        if isinstance(lines, str):
            return _refused(["stagedUploadPath"], lines, "INVALID_STAGED_UPLOAD_FILE")
        full = self._slots_full(ctx.token_index, "MUTATION")
        if full is not None:
            return full
        op = self.engine.start_mutation(
            token=ctx.token_index,
            mutation=mutation,
            lines=lines,
            executor=ctx.executor,
            base_url=ctx.base_url,
            client_identifier=clientIdentifier,
        )
        return {"bulkOperation": self.op_node(op), "userErrors": []}

    # -- bulkOperationRunQuery ------------------------------------------------------------------
    def run_query(self, _: Any, info: Any, *, query: str, groupObjects: bool = False) -> dict[str, Any]:
        """``bulkOperationRunQuery`` (flat output only)."""
        ctx = info.context
        if groupObjects:
            return _refused(
                ["groupObjects"], "groupObjects is not supported by the simulated shop", "INVALID"
            )
        try:
            plan = compile_query(query, info.schema)
            self.exporter.check(plan)
        except ExportError as exc:
            return _refused(["query"], str(exc), "INVALID")
        full = self._slots_full(ctx.token_index, "QUERY")
        if full is not None:
            return full

        def lines() -> Iterator[tuple[bool, bytes]]:
            return self.exporter.lines(plan)

        catalog = self.core.catalog
        estimate = catalog.total_variants() + (catalog.products if plan.root == "products" else 0)
        op = self.engine.start_query(
            token=ctx.token_index, query=query, lines=lines, base_url=ctx.base_url, estimate=estimate
        )
        return {"bulkOperation": self.op_node(op), "userErrors": []}

    # -- bulkOperationCancel --------------------------------------------------------------------
    def cancel(self, _: Any, info: Any, *, id: str) -> dict[str, Any]:
        """``bulkOperationCancel(id:)``."""
        num = gid_number(id, BULK_GID)
        op = None if num is None else self.engine.get(num, info.context.token_index)
        if op is None:
            return {
                "bulkOperation": None,
                "userErrors": [user_error(["id"], "Bulk operation does not exist")],
            }
        if not self.engine.cancel(op):
            return {
                "bulkOperation": self.op_node(op),
                "userErrors": [
                    user_error(None, f"A bulk operation cannot be canceled when it is {op.status.lower()}")
                ],
            }
        return {"bulkOperation": self.op_node(op), "userErrors": []}

    def roots(self) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
        """(query root resolvers, mutation resolvers)."""
        return (
            {"bulkOperation": self.bulk_operation, "bulkOperations": self.bulk_operations},
            {
                "bulkOperationRunMutation": self.run_mutation,
                "bulkOperationRunQuery": self.run_query,
                "bulkOperationCancel": self.cancel,
            },
        )


def _refused(field: list[str] | None, message: str, code: str) -> dict[str, Any]:
    return {"bulkOperation": None, "userErrors": [user_error(field, message, code)]}


SUPPORTED: dict[str, frozenset[str]] = {
    **_ops_uploads.SUPPORTED,
    "BulkOperation": frozenset(
        {
            "id",
            "status",
            "type",
            "query",
            "errorCode",
            "createdAt",
            "completedAt",
            "objectCount",
            "rootObjectCount",
            "fileSize",
            "url",
            "partialDataUrl",
        }
    ),
    "BulkOperationRunMutationPayload": frozenset({"bulkOperation", "userErrors"}),
    "BulkMutationUserError": frozenset({"field", "message", "code"}),
    "BulkOperationRunQueryPayload": frozenset({"bulkOperation", "userErrors"}),
    "BulkOperationUserError": frozenset({"field", "message", "code"}),
    "BulkOperationCancelPayload": frozenset({"bulkOperation", "userErrors"}),
}
