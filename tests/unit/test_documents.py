"""Every ``.graphql`` file in the repository is valid against the real 2026-04 Admin schema.

Globbed, so a document added anywhere (queries, fixtures, bench) is covered without editing this test.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from bulk.shopify import documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "bulk" / "schema" / "2026-04-admin-schema.graphql"
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", ".mypy_cache", ".ruff_cache", "build", "dist"}


def _graphql_files() -> list[Path]:
    found = []
    for path in REPO.rglob("*.graphql"):
        rel = path.relative_to(REPO)
        if SKIP_DIRS & set(rel.parts) or rel.parts[:2] == ("bulk", "schema"):
            continue
        if "schema" in path.name:  # other copies of a schema are not documents
            continue
        found.append(path)
    return sorted(found)


@functools.cache
def _schema() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


FILES = _graphql_files()


def test_the_glob_finds_the_shipped_documents() -> None:
    names = {p.stem for p in FILES}
    assert set(documents.all_documents()) <= names
    assert documents.INVENTORY_SET_QUANTITIES in names


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_document_is_valid_against_admin_schema(path: Path) -> None:
    errors = validate(_schema(), parse(path.read_text(encoding="utf-8")))
    assert not errors, "\n".join(str(e) for e in errors)


def test_document_lookup_names_the_known_documents() -> None:
    assert "inventorySetQuantities" in documents.document(documents.INVENTORY_SET_QUANTITIES)
    with pytest.raises(KeyError, match="inventory_set_quantities"):
        documents.document("no_such_document")


def test_every_name_constant_has_a_file() -> None:
    constants = {v for k, v in vars(documents).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(documents.all_documents())


def test_the_polls_of_several_operations_are_one_valid_query() -> None:
    from bulk.lanes.bulk.shop_port import operations_document

    text = operations_document(5)
    assert not validate(_schema(), parse(text)) and text.count("bulkOperation(id:") == 5
