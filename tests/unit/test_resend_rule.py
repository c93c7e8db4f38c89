"""The one rule for sending a request a second time (bulk.shopify._resend): which of our documents a
second apply leaves as one would (safe twice), which transient faults may come after the shop applied
the request, and what the client does with the two together. Pure: no network."""

from __future__ import annotations

from typing import Any

import pytest

from bulk.errors import InternalServerError, MaybeAppliedError, NetworkError, ServerError, TransientError
from bulk.shopify import documents
from bulk.shopify._policy import Action, action_for
from bulk.shopify._resend import maybe_applied, not_resent, resend_after, safe_twice

doc = documents.document
PRODUCT = {"product": {"id": "gid://shopify/Product/1", "descriptionHtml": "<p>x</p>"}}
IMAGES = {"product": {"id": "gid://shopify/Product/1"},
          "media": [{"originalSource": "https://img.example/a.png", "alt": "a", "mediaContentType": "IMAGE"}]}


@pytest.mark.parametrize(("name", "variables", "safe"), [
    (documents.LOCATIONS, {"first": 5}, True),  # a query reads only
    (documents.INVENTORY_SET_QUANTITIES, {}, True),  # @idempotent: the shop replays the key
    (documents.PRODUCT_VARIANTS_BULK_UPDATE, {"productId": "p", "variants": []}, True),  # sets values
    (documents.PRODUCT_SET, {"identifier": {"id": "p"}, "input": {"files": []}}, True),  # replaces the set
    (documents.PRODUCT_UPDATE, PRODUCT, True),  # a description is set
    (documents.PRODUCT_UPDATE, {**PRODUCT, "media": None}, True),
    (documents.PRODUCT_UPDATE, {**PRODUCT, "media": []}, True),
    (documents.PRODUCT_UPDATE, IMAGES, False),  # CreateMediaInput appends: twice = duplicates
    (documents.STAGED_UPLOADS_CREATE, {"input": []}, True),  # an unused upload target, nothing else
    (documents.BULK_OPERATION_CANCEL, {"id": "gid://shopify/BulkOperation/1"}, True),
    (documents.BULK_OPERATION_RUN_QUERY, {"query": "{ shop { id } }"}, True),  # changes no data
    (documents.BULK_OPERATION_RUN_MUTATION, {"mutation": "m", "stagedUploadPath": "s"}, False),  # 2 ops
])
def test_which_of_our_documents_are_safe_to_send_twice(name: str, variables: dict[str, Any],
                                                       safe: bool) -> None:
    assert safe_twice(doc(name), variables) is safe


def test_a_media_literal_and_an_unknown_mutation_are_not_safe_and_one_unsafe_root_field_is_enough() -> None:
    literal = ('mutation { productUpdate(product: {id: "p"}, media: [{originalSource: "u", '
               "mediaContentType: IMAGE}]) { product { id } } }")
    assert not safe_twice(literal)
    assert safe_twice('mutation { productUpdate(product: {id: "p"}, media: []) { product { id } } }')
    assert not safe_twice('mutation { productDelete(input: {id: "p"}) { deletedProductId } }')
    mixed = ('mutation M($i: InventorySetQuantitiesInput!) { a: productDelete(input: {id: "x"}) '
             '{ deletedProductId } b: inventorySetQuantities(input: $i) @idempotent(key: "k") '
             "{ userErrors { code } } }")
    assert not safe_twice(mixed)


@pytest.mark.parametrize(("error", "applied"), [
    (ServerError("HTTP 503", status=503), False),  # refused before running
    (ServerError("HTTP 502", status=502), True),  # ran, then the gateway failed
    (ServerError("HTTP 500", status=500), True),
    (ServerError("HTTP 504", status=504), True),
    (InternalServerError("ISE", request_id="r"), True),  # ran, then failed (docs/simulator.md)
    (NetworkError("dropped"), True),  # a drop or a timeout after sending
    (NetworkError("never opened", maybe_sent=False), False),
])
def test_which_faults_may_come_after_the_shop_applied_the_request(error: TransientError,
                                                                  applied: bool) -> None:
    assert maybe_applied(error) is applied


def test_the_client_resends_unless_the_fault_may_have_applied_a_request_not_safe_twice() -> None:
    append, prices = doc(documents.PRODUCT_UPDATE), doc(documents.PRODUCT_VARIANTS_BULK_UPDATE)
    bad_gateway, refused = ServerError("HTTP 502", status=502), ServerError("HTTP 503", status=503)
    assert not resend_after(bad_gateway, append, IMAGES)
    assert resend_after(refused, append, IMAGES)  # ran nothing: sending it (again) is its first apply
    assert resend_after(bad_gateway, prices, {"productId": "p", "variants": []})
    assert resend_after(bad_gateway, append, PRODUCT)


def test_the_error_says_may_have_been_applied_with_the_token_index_and_its_policy_is_check_shop() -> None:
    error = not_resent(ServerError("HTTP 502 from the shop", status=502, token_index=2), 2)
    assert isinstance(error, MaybeAppliedError) and not isinstance(error, TransientError)
    assert (error.token_index, error.status, error.fault) == (2, 502, "HTTP 502 from the shop")
    assert "may have applied it" in str(error) and "#2" in str(error)
    assert action_for(error) is Action.CHECK_SHOP
    assert not_resent(NetworkError("dropped"), 0).status is None
