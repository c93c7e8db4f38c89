"""The table of causes and policies, the pure waits, the mapping of documented bodies, the one cost
parser and the staged upload's policy and refusals: pure functions, no network."""

from __future__ import annotations

import base64
import inspect
import math
import threading
from pathlib import Path
from typing import Any

import graphql
import orjson
import pytest

import bulk.errors
import bulk.scheduler._admission
import bulk.shopify._cost
from bulk.errors import (
    InternalServerError,
    LimitReachedError,
    MaxCostExceededError,
    ServerError,
    ShopifyError,
    ShopUnavailableError,
    StorageRefusedError,
    ThrottledError,
    TokenRefusedError,
    UserErrorsError,
)
from bulk.models import Lane
from bulk.scheduler import core
from bulk.scheduler._admission import OVER_CAPACITY, Granted, State, Wait
from bulk.scheduler._config import SchedulerConfig
from bulk.shopify import _policy as policy
from bulk.shopify import mapping, staged
from bulk.shopify._policy import CAUSES, Action, RetryPolicy, action_for, throttle_wait

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
NORMAL = RetryPolicy().normal


def _throttled(requested: float, available: float, rate: float = 100.0, **kw: Any) -> ThrottledError:
    status = {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": rate}
    cost = {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": status}
    return ThrottledError("THROTTLED", cost=cost, token_index=0, **kw)


# -- the table ----------------------------------------------------------------------------------------


def test_every_shop_error_class_has_exactly_one_row_and_docs_errors_md_names_them_all() -> None:
    classes = {k for k in vars(bulk.errors).values()
               if isinstance(k, type) and issubclass(k, ShopifyError)
               and k not in (ShopifyError, bulk.errors.TransientError, bulk.errors.AuthError,
                             bulk.errors.RunStoppedError)}
    rows = [c.error for c in CAUSES]
    assert len(rows) == len(set(rows))
    assert set(rows) == classes
    text = DOCS.read_text()
    for cause in CAUSES:
        assert f"`{cause.error.__name__}`" in text, cause.error.__name__
        assert f"`{cause.action.value}" in text, cause.action
        assert cause.error.__name__ in (bulk.errors.__doc__ or ""), "the class tree in bulk/errors.py"


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (ServerError("x", status=503), Action.RETRY),
        (InternalServerError("x", request_id="r"), Action.RETRY),
        (bulk.errors.NetworkError("x"), Action.RETRY),
        (_throttled(10, 0), Action.PACE),
        (TokenRefusedError("x", token_index=1), Action.DROP_TOKEN),
        (bulk.errors.NoTokenLeftError("x", refused=(0,), hint="h"), Action.STOP_RUN),
        (ShopUnavailableError("x", status=423, cause="locked", shop_message="", hint="h"), Action.STOP_RUN),
        (MaxCostExceededError("x", requested_cost=2003, max_cost=1000), Action.FAIL_REQUEST),
        (UserErrorsError("x", user_errors=[]), Action.REJECT_ROW),
        (LimitReachedError("x"), Action.WAIT_SLOT),
        (StorageRefusedError("x", status=400, code="EntityTooLarge", storage_message="m"),
         Action.FAIL_UPLOAD),
        (bulk.errors.MaybeAppliedError("x", fault="HTTP 502", status=502), Action.CHECK_SHOP),
    ],
)
def test_action_for_reads_the_table(error: ShopifyError, action: Action) -> None:
    assert action_for(error) is action


def test_action_for_a_foreign_error_is_none() -> None:
    assert action_for(ValueError("x")) is None


# -- the THROTTLED wait -----------------------------------------------------------------------------


def test_throttle_wait_is_the_answers_refill_time_when_it_is_the_longest() -> None:
    # (252 - 0) / 100 = 2.52 s, longer than the 0.5 s back-off floor of the first answer
    assert throttle_wait(_throttled(252, 0), 1, NORMAL) == pytest.approx(2.52)


def test_throttle_wait_honours_retry_after_and_the_exponential_floor() -> None:
    retry = ThrottledError("HTTP 429", cost={}, token_index=0, retry_after=7.0)
    assert throttle_wait(retry, 1, NORMAL) == 7.0
    bare = ThrottledError("HTTP 429", cost={}, token_index=0)
    waits = [throttle_wait(bare, n, NORMAL) for n in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]  # capped at pace_max_s
    # the answer says it could pay now (available >= requested): still never resent at once
    assert throttle_wait(_throttled(10, 500), 1, NORMAL) == 0.5


