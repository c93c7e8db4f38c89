"""Shopify's calculated query cost, computed from a document's AST (pure; no I/O, no clock).

Why our own: the simulator must charge exactly what Shopify charges, or a client tuned against it
would be wrong in production. The rules (shopify.dev, "API rate limits" → "Calculated query cost"):

- scalars and enums cost 0; every object costs 1;
- interfaces and unions cost the most expensive of their possible selections;
- a connection costs 2 + (``first`` or ``last``) × the cost of one node's selection; its ``edges``,
  ``cursor`` and ``pageInfo`` are free beyond that (``nodes`` and ``edges.node`` both count, if both
  are asked for: the stricter reading);
- each mutation root field costs 10, whatever its payload selects; ``productVariantsBulkUpdate`` costs
  10 + 0.2 per variant + 0.6 per variant image input + 0.4 per metafield + 1.9 per product image,
  rounded up (changelog 2025-10-01); ``productSet`` 10 + 1.9 per ``input.files`` entry (the schema's
  "Complexity cost" of ``ProductSetInput.files``);
- one document may request at most ``MAX_QUERY_COST`` (1000) points (see :mod:`bulk.sim._limits`).

The *actual* cost walks the returned data the same way, counting the nodes a connection really
returned; the front refunds ``requested - actual`` after execution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    is_leaf_type,
)

from bulk.sim._cost_walk import SelectionWalker, is_connection, real_fields, response_key
from bulk.sim._limits import MAX_QUERY_COST, CostProblem, max_cost_problem

MUTATION_COST = 10
CONNECTION_BASE_COST = 2

# productVariantsBulkUpdate surcharges in tenths of a point, so 100 × 0.2 is exactly 20, not 20.000…04.
_PVBU_TENTHS = {"variant": 2, "variant_image": 6, "metafield": 4, "product_image": 19}


class CostCalculator(SelectionWalker):
    """Requested and actual cost of one operation, given coerced variables.

    Build one per request from the schema, the document's fragments and the request's variables
    (:class:`~bulk.sim._cost_walk.SelectionWalker`); the schema walk it performs is small for the
    small documents a client sends per request.
    """

    # -- requested ---------------------------------------------------------------------------
    def requested(self, operation: OperationDefinitionNode) -> int:
        """Points the operation requests (raises :class:`~bulk.errors.GraphQLRequestError`
        on MAX_COST_EXCEEDED or a connection without ``first``/``last``)."""
        root = self._root_type(operation)
        fields = self._collect(root, [operation.selection_set])
        if operation.operation is OperationType.MUTATION:
            tenths = sum(self._mutation_tenths(root, nodes[0]) for nodes in fields.values())
            cost = math.ceil(tenths / 10)
        else:
            cost = sum(
                self._field_cost(root.fields[nodes[0].name.value], nodes) for nodes in real_fields(fields)
            )
        if cost > MAX_QUERY_COST:
            raise max_cost_problem(cost).as_error()
        return cost

    def _mutation_tenths(self, root: GraphQLObjectType, node: FieldNode) -> int:
        if node.name.value == "__typename":
            return 0
        tenths = MUTATION_COST * 10
        if node.name.value == "productVariantsBulkUpdate":
            args = self._arguments(node)
            variants = args.get("variants") or []
            media = args.get("media") or []
            tenths += _PVBU_TENTHS["variant"] * len(variants)
            tenths += _PVBU_TENTHS["product_image"] * len(media)
            for variant in variants:
                if not isinstance(variant, Mapping):
                    continue
                images = len(variant.get("mediaSrc") or []) + (1 if variant.get("mediaId") else 0)
                tenths += _PVBU_TENTHS["variant_image"] * images
                tenths += _PVBU_TENTHS["metafield"] * len(variant.get("metafields") or [])
        elif node.name.value == "productSet":
            # ProductSetInput.files: "Complexity cost: 1.9 per file." (2026-04 schema)
            given = self._arguments(node).get("input")
            files = given.get("files") if isinstance(given, Mapping) else None
            tenths += _PVBU_TENTHS["product_image"] * len(files or [])
        return tenths

    def _field_cost(self, field: GraphQLField, nodes: list[FieldNode]) -> int:
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return 0
        if is_connection(named):
            size = self._page_size(nodes[0])
            return CONNECTION_BASE_COST + size * self._node_cost(named, nodes)
        return 1 + self._selection_cost(named, nodes)

    def _selection_cost(self, named: Any, nodes: list[FieldNode]) -> int:
        """Cost of the sub-selection of an object (or the max over an abstract type's members)."""
        selections = [n.selection_set for n in nodes if n.selection_set is not None]
        best = 0
        for runtime in self._runtime_candidates(named, selections):
            fields = self._collect(runtime, selections)
            total = sum(self._field_cost(runtime.fields[ns[0].name.value], ns) for ns in real_fields(fields))
            best = max(best, total)
        return best

    def _node_cost(self, connection: Any, nodes: list[FieldNode]) -> int:
        """Cost of one node of a connection: ``edges { node }`` plus ``nodes`` (both if both asked)."""
        assert isinstance(connection, GraphQLObjectType)
        fields = self._collect(connection, [n.selection_set for n in nodes if n.selection_set])
        per_node = 0
        for key_nodes in real_fields(fields):
            name = key_nodes[0].name.value
            if name == "nodes":
                per_node += self._field_cost(connection.fields["nodes"], key_nodes)
            elif name == "edges":
                edge_type = get_named_type(connection.fields["edges"].type)
                assert isinstance(edge_type, GraphQLObjectType)
                edge_fields = self._collect(
                    edge_type, [n.selection_set for n in key_nodes if n.selection_set]
                )
                for edge_nodes in real_fields(edge_fields):
                    if edge_nodes[0].name.value == "node":
                        per_node += self._field_cost(edge_type.fields["node"], edge_nodes)
        # pageInfo, cursor and any other connection field are free beyond the base cost.
        return per_node

    def _page_size(self, node: FieldNode) -> int:
        args = self._arguments(node)
        sizes = [v for k in ("first", "last") if isinstance(v := args.get(k), int)]
        if not sizes:
            problem = CostProblem("BAD_REQUEST", f"you must provide one of first or last ({node.name.value})")
            raise problem.as_error()
        return max(sizes)

    # -- actual ------------------------------------------------------------------------------
    def actual(self, operation: OperationDefinitionNode, data: Mapping[str, Any] | None) -> int:
        """Points the returned ``data`` really cost (mutations: always the requested cost)."""
        if operation.operation is OperationType.MUTATION:
            return self.requested(operation)
        if data is None:
            return 0
        root = self._root_type(operation)
        fields = self._collect(root, [operation.selection_set])
        return sum(
            self._actual_field(root.fields[ns[0].name.value], ns, data.get(response_key(ns[0])))
            for ns in real_fields(fields)
        )

    def _actual_field(self, field: GraphQLField, nodes: list[FieldNode], value: Any) -> int:
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return 0
        if is_connection(named):
            return CONNECTION_BASE_COST + self._actual_connection(named, nodes, value)
        if value is None:
            return 1  # the lookup happened; the object was absent
        if isinstance(value, list):
            return 1 + max((self._actual_object(named, nodes, v) for v in value), default=0)
        return 1 + self._actual_object(named, nodes, value)

    def _actual_object(self, named: Any, nodes: list[FieldNode], value: Any) -> int:
        if not isinstance(value, Mapping):
            return 0
        selections = [n.selection_set for n in nodes if n.selection_set is not None]
        typename = value.get("__typename")
        known = self._schema.get_type(typename) if isinstance(typename, str) else None
        if isinstance(known, GraphQLObjectType):  # selected by the client: the runtime type is known
            candidates = [known]
        else:
            candidates = self._runtime_candidates(named, selections)
        # Otherwise infer it: the members whose selection yields exactly the returned keys (an
        # abstract value's data only holds the fields of its own type); failing that, any member
        # whose selection could have produced them — charging the most expensive, never less.
        returned = set(value.keys())
        exact: list[tuple[GraphQLObjectType, dict[str, list[FieldNode]]]] = []
        loose: list[tuple[GraphQLObjectType, dict[str, list[FieldNode]]]] = []
        for runtime in candidates:
            fields = self._collect(runtime, selections)
            keys = {response_key(ns[0]) for ns in fields.values()}
            if keys == returned:
                exact.append((runtime, fields))
            elif keys.issuperset(returned):
                loose.append((runtime, fields))
        return max(
            (
                sum(
                    self._actual_field(runtime.fields[ns[0].name.value], ns, value.get(response_key(ns[0])))
                    for ns in real_fields(fields)
                )
                for runtime, fields in exact or loose
            ),
            default=0,
        )

    def _actual_connection(self, connection: Any, nodes: list[FieldNode], value: Any) -> int:
        if not isinstance(value, Mapping):
            return 0
        assert isinstance(connection, GraphQLObjectType)
        total = 0
        fields = self._collect(connection, [n.selection_set for n in nodes if n.selection_set])
        for ns in real_fields(fields):
            name, got = ns[0].name.value, value.get(response_key(ns[0]))
            if name == "nodes" and isinstance(got, list):
                node_type = get_named_type(connection.fields["nodes"].type)
                total += sum(1 + self._actual_object(node_type, ns, item) for item in got)
            elif name == "edges" and isinstance(got, list):
                edge_type = get_named_type(connection.fields["edges"].type)
                assert isinstance(edge_type, GraphQLObjectType)
                edge_fields = self._collect(edge_type, [n.selection_set for n in ns if n.selection_set])
                for edge_nodes in real_fields(edge_fields):
                    if edge_nodes[0].name.value != "node":
                        continue
                    node_type = get_named_type(edge_type.fields["node"].type)
                    for edge in got:
                        item = edge.get(response_key(edge_nodes[0])) if isinstance(edge, Mapping) else None
                        total += 1 + self._actual_object(node_type, edge_nodes, item)
        return total
