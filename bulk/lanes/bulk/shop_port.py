"""The bulk lane's and the catalog sync's port onto a real (or simulated) shop.

Every GraphQL control call (stagedUploadsCreate, bulkOperationRunMutation / RunQuery, bulkOperation
polls) goes through the scheduler-backed client at *bulk* priority, pinned to the token (app) that owns
the operation — bulk operations belong to the app that started them. The staged upload itself and the
result download are plain HTTP to the storage target, outside the GraphQL cost model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bulk.errors import GraphQLRequestError, NetworkError, ServerError, TokenRefusedError
from bulk.lanes.bulk.ports import OpStatus
from bulk.models import Lane
from bulk.shopify import staged
from bulk.shopify.documents import BULK_MUTATIONS, BULK_OPERATION, aliased, document
from bulk.shopify.mapping import raise_for_user_errors
from bulk.shopify.requester import Requester

CONTROL_COST = 10.0  # a mutation
POLL_COST = 1.0  # one object
FIND_COST = 3.0  # a connection of one node: 2 + 1
RESULT_CHUNK = 1 << 20  # bytes of a result file read at a time


def operations_document(count: int) -> str:
    """The query polling ``count`` operations (``o0 …``): ``queries/bulk_operation.graphql``'s
    one-operation form, aliased ``count`` times."""
    return aliased(BULK_OPERATION, "BulkOperationStatus", count=count, query="BulkOperationStatuses",
                   alias="o", field="bulkOperation")


class ShopBulkOps:
    """Implements :class:`bulk.lanes.bulk._lane.BulkOpsPort` and :class:`bulk.catalog.sync.ExportPort`."""

    def __init__(self, client: Requester, session: aiohttp.ClientSession) -> None:
        self._client = client
        self._session = session
        self.upload_limit: int | None = None  # bytes the last staged upload's policy allowed
        self._owners: dict[str, int] = {}  # export operation → the token that started it

    async def _call(self, name: str, variables: Mapping[str, Any], *, cost: float, token: int) -> Any:
        return await self._ask(document(name), variables, cost=cost, token=token)

    async def _ask(self, text: str, variables: Mapping[str, Any], *, cost: float, token: int) -> Any:
        """The ``data`` of one request, at bulk priority, on ``token``."""
        response = await self._client.request(text, variables, cost=cost, priority=Lane.BULK,
                                              token_index=token)
        return response.data

    async def upload(self, path: Path, *, token_index: int,
                     admitted: AbstractAsyncContextManager[object] | None = None) -> str:
        """Stage the JSONL file and POST it to the target; return the stagedUploadPath.

        The POST is :func:`bulk.shopify.staged.post_file`: a file outside the policy's size range is
        refused before it is sent, a 4xx from the storage is final (:class:`StorageRefusedError`, its
        XML code and message kept), a 5xx or a network fault transient. The policy's byte limit is
        remembered (:attr:`upload_limit`) so the lane cuts its next shards to fit."""
        async with admitted or contextlib.nullcontext():
            data = await self._call("staged_uploads_create", {"input": [{
                "resource": "BULK_MUTATION_VARIABLES", "filename": path.name, "mimeType": "text/jsonl",
                "httpMethod": "POST"}]}, cost=CONTROL_COST, token=token_index)
        raise_for_user_errors(data, "stagedUploadsCreate", token_index=token_index)
        target = data["stagedUploadsCreate"]["stagedTargets"][0]
        limit = staged.size_limit(target.get("parameters") or [])
        if limit is not None:
            self.upload_limit = limit[1]
        return await staged.post_file(self._session, target, path, token_index=token_index)

    async def start(self, kind: str, staged_path: str, *, client_identifier: str, token_index: int) -> str:
        """Run the bulk mutation of ``kind`` over the staged file."""
        data = await self._call("bulk_operation_run_mutation", {
            "mutation": document(BULK_MUTATIONS[kind]), "stagedUploadPath": staged_path,
            "clientIdentifier": client_identifier}, cost=CONTROL_COST, token=token_index)
        return _started(data, "bulkOperationRunMutation", token_index)

    async def start_query(self, query: str, *, token_index: int) -> str:
        """Run a bulk query (the catalog export) on ``token_index``, or — when the shop refuses that
        token (401/403) — on the next token it still accepts: an export belongs to no run, any app may
        make it. Its polls then go to the token that started it (:meth:`status`)."""
        tokens = max(1, int(getattr(getattr(self._client, "transport", None), "token_count", 1) or 1))
        order = [token_index, *(t for t in range(tokens) if t != token_index)]
        for n, token in enumerate(order):
            try:
                data = await self._call("bulk_operation_run_query", {"query": query}, cost=CONTROL_COST,
                                        token=token)
            except TokenRefusedError:
                if n == len(order) - 1:
                    raise
                continue
            op = _started(data, "bulkOperationRunQuery", token)
            self._owners[op] = token
            return op
        raise AssertionError("unreachable")  # pragma: no cover

    async def find(self, client_identifier: str, *, token_index: int) -> str | None:
        """The operation this app started with ``client_identifier``, if any (newest first)."""
        quoted = client_identifier.replace("'", "")
        data = await self._call("bulk_operations", {"first": 1, "query": f"client_identifier:'{quoted}'"},
                                cost=FIND_COST, token=token_index)
        nodes = data["bulkOperations"]["nodes"]
        return str(nodes[0]["id"]) if nodes else None

    async def status(self, op_id: str, *, token_index: int) -> OpStatus:
        """Poll one operation (on the token that started it, when this port started it elsewhere)."""
        return (await self.statuses([op_id], token_index=token_index))[op_id]

    async def statuses(self, op_ids: Sequence[str], *, token_index: int) -> dict[str, OpStatus]:
        """Poll several operations of one token in one query per owning token (1 point each)."""
        by_token: dict[int, list[str]] = {}
        for op in dict.fromkeys(op_ids):
            by_token.setdefault(self._owners.get(op, token_index), []).append(op)
        out: dict[str, OpStatus] = {}
        for token, ops in by_token.items():
            data = await self._ask(operations_document(len(ops)), {f"o{i}": op for i, op in enumerate(ops)},
                                   cost=POLL_COST * len(ops), token=token)
            for i, op_id in enumerate(ops):
                op = data.get(f"o{i}")
                if op is None:
                    raise GraphQLRequestError(f"bulk operation {op_id} not found for token #{token}",
                                              errors=[], token_index=token)
                out[op_id] = OpStatus(op["id"], op["status"], op.get("url"), op.get("partialDataUrl"),
                                      op.get("errorCode"), int(op.get("objectCount") or 0),
                                      op.get("createdAt"))
        return out

    async def cancel(self, op_id: str, *, token_index: int) -> str:
        """Ask the shop to cancel a running operation (``bulkOperationCancel``, on the token that owns
        it); return its status then: ``CANCELING`` (or ``CANCELED``) when accepted, the status it ended
        with when it had already ended, ``NOT_FOUND`` when this app has no such operation. Lines it
        applied before stopping stay applied (its partial results say which)."""
        data = await self._call("bulk_operation_cancel", {"id": op_id}, cost=CONTROL_COST, token=token_index)
        payload = data["bulkOperationCancel"]
        op = payload.get("bulkOperation")
        return str(op["status"]) if op else "NOT_FOUND"

    async def results(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """Stream the result JSONL, parsed in a worker thread a batch of bytes at a time: the results of
        15 operations ending together are megabytes of JSON, and parsing them on the event loop would
        stall the urgent lane and the polls that free the next slots."""
        try:
            async with self._session.get(url) as resp:
                if resp.status >= 300:
                    raise ServerError(f"result download refused: HTTP {resp.status}", status=resp.status)
                pending: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(RESULT_CHUNK):  # not line by line: a million
                    pending.append(chunk)                                     # readline calls cost seconds
                    size += len(chunk)
                    if size >= RESULT_CHUNK:
                        rest, parsed = await asyncio.to_thread(_parse_lines, b"".join(pending))
                        pending, size = [rest], len(rest)
                        for item in parsed:
                            yield item
                if size:
                    rest, parsed = await asyncio.to_thread(_parse_lines, b"".join(pending) + b"\n")
                    for item in parsed:
                        yield item
        except aiohttp.ClientError as exc:
            raise NetworkError(f"result download failed: {type(exc).__name__}") from exc


def _parse_lines(data: bytes) -> tuple[bytes, list[dict[str, Any]]]:
    """The complete JSON lines of ``data``, parsed, and the incomplete last line."""
    lines = data.split(b"\n")
    rest = lines.pop()
    return rest, [orjson.loads(raw) for raw in lines if raw.strip()]


def _started(data: Mapping[str, Any], field: str, token_index: int) -> str:
    """The started operation's GID; both shapes of "slots full" (``LIMIT_REACHED`` and the older
    "already in progress" message without a code) are :class:`LimitReachedError`."""
    raise_for_user_errors(data, field, token_index=token_index)
    operation = data[field].get("bulkOperation")
    if not operation:
        raise GraphQLRequestError(f"{field} started no operation and said no reason", errors=[],
                                  token_index=token_index)
    return str(operation["id"])
