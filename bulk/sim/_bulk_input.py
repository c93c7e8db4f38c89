"""What ``bulkOperationRunMutation`` checks of what it is given, before an operation exists: the mutation
document (one mutation, one root field the simulator runs in bulk, valid against the schema) and the
staged JSONL file (UTF-8, one JSON object of variables per line)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)

BULK_VARS_SUFFIX = "/bulk_op_vars"  # the key stagedUploadsCreate signs for BULK_MUTATION_VARIABLES
Parsed = list[dict[str, Any]] | str  # a staged file's variables per line, or why it is invalid

BULK_MUTATIONS = frozenset({"productVariantsBulkUpdate", "productUpdate", "productSet"})
"""Mutations the simulator runs in bulk (a subset of Shopify's list; ``inventorySetQuantities`` is
refused: its required per-call ``@idempotent`` key has no per-line form; ``productSet``'s schema text
says it "always run[s] synchronously" in a bulk operation; ``fileUpdate`` is not documented in bulk)."""


@lru_cache(maxsize=64)
def mutation_problem(text: str, schema: GraphQLSchema) -> str | None:
    """Why ``text`` cannot run as a bulk mutation, or None (checked against the schema up front; once
    per document: every shard of a run starts with the same one, and validating it is ~2 ms of the
    shop's event loop)."""
    try:
        doc = parse(text)
    except GraphQLError as exc:
        return f"Invalid mutation: {exc.message}"
    invalid = validate(schema, doc)
    if invalid:
        return f"Invalid mutation: {invalid[0].message}"
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if len(ops) != 1 or ops[0].operation != OperationType.MUTATION:
        return "The document must contain exactly one mutation operation"
    roots = ops[0].selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return "A bulk mutation must have exactly one root field"
    if roots[0].name.value not in BULK_MUTATIONS:
        return (
            f"Mutation '{roots[0].name.value}' is not supported in bulk (simulator: {sorted(BULK_MUTATIONS)})"
        )
    return None


def parse_staged_jsonl(data: bytes) -> list[dict[str, Any]] | str:
    """Variables per line, or why the file is invalid (checked whole before anything runs)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "The file is not UTF-8"
    rows = text.split("\n")
    while rows and rows[-1].strip() == "":
        rows.pop()
    if not rows:
        return "The file is empty"
    out = []
    for n, row in enumerate(rows):
        try:
            value = orjson.loads(row)
        except orjson.JSONDecodeError:
            return f"Line {n} is not valid JSON"
        if not isinstance(value, dict):
            return f"Line {n} is not a JSON object of variables"
        out.append(value)
    return out


class StagedLines:
    """Staged files of bulk variables, parsed in a worker thread as soon as they are uploaded.

    Why at upload, not at ``bulkOperationRunMutation``: a client stages its next file before a slot
    frees, and a start that parses 20,000 lines then (~50 ms of CPU, a second where a dozen starts
    meet on a busy shop) leaves the slot idle for it. The answers are the same: the start still
    refuses the file it names, for the same reason, in the same order of checks."""

    def __init__(self) -> None:
        self._parsing: dict[str, tuple[bytes, asyncio.Future[Parsed]]] = {}

    def uploaded(self, key: str, data: bytes) -> None:
        """A file was stored under ``key``: parse it now if it holds bulk variables."""
        if not key.endswith(BULK_VARS_SUFFIX):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # stored outside the shop's loop (a test's setup): parsed at the start
            return
        self._parsing[key] = (data, loop.create_task(asyncio.to_thread(parse_staged_jsonl, data)))

    async def lines(self, key: str, data: bytes) -> Parsed:
        """``data`` (the file stored under ``key``) parsed: by its upload's parse when that was of these
        very bytes, else now (in a worker thread: the shop's event loop serves every other app)."""
        pending = self._parsing.pop(key, None)
        if pending is not None and pending[0] is data:
            return await pending[1]
        return await asyncio.to_thread(parse_staged_jsonl, data)
