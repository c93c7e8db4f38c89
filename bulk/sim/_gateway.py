"""The GraphQL front without HTTP: validate, check support, charge the bucket, execute, refund.

Why apart from the HTTP server: this is where every Shopify rule is applied, in one order, and it is
what the bulk engine calls (through :meth:`Gateway.execute_unmetered`) for each JSONL line, so the
two paths can never disagree about what a document means. The HTTP layer only adds auth, latency,
faults and the concurrency cap.

Order for one request (each step answers HTTP 200 with ``errors`` when it refuses):
parse+validate → fields the sim implements (both once per text, a new text in a worker thread:
:mod:`bulk.sim._first_sight`) → operation → variables → input list sizes → requested cost /
MAX_COST_EXCEEDED → bucket (THROTTLED) → execute → refund requested − actual.
Nothing is charged for a document refused before the bucket step.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import GraphQLError, OperationDefinitionNode, OperationType, default_field_resolver, execute
from graphql.execution.values import get_variable_values

from bulk.clock import Clock
from bulk.errors import GraphQLRequestError
from bulk.sim._bucket import CostBucket, Plan
from bulk.sim._context import SimContext
from bulk.sim._cost import CostCalculator
from bulk.sim._first_sight import FirstSight
from bulk.sim._limits import oversized_input
from bulk.sim._schema import Prepared, SupportChecker, admin_schema, format_error
from bulk.sim._stats import TokenCounters

THROTTLED_DOCS = "https://shopify.dev/api/usage/rate-limits"


class FileStoreLike(Protocol):
    """The shop's file store (``ShopState.files``): staged uploads and bulk results."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...


class ShopStateLike(Protocol):
    """What the front needs from the shop state (``bulk.sim._operations.ShopState``)."""

    @property
    def SUPPORTED_FIELDS(self) -> Mapping[str, frozenset[str]]:
        """Type name → the field names the simulated shop implements."""
        ...

    @property
    def files(self) -> FileStoreLike:
        """Staged uploads and bulk-operation results."""
        ...

    def resolvers(self) -> dict[str, dict[str, Callable[..., Any]]]: ...

    def statistics(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Checked:
    """A request that passed every check: its document, chosen operation and coerced variables."""

    prepared: Prepared
    operation: OperationDefinitionNode
    variables: dict[str, Any]


def throttled_body(requested: int, bucket: CostBucket, now: float) -> dict[str, Any]:
    """Shopify's exact THROTTLED answer (HTTP 200)."""
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": THROTTLED_DOCS},
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": bucket.status(now).as_json(),
            }
        },
    }


