"""A tiny GraphQL executor over :class:`bulk.sim._operations.ShopState`, for the shop state's own tests.

Why our own: the shop state must be testable without the HTTP front (``bulk/sim/_gateway.py``), which
adds buckets, cost and auth. This runs documents exactly the way the front does — the real 2026-04
Admin schema, ``graphql.execute`` with a field resolver that looks up ``resolvers()[type][field]`` —
and is also the ``Executor`` the bulk engine calls for every JSONL line. The schema is built once per
test session (it is 3.5 MB).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLSchema,
    build_schema,
    default_field_resolver,
    execute,
    parse,
    validate,
)

from bulk.sim._context import SimContext
from bulk.sim._operations import ShopState

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "bulk" / "schema" / "2026-04-admin-schema.graphql"
BASE_URL = "http://sim.test"


@functools.cache
def admin_schema() -> GraphQLSchema:
    """The real Admin schema, built once per process."""
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=256)
def _parsed(document: str) -> DocumentNode:
    doc = parse(document)
    errors = validate(admin_schema(), doc)
    if errors:
        raise AssertionError(f"invalid test document: {[e.message for e in errors]}")
    return doc


class SimExecutor:
    """Runs documents against a ShopState; records how many it ran."""

    def __init__(self, state: ShopState, *, base_url: str = BASE_URL) -> None:
        self.state = state
        self.base_url = base_url
        self._resolvers = state.resolvers()
        self.executed = 0

    def _resolve(self, source: Any, info: Any, **args: Any) -> Any:
        fn = self._resolvers.get(info.parent_type.name, {}).get(info.field_name)
        if fn is not None:
            return fn(source, info, **args)
        return default_field_resolver(source, info, **args)

    async def execute_unmetered(
        self, document: str, variables: Mapping[str, Any], *, token_index: int
    ) -> dict[str, Any]:
        """``{"data": …}`` plus ``"errors"`` when there are any (the front's answer shape)."""
        self.executed += 1
        context = SimContext(
            token_index=token_index, now=self.state.clock.now(), base_url=self.base_url, executor=self
        )
        outcome = execute(
            admin_schema(),
            _parsed(document),
            context_value=context,
            variable_values=dict(variables),
            field_resolver=self._resolve,
        )
        if inspect.isawaitable(outcome):
            outcome = await outcome
        body: dict[str, Any] = {"data": outcome.data}
        if outcome.errors:
            body["errors"] = [e.formatted for e in outcome.errors]
        return body

    async def run(
        self, document: str, variables: Mapping[str, Any] | None = None, *, token_index: int = 0
    ) -> dict[str, Any]:
        """Execute and return ``data``, failing the test on any top-level error."""
        body = await self.execute_unmetered(document, variables or {}, token_index=token_index)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def file_at(self, url: str) -> bytes:
        """The bytes behind a result URL the shop handed out."""
        prefix = f"{self.base_url}/_sim/files/"
        assert url.startswith(prefix), url
        data = self.state.files.get(url[len(prefix) :])
        assert data is not None, url
        return data

    def jsonl_at(self, url: str) -> list[dict[str, Any]]:
        """A result file parsed line by line."""
        return [json.loads(line) for line in self.file_at(url).decode().splitlines()]


STAGED_UPLOAD = """
mutation Stage($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}"""

RUN_MUTATION = """
mutation Run($mutation: String!, $path: String!, $client: String) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $path, clientIdentifier: $client) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""

RUN_QUERY = """
mutation RunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""

BULK_OPERATION = """
query Op($id: ID!) {
  bulkOperation(id: $id) {
    id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt completedAt type
  }
}"""

PRICE_UPDATE = """
mutation Price($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id price compareAtPrice sku }
    userErrors { field message code }
  }
}"""


async def stage(ex: SimExecutor, lines: list[dict[str, Any]], *, token_index: int = 0) -> str:
    """stagedUploadsCreate + the upload (what the front's POST /_sim/uploads does): the staged path."""
    data = await ex.run(
        STAGED_UPLOAD,
        {
            "input": [
                {
                    "resource": "BULK_MUTATION_VARIABLES",
                    "filename": "vars.jsonl",
                    "mimeType": "text/jsonl",
                    "httpMethod": "POST",
                }
            ]
        },
        token_index=token_index,
    )
    target = data["stagedUploadsCreate"]["stagedTargets"][0]
    key = next(p["value"] for p in target["parameters"] if p["name"] == "key")
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    ex.state.files.put(key, body)
    return str(key)


async def run_bulk_mutation(
    ex: SimExecutor, mutation: str, lines: list[dict[str, Any]], *, token_index: int = 0
) -> dict[str, Any]:
    """Stage ``lines`` and start a bulk mutation; the ``bulkOperationRunMutation`` payload."""
    path = await stage(ex, lines, token_index=token_index)
    data = await ex.run(RUN_MUTATION, {"mutation": mutation, "path": path}, token_index=token_index)
    payload: dict[str, Any] = data["bulkOperationRunMutation"]
    return payload
