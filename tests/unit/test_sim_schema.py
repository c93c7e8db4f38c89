"""Documents are parsed and validated against the real Admin schema, with Shopify-shaped errors."""

from __future__ import annotations

import graphql.type.validate
import pytest

import bulk.sim
from bulk.errors import ConfigError
from bulk.sim import SimConfig, parse_sim_url
from bulk.sim._schema import SupportChecker, admin_schema, prepare


def test_schema_is_the_2026_04_admin_schema_with_idempotent_directive() -> None:
    schema = admin_schema()
    assert admin_schema() is schema  # built once
    assert schema.get_directive("idempotent") is not None
    assert "productVariantsBulkUpdate" in schema.mutation_type.fields  # type: ignore[union-attr]


def test_the_schema_is_checked_when_built_not_on_a_first_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # graphql-core checks a schema on the first document validated against it (~20 ms): the shop does
    # that at its start, so no client's first request waits for it.
    admin_schema()

    def checked_again(*_: object) -> None:
        raise AssertionError("the schema was checked again for a request")

    monkeypatch.setattr(graphql.type.validate.SchemaValidationContext, "validate_types", checked_again)
    assert prepare("query FirstSeenHere { shop { name } }").errors == ()


def test_prepare_is_cached_by_text() -> None:
    assert prepare("{ shop { name } }") is prepare("{ shop { name } }")


def test_unknown_field_is_rejected_with_location_like_shopify() -> None:
    prepared = prepare("{\n  shop {\n    name\n    colour\n  }\n}")
    assert prepared.document is None
    assert prepared.errors == (
        {
            "message": "Field 'colour' doesn't exist on type 'Shop'",
            "locations": [{"line": 4, "column": 5}],
            "extensions": {"code": "undefinedField", "typeName": "Shop", "fieldName": "colour"},
        },
    )


def test_syntax_error_is_reported_with_location() -> None:
    (error,) = prepare("{ shop { name }").errors
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert error["locations"] == [{"line": 1, "column": 16}]


def test_wrong_argument_type_is_a_validation_error() -> None:
    (error,) = prepare('{ products(first: "ten") { nodes { id } } }').errors
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "locations" in error


def test_idempotent_directive_is_accepted_on_a_mutation_field() -> None:
    doc = """mutation($input: InventorySetQuantitiesInput!) {
      inventorySetQuantities(input: $input) @idempotent(key: "k-1") { userErrors { message } }
    }"""
    assert prepare(doc).errors == ()
    (error,) = prepare(doc.replace('@idempotent(key: "k-1")', "@idempotent")).errors
    assert "key" in error["message"]


def test_operation_selection() -> None:
    prepared = prepare("query A { shop { name } } query B { shop { id } }")
    assert isinstance(prepared.operation(None), dict)  # ambiguous without operationName
    op = prepared.operation("B")
    assert not isinstance(op, dict) and op.name is not None and op.name.value == "B"
    missing = prepared.operation("C")
    assert isinstance(missing, dict) and missing["extensions"]["code"] == "OPERATION_NOT_FOUND"


def test_unsupported_field_names_field_and_type() -> None:
    checker = SupportChecker({"QueryRoot": frozenset({"shop"}), "Shop": frozenset({"name"})})
    text = "{ shop { name currencyCode } }"
    (error,) = checker.unsupported(prepare(text))
    assert error["extensions"] == {
        "code": "NOT_IMPLEMENTED_IN_SIMULATOR",
        "typeName": "Shop",
        "fieldName": "currencyCode",
    }
    assert "'currencyCode' on type 'Shop'" in error["message"]
    assert error["locations"] == [{"line": 1, "column": 15}]
    assert checker.unsupported(prepare("{ shop { name __typename } }")) == ()


def test_field_on_interface_is_supported_through_any_member() -> None:
    checker = SupportChecker({"QueryRoot": frozenset({"node"}), "Product": frozenset({"id", "title"})})
    text = '{ node(id: "gid://shopify/Product/1") { id ... on Product { title } } }'
    assert checker.unsupported(prepare(text)) == ()


def test_public_names_of_the_facade() -> None:
    assert set(bulk.sim.__all__) == {"DEFAULT_TOKENS", "SimConfig", "SimShop", "parse_sim_url"}


def test_parse_sim_url() -> None:
    config = parse_sim_url("sim://?products=1000&plan=plus&tokens=a,b&max-concurrency=4&speed=20")
    assert config == SimConfig(products=1000, plan="plus", tokens=("a", "b"), max_concurrency=4, speed=20.0)
    assert parse_sim_url("sim://").products == SimConfig().products


@pytest.mark.parametrize(
    "url", ["sim://?plan=gold", "sim://?products=many", "sim://?colour=red", "http://x", "sim://?speed=0"]
)
def test_bad_sim_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_sim_url(url)


def test_tokens_never_in_repr() -> None:
    config = SimConfig(tokens=("shpat_secret_1",))
    assert "shpat_secret_1" not in repr(config)