def test_the_resend_asks_the_scheduler_for_the_answers_requested_cost() -> None:
    assert policy.requested_cost(_throttled(252, 0), 10.0) == 252
    assert policy.requested_cost(_throttled(5, 0), 10.0) == 10.0
    assert policy.requested_cost(ThrottledError("429", cost={}), 10.0) == 10.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert policy.parse_retry_after("2.0") == 2.0
    assert policy.parse_retry_after(" 3 ") == 3.0
    assert policy.parse_retry_after(None) is None
    assert policy.parse_retry_after("soon") is None
    assert policy.parse_retry_after("-4") == 0.0
    assert policy.parse_retry_after("nan") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert policy.parse_retry_after(date, now_epoch=1445412475.0) == 5.0


def test_lane_budgets_are_in_seconds_and_urgent_is_the_smallest() -> None:
    retry = RetryPolicy()
    assert retry.for_lane(Lane.URGENT) is retry.urgent
    assert retry.for_lane(Lane.NORMAL) is retry.normal
    assert retry.for_lane(Lane.BULK) is retry.bulk
    assert retry.urgent.transient_s < retry.normal.transient_s <= retry.bulk.transient_s
    assert retry.urgent.timeout_s + retry.urgent.transient_s <= 15  # an urgent answer within seconds
    with pytest.raises(ValueError, match="transient_s"):
        policy.LaneBudget(transient_s=0, pacing_s=1, timeout_s=1, backoff_initial_s=1, backoff_max_s=1,
                          jitter_s=0, pace_initial_s=1, pace_max_s=1)


# -- documented bodies → classes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cause", "body", "said"),
    [
        (402, "frozen", b'{"errors":"Unavailable Shop"}', "Unavailable Shop"),
        (404, "not_found", b'{"errors":"Not Found"}', "Not Found"),
        (423, "locked", b'{"errors":"This store is unavailable"}', "This store is unavailable"),
    ],
)
def test_402_404_423_stop_the_run_naming_the_cause_and_the_body_text(
    status: int, cause: str, body: bytes, said: str
) -> None:
    error = mapping.error_for_status(status, token_index=0, body=body)
    assert isinstance(error, ShopUnavailableError) and isinstance(error, bulk.errors.RunStoppedError)
    assert error.cause == cause and error.status == status
    assert error.shop_message == said
    assert said in str(error) and str(status) in str(error)
    assert "What to do:" in str(error) and error.hint in str(error)


def test_shop_text_reads_every_documented_errors_shape() -> None:
    assert mapping.shop_text(b'{"errors": [{"message": "a"}, {"message": "b"}]}') == "a; b"
    assert mapping.shop_text(b'{"errors": {"shop": ["is frozen"]}}') == "shop: is frozen"
    assert mapping.shop_text(b"<html>Locked</html>") == "<html>Locked</html>"
    assert len(mapping.shop_text("x" * 5000)) == mapping.SHOP_MESSAGE_LIMIT


def test_401_and_403_are_token_refused_with_the_index() -> None:
    for status in (401, 403):
        error = mapping.error_for_status(status, token_index=2, body=b'{"errors":"[API] Invalid API key"}')
        assert isinstance(error, TokenRefusedError) and isinstance(error, bulk.errors.AuthError)
        assert error.token_index == 2 and error.status == status and "#2" in str(error)


def test_429_carries_retry_after_and_5xx_is_transient() -> None:
    error = mapping.error_for_status(429, token_index=0, retry_after=2.0)
    assert isinstance(error, ThrottledError) and error.retry_after == 2.0 and error.cost == {}
    graphql_429 = orjson.dumps({"errors": [{"message": "Throttled"}],
                                "extensions": {"cost": _throttled(252, 0).cost}})
    with_cost = mapping.error_for_status(429, token_index=0, body=graphql_429)
    assert isinstance(with_cost, ThrottledError) and with_cost.cost["requestedQueryCost"] == 252
    assert throttle_wait(with_cost, 1, NORMAL) == pytest.approx(2.52)
    server = mapping.error_for_status(503, token_index=0, retry_after=1.5)
    assert isinstance(server, ServerError) and isinstance(server, bulk.errors.TransientError)
    assert server.retry_after == 1.5


def test_internal_server_error_on_200_is_transient_and_keeps_the_request_id() -> None:
    payload = {"errors": [{"message": "Internal error. Looks like something went wrong on our end.",
                           "extensions": {"code": "INTERNAL_SERVER_ERROR",
                                          "requestId": "d2f47302-8559-4961-9a5b-3de60172aa29"}}]}
    error = mapping.error_for_payload(payload, token_index=1)
    assert isinstance(error, InternalServerError) and isinstance(error, bulk.errors.TransientError)
    assert error.request_id == "d2f47302-8559-4961-9a5b-3de60172aa29"
    assert error.request_id in str(error)


