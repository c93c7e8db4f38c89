"""The real Admin schema, and documents parsed + validated against it once.

Why cached: building the 3.5 MB schema takes seconds and validating a document against 3,277 types
takes milliseconds; a client sends the same few documents thousands of times, so both are done once
per process (schema) and once per distinct document text (:func:`prepare`). Per request the front
only looks the operation up and coerces variables.

Errors are shaped like Shopify's: ``{"message", "locations": [{"line", "column"}], "extensions":
{"code", …}}``. The most common one, an unknown field, uses Shopify's own wording and code
(``Field 'x' doesn't exist on type 'Y'``, ``undefinedField``); other validation errors keep
graphql-core's wording under ``GRAPHQL_VALIDATION_FAILED``, parse errors ``GRAPHQL_PARSE_FAILED``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    assert_valid_schema,
    build_schema,
    get_named_type,
    parse,
    validate,
    visit,
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "2026-04-admin-schema.graphql"
API_VERSION = "2026-04"

_UNDEFINED_FIELD = re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\.")


@functools.cache
def admin_schema() -> GraphQLSchema:
    """The Admin GraphQL schema (2026-04), built and checked once per process.

    Checked here, not lazily: graphql-core checks a schema on the first document validated against
    it (~20 ms for 3,277 types), and that is the shop's start, not some client's first request."""
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"), no_location=True)
    assert_valid_schema(schema)  # the result is kept on the schema: validate() does not repeat it
    return schema


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed, validated document: either usable (``errors`` empty) or the errors to return."""

    document: DocumentNode | None
    operations: Mapping[str | None, OperationDefinitionNode] = field(default_factory=dict)
    fragments: Mapping[str, FragmentDefinitionNode] = field(default_factory=dict)
    errors: tuple[dict[str, Any], ...] = ()

    def operation(self, name: str | None) -> OperationDefinitionNode | dict[str, Any]:
        """The operation to run for ``operationName`` — or the error Shopify would give."""
        if name is None:
            if len(self.operations) == 1:
                return next(iter(self.operations.values()))
            return _error("An operation name is required", "OPERATION_NAME_REQUIRED")
        op = self.operations.get(name)
        if op is None:
            return _error(f'No operation named "{name}"', "OPERATION_NOT_FOUND")
        return op


@functools.lru_cache(maxsize=4096)
def prepare(text: str) -> Prepared:
    """Parse and validate ``text`` against the Admin schema (cached by the exact text)."""
    try:
        document = parse(text, no_location=False)
    except GraphQLError as exc:
        return Prepared(None, errors=(format_error(exc, "GRAPHQL_PARSE_FAILED"),))
    problems = validate(admin_schema(), document)
    if problems:
        return Prepared(None, errors=tuple(format_error(p, "GRAPHQL_VALIDATION_FAILED") for p in problems))
    operations: dict[str | None, OperationDefinitionNode] = {}
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations[definition.name.value if definition.name else None] = definition
        elif isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
    return Prepared(document, operations, fragments)


def format_error(error: GraphQLError, code: str) -> dict[str, Any]:
    """A graphql-core error in Shopify's shape."""
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    extensions: dict[str, Any] = {"code": code}
    if match := _UNDEFINED_FIELD.match(error.message):
        out["message"] = f"Field '{match[1]}' doesn't exist on type '{match[2]}'"
        extensions = {"code": "undefinedField", "typeName": match[2], "fieldName": match[1]}
    out["extensions"] = extensions
    return out


def _locations(node: FieldNode) -> list[dict[str, int]]:
    if node.loc is None:
        return []
    where = node.loc.source.get_location(node.loc.start)
    return [{"line": where.line, "column": where.column}]


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


class SupportChecker:
    """Which fields of a document the simulated shop does not implement.

    A field is supported if ``supported[type]`` lists it; on an interface or union it is supported if
    the abstract type itself or any of its member types lists it. ``__typename`` and other
    meta-fields always are. Run once per document text: :class:`~bulk.sim._first_sight.FirstSight`
    keeps the result.
    """

    def __init__(self, supported: Mapping[str, frozenset[str]]) -> None:
        self._supported = supported
        self._abstract: dict[str, frozenset[str]] = {}

    def unsupported(self, prepared: Prepared) -> tuple[dict[str, Any], ...]:
        """Errors (Shopify's shape) naming every field the sim does not implement; empty if none."""
        assert prepared.document is not None
        schema = admin_schema()
        type_info = TypeInfo(schema)
        errors: list[dict[str, Any]] = []
        checker = self

        class _Visitor(Visitor):
            def enter_field(self, node: FieldNode, *_: Any) -> None:
                parent = type_info.get_parent_type()
                name = node.name.value
                if parent is None or name.startswith("__"):
                    return
                if name not in checker._fields_of(get_named_type(parent)):
                    errors.append(
                        {
                            "message": f"Field '{name}' on type '{parent.name}' is not implemented by the "
                            "simulated shop (bulk.sim); see docs/simulator.md",
                            "locations": _locations(node),
                            "extensions": {
                                "code": "NOT_IMPLEMENTED_IN_SIMULATOR",
                                "typeName": parent.name,
                                "fieldName": name,
                            },
                        }
                    )

        visit(prepared.document, TypeInfoVisitor(type_info, _Visitor()))
        return tuple(errors)

    def _fields_of(self, named: GraphQLNamedType) -> frozenset[str]:
        if not isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return self._supported.get(named.name, frozenset())
        cached = self._abstract.get(named.name)
        if cached is None:
            fields = set(self._supported.get(named.name, frozenset()))
            for member in admin_schema().get_possible_types(named):
                fields |= self._supported.get(member.name, frozenset())
            cached = self._abstract[named.name] = frozenset(fields)
        return cached
