"""Walking a document's selections against the schema, for the cost calculator
(:mod:`bulk.sim._cost`): fields collected per runtime type (fragments and directives applied),
the object types an abstract value may have, arguments with the request's variables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    is_abstract_type,
    value_from_ast_untyped,
)
from graphql.execution.collect_fields import collect_fields


class SelectionWalker:
    """The schema, the document's fragments and the request's coerced variables, and the walks over
    them that a cost needs."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = dict(fragments)
        self._variables = dict(variables)

    def _root_type(self, operation: OperationDefinitionNode) -> GraphQLObjectType:
        root = self._schema.get_root_type(operation.operation)
        assert root is not None  # validation already rejected operations the schema lacks
        return root

    def _collect(self, runtime: GraphQLObjectType, selections: Iterable[Any]) -> dict[str, list[FieldNode]]:
        merged: dict[str, list[FieldNode]] = {}
        for selection_set in selections:
            for key, nodes in collect_fields(
                self._schema, self._fragments, self._variables, runtime, selection_set
            ).items():
                merged.setdefault(key, []).extend(nodes)
        return merged

    def _runtime_candidates(self, named: Any, selections: list[SelectionSetNode]) -> list[GraphQLObjectType]:
        """The object types a value of ``named`` may have, one per distinct selection.

        ``Node`` has 200+ members, but members matching the same type conditions select the same
        fields; so one representative per group of matched conditions is enough."""
        if isinstance(named, GraphQLObjectType):
            return [named]
        if not isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return []
        return list(_representatives(self._schema, named, frozenset(self._conditions(selections))))

    def _conditions(self, selections: list[SelectionSetNode]) -> set[str]:
        """Type-condition names of the fragments at this level (not inside sub-selections)."""
        names: set[str] = set()
        stack: list[SelectionSetNode] = list(selections)
        seen: set[str] = set()
        while stack:
            for sel in stack.pop().selections:
                if isinstance(sel, InlineFragmentNode):
                    if sel.type_condition is not None:
                        names.add(sel.type_condition.name.value)
                    stack.append(sel.selection_set)
                elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                    seen.add(sel.name.value)
                    fragment = self._fragments.get(sel.name.value)
                    if fragment is not None:
                        names.add(fragment.type_condition.name.value)
                        stack.append(fragment.selection_set)
        return names

    def _arguments(self, node: FieldNode) -> dict[str, Any]:
        return {a.name.value: value_from_ast_untyped(a.value, self._variables) for a in node.arguments}


def is_connection(named: Any) -> bool:
    """Whether ``named`` is a Relay connection type (``…Connection`` with ``edges`` or ``nodes``)."""
    return (
        isinstance(named, GraphQLObjectType)
        and named.name.endswith("Connection")
        and ("edges" in named.fields or "nodes" in named.fields)
    )


def real_fields(fields: Mapping[str, list[FieldNode]]) -> Iterable[list[FieldNode]]:
    """Field groups other than introspection meta-fields (``__typename`` is free)."""
    return (nodes for nodes in fields.values() if not nodes[0].name.value.startswith("__"))


def response_key(node: FieldNode) -> str:
    """The key a field's value has in the response (its alias, else its name)."""
    return node.alias.value if node.alias else node.name.value


@lru_cache(maxsize=1024)
def _representatives(
    schema: GraphQLSchema, named: GraphQLInterfaceType | GraphQLUnionType, conditions: frozenset[str]
) -> tuple[GraphQLObjectType, ...]:
    """One member of ``named`` per group of the type conditions it matches. Cached: the schema and
    its types never change, and the image follow-up's reads by id ask this of ``Node`` (200+
    members) for every request — a tenth of the shop's CPU at Black Friday scale uncached."""
    matching = [t for name in sorted(conditions) if (t := schema.get_type(name)) is not None]
    groups: dict[frozenset[str], GraphQLObjectType] = {}
    for member in schema.get_possible_types(named):
        matched = frozenset(
            c.name
            for c in matching
            if c is member or (is_abstract_type(c) and schema.is_sub_type(c, member))  # type: ignore[arg-type]
        )
        groups.setdefault(matched, member)
    return tuple(groups.values())