def test_max_cost_exceeded_names_the_answers_max_cost() -> None:
    message = "Query cost is 2003, which exceeds the single query max cost limit (1000)."
    payload = {"errors": [{"message": message,
                           "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2003, "maxCost": 1000}}]}
    error = mapping.error_for_payload(payload, token_index=0)
    assert isinstance(error, MaxCostExceededError)
    assert (error.requested_cost, error.max_cost) == (2003, 1000)
    assert "2003" in str(error) and "allows 1000" in str(error)
    bigger = {"errors": [{"message": "…", "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2500,
                                                        "maxCost": 2000}}]}
    error = mapping.error_for_payload(bigger, token_index=0)
    assert isinstance(error, MaxCostExceededError) and "allows 2000" in str(error)
    assert "1000" not in str(error)


def test_access_denied_and_shop_inactive_on_200() -> None:
    denied = mapping.error_for_payload(
        {"errors": [{"message": "Access denied", "extensions": {"code": "ACCESS_DENIED"}}]}, token_index=1)
    assert isinstance(denied, TokenRefusedError) and denied.token_index == 1 and denied.status == 200
    inactive = mapping.error_for_payload(
        {"errors": [{"message": "Shop is not active", "extensions": {"code": "SHOP_INACTIVE"}}]},
        token_index=0)
    assert isinstance(inactive, ShopUnavailableError) and inactive.cause == "inactive"
    assert "Shop is not active" in str(inactive)


@pytest.mark.parametrize(
    "user_error",
    [
        {"field": None, "message": "Bulk operations limit reached", "code": "LIMIT_REACHED"},
        {"field": None, "message": "A bulk mutation operation for this app and shop is already in progress: "
                                   "gid://shopify/BulkOperation/720463"},
    ],
)
def test_both_slots_full_shapes_map_to_limit_reached(user_error: dict[str, Any]) -> None:
    error = mapping.control_error([user_error], "bulkOperationRunMutation", token_index=2)
    assert isinstance(error, LimitReachedError) and error.token_index == 2
    if "gid://" in user_error["message"]:
        assert error.running == "gid://shopify/BulkOperation/720463"
    with pytest.raises(LimitReachedError):
        mapping.raise_for_user_errors({"bulkOperationRunMutation": {"userErrors": [user_error]}},
                                      "bulkOperationRunMutation", token_index=2)


def test_other_control_user_errors_stay_user_errors() -> None:
    invalid = [{"field": ["x"], "message": "Invalid"}]
    error = mapping.control_error(invalid, "stagedUploadsCreate", token_index=0)
    assert isinstance(error, UserErrorsError)
    assert mapping.control_error([], "stagedUploadsCreate", token_index=0) is None


# -- the one cost parser -------------------------------------------------------------------------------


def test_there_is_one_cost_parser_and_it_rejects_nan_and_infinity() -> None:
    assert bulk.shopify._cost.parse_cost is core.parse_cost
    nan = core.parse_cost({"requestedQueryCost": math.nan, "actualQueryCost": math.inf,
                           "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": math.nan,
                                              "restoreRate": 100}})
    assert nan == core.CostReport(None, None, None)
    ok = bulk.shopify._cost.cost_of({"cost": {"requestedQueryCost": 12, "actualQueryCost": 5,
                                             "throttleStatus": {"maximumAvailable": 2000.0,
                                                                "currentlyAvailable": 1995,
                                                                "restoreRate": 100.0}}})
    assert ok == core.CostReport(12.0, 5.0, core.ThrottleStatus(2000.0, 1995.0, 100.0))
    assert bulk.shopify._cost.cost_of({"cost": {"actualQueryCost": 5}}) is None
    report = core.CostReport(252.0, None, core.ThrottleStatus(2000, 52, 100))
    assert core.seconds_until_affordable(report) == 2.0


def test_choose_token_has_one_definition_that_admission_uses() -> None:
    source = inspect.getsource(bulk.scheduler._admission)
    assert "core.choose_token(" in source
    assert "core.wait_for(" not in source  # the choice is not computed a second time
    buckets = [core.Bucket(level=900, at=0.0), core.Bucket(level=100, at=0.0), core.Bucket(level=500, at=0.0)]
    assert core.choose_token(buckets, 10, 0, 0.0) == (0, 0.0)
    assert core.choose_token(buckets, 10, [0, 0, 0], 0.0, only=2) == (2, 0.0)
    assert core.choose_token(buckets, 200, [0, 0, 0], 0.0, only=1) == (1, 1.0)


# -- a refused token, in the pure scheduler ----------------------------------------------------------


def test_a_refused_token_is_never_chosen_while_another_can_pay() -> None:
    refused = core.sync(core.Bucket(level=2000, at=0.0), core.REFUSED, 0.0)
    assert core.refused(refused) and not core.refused(core.Bucket())
    assert core.wait_for(refused, 1, 0, 100.0) == math.inf
    buckets = [refused, core.Bucket(level=0, at=0.0)]
    assert core.choose_token(buckets, 10, 0, 0.0) == (1, 0.1)


def test_admission_takes_a_refused_token_out_and_refuses_when_none_is_left() -> None:
    state = State(config=SchedulerConfig(token_count=2, max_in_flight=4))
    first = state.acquire("c", "w1", 10, int(Lane.URGENT), 0.0)
    assert isinstance(first, Granted)
    state.release("c", first.permit, first.token, core.refused_report(), False, 0.0)
    for n in range(3):
        again = state.acquire("c", f"w{n + 2}", 10, int(Lane.URGENT), 0.0)
        assert isinstance(again, Granted) and again.token != first.token
        state.release("c", again.permit, again.token, None, False, 0.0)
    other = 1 - first.token
    last = state.acquire("c", "wx", 10, int(Lane.URGENT), 0.0)
    assert isinstance(last, Granted) and last.token == other
    state.release("c", last.permit, last.token, core.refused_report(), False, 0.0)
    none = state.acquire("c", "wy", 10, int(Lane.URGENT), 0.0)
    assert isinstance(none, Wait) and none.reason == OVER_CAPACITY


# -- staged uploads ------------------------------------------------------------------------------------


def _policy(conditions: list[Any]) -> str:
    document = {"expiration": "2026-12-06T09:00:00Z", "conditions": conditions}
    return base64.b64encode(orjson.dumps(document)).decode()


def test_size_limit_reads_content_length_range_from_the_signed_policy() -> None:
    parameters = [
        {"name": "Content-Type", "value": "text/jsonl"},
        {"name": "success_action_status", "value": "201"},
        {"name": "key", "value": "tmp/gid://shopify/StagedUploadTarget/1/bulk.jsonl"},
        {"name": "policy", "value": _policy([{"bucket": "shopify-staged-uploads"},
                                             ["content-length-range", 1, 20971520],
                                             {"Content-Type": "text/jsonl"}])},
    ]
    assert staged.size_limit(parameters) == (1, 20971520)
    assert staged.size_limit(parameters[:3]) is None  # no policy
    assert staged.size_limit([{"name": "policy", "value": _policy([{"acl": "private"}])}]) is None
    assert staged.size_limit([{"name": "policy", "value": "not base64 !"}]) is None
    urlsafe = _policy([["content-length-range", 0, 1000]]).replace("+", "-").replace("/", "_").rstrip("=")
    assert staged.size_limit([{"name": "policy", "value": urlsafe}]) == (0, 1000)


ENTITY_TOO_LARGE = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>EntityTooLarge</Code>"
    b"<Message>Your proposed upload is larger than the maximum object size specified in your Policy "
    b"Document.</Message><Details>Content-length exceeds upper bound on range</Details></Error>"
)