class Gateway:
    """Runs GraphQL requests for ``len(tokens)`` apps against one shop state."""

    def __init__(self, state: ShopStateLike, *, plan: Plan, tokens: int, clock: Clock) -> None:
        self.state = state
        self.clock = clock
        self.base_url = ""  # set by the server once it knows its port
        now = clock.now()
        self.buckets = [CostBucket.for_plan(plan, now=now) for _ in range(tokens)]
        self.counters = [TokenCounters() for _ in range(tokens)]
        self._resolvers = state.resolvers()
        self._documents = FirstSight(SupportChecker(state.SUPPORTED_FIELDS))
        self._schema = admin_schema()

    async def handle(
        self, token_index: int, query: str, variables: Mapping[str, Any] | None, operation_name: str | None
    ) -> dict[str, Any]:
        """One metered request from ``token_index``: the JSON body of the HTTP 200 answer."""
        counters = self.counters[token_index]
        counters.requests += 1
        checked = await self._check(query, variables, operation_name)
        if isinstance(checked, list):
            counters.errors += 1
            return {"errors": checked}
        operation = checked.operation
        calc = CostCalculator(self._schema, checked.prepared.fragments, checked.variables)
        try:
            requested = calc.requested(operation)
        except GraphQLRequestError as exc:
            counters.errors += 1
            return {"errors": exc.errors}
        bucket = self.buckets[token_index]
        if not bucket.admit(requested, self.clock.now()):
            return throttled_body(requested, bucket, self.clock.now())
        result = await self._execute(checked.prepared, operation_name, variables, token_index)
        # A mutation's actual cost is its requested cost (nothing to refund; skip the walk).
        is_mutation = operation.operation is OperationType.MUTATION
        actual = requested if is_mutation else calc.actual(operation, result.get("data"))
        now = self.clock.now()
        bucket.refund(requested - actual, now)
        if "errors" in result:
            counters.errors += 1
        result["extensions"] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": bucket.status(now).as_json(),
            }
        }
        return result

    def foresee(self, query: str) -> None:
        """A request with ``query`` arrived and waits out its latency: a new text's check starts now,
        so the shop's own work overlaps the time it models rather than adding to it."""
        self._documents.begin(query)

    async def execute_unmetered(
        self, document: str, variables: Mapping[str, Any], *, token_index: int
    ) -> dict[str, Any]:
        """Run ``document`` without charging any bucket (the bulk engine, one JSONL line)."""
        checked = await self._check(document, variables, None)
        if isinstance(checked, list):
            return {"data": None, "errors": checked}
        return await self._execute(checked.prepared, None, variables, token_index)

    async def _check(
        self, query: str, variables: Mapping[str, Any] | None, operation_name: str | None
    ) -> list[dict[str, Any]] | _Checked:
        """Everything that refuses a document before any charge; the errors, or what to run."""
        prepared, unsupported = await self._documents.check(query)
        if prepared.errors:
            return list(prepared.errors)
        if unsupported:
            return list(unsupported)
        operation = prepared.operation(operation_name)
        if isinstance(operation, dict):
            return [operation]
        coerced = get_variable_values(
            self._schema, operation.variable_definitions or [], dict(variables or {})
        )
        if isinstance(coerced, list):
            return [format_error(e, "INVALID_VARIABLE") for e in coerced]
        problem = oversized_input(operation, variables or {}, prepared.fragments.values())
        if problem is not None:
            return [problem.error()]
        return _Checked(prepared, operation, coerced)

    async def _execute(
        self, prepared: Prepared, operation_name: str | None, variables: Mapping[str, Any] | None, token: int
    ) -> dict[str, Any]:
        assert prepared.document is not None  # only documents that passed _check get here
        context = SimContext(token_index=token, now=self.clock.now(), base_url=self.base_url, executor=self)
        outcome = execute(
            self._schema,
            prepared.document,
            context_value=context,
            variable_values=dict(variables or {}),
            operation_name=operation_name,
            field_resolver=self._resolve,
        )
        if inspect.isawaitable(outcome):
            outcome = await outcome
        body: dict[str, Any] = {"data": outcome.data}
        if outcome.errors:
            body["errors"] = [_located(e) for e in outcome.errors]
        return body

    def close(self) -> None:
        """Let go of the thread that checks new documents (the shop is shutting down)."""
        self._documents.close()

    def _resolve(self, source: Any, info: Any, **args: Any) -> Any:
        by_type = self._resolvers.get(info.parent_type.name)
        if by_type is not None:
            fn = by_type.get(info.field_name)
            if fn is not None:
                return fn(source, info, **args)
        return default_field_resolver(source, info, **args)

    def statistics(self) -> dict[str, Any]:
        """Per-token bucket level and counters, and totals."""
        now = self.clock.now()
        tokens = [
            {"token_index": i, **bucket.statistics(now), **counters.as_json()}
            for i, (bucket, counters) in enumerate(zip(self.buckets, self.counters, strict=True))
        ]
        totals: dict[str, Any] = {
            key: sum(t[key] for t in tokens)
            for key in (
                "requests",
                "admitted",
                "throttled",
                "errors",
                "server_errors",
                "dropped",
                "cost_spent",
                "attempts",
            )
        }
        for key in ("statuses", "faults"):
            merged: Counter[str] = Counter()
            for counters in self.counters:
                merged.update(getattr(counters, key))
            totals[key] = dict(sorted(merged.items()))
        return {"tokens": tokens, "totals": totals}

    def reset_statistics(self) -> None:
        """Zero every counter (bucket levels are state and stay)."""
        for bucket in self.buckets:
            bucket.reset_statistics()
        self.counters = [TokenCounters() for _ in self.counters]

    def __repr__(self) -> str:
        return f"Gateway(tokens={len(self.buckets)}, base_url={self.base_url!r})"


def _located(error: GraphQLError) -> dict[str, Any]:
    """An execution error in Shopify's shape; resolver crashes get Shopify's internal-error code."""
    out: dict[str, Any] = dict(error.formatted)
    extensions = dict(out.get("extensions") or {})
    crashed = error.original_error is not None and not isinstance(error.original_error, GraphQLError)
    extensions.setdefault("code", "INTERNAL_SERVER_ERROR" if crashed else "BAD_REQUEST")
    out["extensions"] = extensions
    return out


def token_indexes(tokens: Sequence[str]) -> dict[str, int]:
    """Access token → its index; the only place the tokens themselves are looked at."""
    return {token: i for i, token in enumerate(tokens)}
