"""Shopify's hard limits on one request, and the errors it answers with (pure).

Why apart from the cost walk: these are refusals, not prices. A document over the single-query
maximum (:data:`MAX_QUERY_COST` points) or with an input list over :data:`MAX_INPUT_SIZE` items is
refused before anything is charged, with Shopify's code (``MAX_COST_EXCEEDED`` /
``MAX_INPUT_SIZE_EXCEEDED``) and wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
)

from bulk.errors import GraphQLRequestError

MAX_QUERY_COST = 1000
MAX_INPUT_SIZE = 250

_MAX_COST_TEMPLATE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({limit}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
)


@dataclass(frozen=True, slots=True)
class CostProblem:
    """Why a document cannot be charged: the GraphQL error Shopify would return (HTTP 200)."""

    code: str
    message: str
    extra: tuple[tuple[str, Any], ...] = ()

    def error(self) -> dict[str, Any]:
        """The entry for the response's top-level ``errors`` list."""
        return {"message": self.message, "extensions": {"code": self.code, **dict(self.extra)}}

    def as_error(self) -> GraphQLRequestError:
        """This problem as the exception the walk raises; the front answers with ``errors``."""
        return GraphQLRequestError(self.message, errors=[self.error()])


def max_cost_problem(cost: int) -> CostProblem:
    """The MAX_COST_EXCEEDED error for a document requesting ``cost`` points."""
    return CostProblem(
        "MAX_COST_EXCEEDED",
        _MAX_COST_TEMPLATE.format(cost=cost, limit=MAX_QUERY_COST),
        (("cost", cost), ("maxCost", MAX_QUERY_COST)),
    )


def oversized_input(
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    fragments: Iterable[FragmentDefinitionNode] = (),
    limit: int = MAX_INPUT_SIZE,
) -> CostProblem | None:
    """The MAX_INPUT_SIZE_EXCEEDED error if any input list (literal or variable) exceeds ``limit``."""
    for value in variables.values():
        if (size := _largest_list(value)) > limit:
            return _input_size_problem(size, limit)
    stack: list[Any] = [*operation.selection_set.selections]
    for fragment in fragments:
        stack.extend(fragment.selection_set.selections)
    while stack:
        item = stack.pop()
        if isinstance(item, FieldNode):
            for arg in item.arguments:
                if (size := _largest_literal_list(arg.value)) > limit:
                    return _input_size_problem(size, limit)
        selection_set = getattr(item, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return None


def _input_size_problem(size: int, limit: int) -> CostProblem:
    return CostProblem(
        "MAX_INPUT_SIZE_EXCEEDED",
        f"The input array size of {size} is greater than the maximum allowed of {limit}.",
    )


def _largest_list(value: Any) -> int:
    if isinstance(value, list):
        return max([len(value), *(_largest_list(v) for v in value)])
    if isinstance(value, Mapping):
        return max((_largest_list(v) for v in value.values()), default=0)
    return 0


def _largest_literal_list(node: ValueNode) -> int:
    if isinstance(node, ListValueNode):
        return max([len(node.values), *(_largest_literal_list(v) for v in node.values)])
    if isinstance(node, ObjectValueNode):
        return max((_largest_literal_list(f.value) for f in node.fields), default=0)
    if isinstance(node, VariableNode):
        return 0  # checked through the variables themselves
    return 0