def test_entity_too_large_xml_is_parsed_into_the_error() -> None:
    error = staged.storage_error(400, ENTITY_TOO_LARGE, max_bytes=20971520, token_index=1)
    assert error.code == "EntityTooLarge"
    assert error.storage_message is not None and error.storage_message.startswith("Your proposed upload")
    assert error.status == 400 and error.max_bytes == 20971520
    assert "EntityTooLarge: Your proposed upload" in str(error) and "20971520" in str(error)
    assert action_for(error) is Action.FAIL_UPLOAD
    namespaced = staged.storage_error(
        403, b'<Error xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Code>AccessDenied</Code>'
             b"<Message>Invalid according to Policy: Policy expired.</Message></Error>")
    assert namespaced.code == "AccessDenied" and namespaced.storage_message == (
        "Invalid according to Policy: Policy expired.")
    plain = staged.storage_error(400, b"Bad   request")
    assert plain.code is None and plain.storage_message == "Bad request"


async def test_opening_a_transport_prepares_every_shipped_document_off_the_loop(monkeypatch: Any) -> None:
    # Parsing and printing a document at its first send sat on the event loop (75-100 ms for the
    # urgent lane's first burst on a busy box): an open transport has done it, in a worker thread.
    from bulk.shopify import documents, transport

    printed_in: list[str] = []
    real_print = graphql.print_ast

    def noting_print(node: Any) -> str:
        printed_in.append(threading.current_thread().name)
        return real_print(node)

    monkeypatch.setattr(transport, "print_ast", noting_print)
    transport._printed.cache_clear()
    async with transport.Transport("http://127.0.0.1:9/admin/api/2026-04/graphql.json", ["t"]):
        assert len(printed_in) == len(documents.all_documents())
        assert threading.current_thread().name not in printed_in
        transport._printed(documents.document(documents.INVENTORY_SET_QUANTITIES))  # a send's lookup
        assert len(printed_in) == len(documents.all_documents())  # nothing printed again
