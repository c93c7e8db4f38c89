"""The simulator's fault specs and decisions, without HTTP: the grammar, the order and replay of
decisions, and the staged-upload policy (the HTTP side is tests/integration/test_sim_faults.py)."""

from __future__ import annotations

import base64
import json

import pytest

from bulk.errors import ConfigError
from bulk.sim import SimConfig, parse_sim_url
from bulk.sim._fault_schedule import FaultSchedule
from bulk.sim._fault_specs import parse_fault, parse_faults
from bulk.sim._storage import UploadPolicy, content_length_range, decode_policy


def schedule(*texts: str, seed: int = 0) -> FaultSchedule:
    return FaultSchedule(parse_faults(texts, tokens=3), seed=seed)


# -- grammar --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ise:rate=0.02", {"kind": "ise", "rate": 0.02, "at": 0.0, "duration": None}),
        ("5xx:at=10,for=3", {"kind": "5xx", "rate": None, "at": 10.0, "duration": 3.0, "status": 503}),
        ("5xx:at=1,for=2,status=500,token=2", {"status": 500, "token": 2}),
        ("hang:rate=0.01,hold=30", {"kind": "hang", "rate": 0.01, "hold": 30.0}),
        ("hang:at=5", {"hold": None, "at": 5.0, "duration": None}),
        ("429:rate=0.05,retry_after=2", {"kind": "429", "retry_after": 2.0}),
        ("throttle:at=10,for=30,token=1", {"kind": "throttle", "at": 10.0, "duration": 30.0, "token": 1}),
        ("revoke:token=1,at=20", {"kind": "revoke", "token": 1, "at": 20.0, "after": None}),
        ("revoke:token=0,after=7", {"token": 0, "after": 7}),
        ("frozen:at=5", {"kind": "frozen", "at": 5.0}),
        ("locked", {"kind": "locked", "at": 0.0}),
        ("notfound:at=0,for=4", {"kind": "notfound", "duration": 4.0}),
        ("upload_limit:bytes=1000000", {"kind": "upload_limit", "bytes": 1_000_000}),
        ("limit_style:in_progress", {"style": "in_progress", "slots": None}),
        ("LIMIT_STYLE:limit_reached,slots=2", {"style": "limit_reached", "slots": 2}),
    ],
)
def test_specs_parse(text: str, expected: dict[str, object]) -> None:
    spec = parse_fault(text, tokens=3)
    assert {key: getattr(spec, key) for key in expected} == expected
    assert spec.text == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("boom", "unknown kind 'boom'"),
        ("ise", "ise needs rate=P or a window"),
        ("ise:rate=1.5", "rate must be > 0 and <= 1"),
        ("ise:rate=0", "rate must be > 0"),
        ("5xx:at=x", "at='x' is not a number"),
        ("5xx:at=1,for=0", "for must be > 0"),
        ("5xx:rate=0.1,status=404", "status must be one of 500, 502, 503, 504"),
        ("hang:rate=0.1,retry_after=2", "hang takes no 'retry_after'"),
        ("revoke:at=3", "revoke needs token=I"),
        ("revoke:token=3", "token=3, but the shop has 3 tokens"),
        ("revoke:token=1,at=2,after=3", "give at=T or after=N, not both"),
        ("revoke:token=-1", "token must be >= 0"),
        ("frozen:at=1,at=2", "'at' given twice"),
        ("upload_limit", "upload_limit needs bytes=N"),
        ("upload_limit:bytes=200000000", "may only lower the limit"),
        ("limit_style:sometimes", "limit_style takes one of limit_reached, in_progress"),
        ("429:rate", "expected key=value, got 'rate'"),
        ("ise:rate=0.1,,at=2", "an empty item between commas"),
    ],
)
def test_bad_specs_are_config_errors_naming_the_spec(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_fault(text, tokens=3)
    assert f"fault spec {text!r}" in str(caught.value)
    assert why in str(caught.value)


def test_upload_limit_and_limit_style_are_given_once() -> None:
    with pytest.raises(ConfigError, match="upload_limit may be given only once"):
        parse_faults(["upload_limit:bytes=10", "upload_limit:bytes=20"])


def test_sim_url_and_config_carry_repeated_fault_specs() -> None:
    config = parse_sim_url("sim://?products=3&fault=5xx:at=10,for=3&fault=revoke:token=1,at=20")
    assert config.faults == ("5xx:at=10,for=3", "revoke:token=1,at=20")
    assert [s.kind for s in config.fault_specs] == ["5xx", "revoke"]
    with pytest.raises(ConfigError, match="fault spec 'revoke:token=1'"):
        SimConfig(tokens=("only-one",), faults=("revoke:token=1",))
    assert SimConfig(faults="ise:rate=1").faults == ("ise:rate=1",)  # one spec, not its characters
    with pytest.raises(ConfigError, match="fault spec 'nope'"):
        parse_sim_url("sim://?fault=nope")


# -- decisions ------------------------------------------------------------------------------------


def test_a_window_hits_every_token_inside_it_only() -> None:
    plan = schedule("5xx:at=10,for=3")
    assert plan.decide(0, 9.99).kind == "none"
    assert [plan.decide(t, 10.0).status for t in range(3)] == [503, 503, 503]
    assert plan.decide(1, 12.99).status == 503
    assert plan.decide(1, 13.0).kind == "none"


def test_503_is_refused_before_running_other_5xx_and_ise_ran_first() -> None:
    refused = schedule("5xx:at=0").decide(0, 1.0)
    assert (refused.runs, refused.after_run, refused.body) == (False, False, refused.body)
    ran = schedule("5xx:at=0,status=504").decide(0, 1.0)
    assert (ran.status, ran.runs, ran.after_run) == (504, True, True)
    ise = schedule("ise:at=0").decide(0, 1.0)
    assert (ise.status, ise.runs, ise.after_run) == (200, True, True)
    assert ise.body is not None and ise.request_id is not None
    (error,) = ise.body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": ise.request_id}
    assert f"Request ID: {ise.request_id} (include this in support requests)." in error["message"]
    assert "data" not in ise.body


def test_rates_are_seeded_and_replay() -> None:
    a, b, c = (schedule("ise:rate=0.1", "429:rate=0.05", seed=s) for s in (7, 7, 8))
    runs = [[p.decide(i % 3, float(i)).kind for i in range(3000)] for p in (a, b, c)]
    assert runs[0] == runs[1]  # same seed, same decisions
    assert runs[0] != runs[2]
    assert runs[0].count("429") / 3000 == pytest.approx(0.05, abs=0.015)
    assert runs[0].count("ise") / 3000 == pytest.approx(0.95 * 0.1, abs=0.02)  # drawn after 429


def test_throttle_drains_and_lets_the_request_meet_the_bucket() -> None:
    plan = schedule("throttle:at=0,for=30", "429:at=20,for=1")
    decision = plan.decide(0, 5.0)
    assert (decision.kind, decision.drain, decision.runs, decision.after_run) == (
        "throttle",
        True,
        True,
        False,
    )
    assert plan.decide(0, 20.5).kind == "429"  # a 429 answers before the bucket is reached
    assert plan.decide(0, 30.0).kind == "none"


def test_token_filter_and_429_header() -> None:
    plan = schedule("429:at=0,token=2,retry_after=1.5")
    assert plan.decide(0, 1.0).kind == "none"
    decision = plan.decide(2, 1.0)
    assert (decision.status, decision.headers, decision.runs) == (429, {"Retry-After": "1.5"}, False)


def test_revoke_at_a_time_or_after_n_requests_is_forever() -> None:
    plan = schedule("revoke:token=1,at=20", "revoke:token=2,after=2")
    assert plan.decide(1, 19.9).kind == "none"
    assert [plan.decide(1, t).status for t in (20.0, 500.0, 1e6)] == [401, 401, 401]
    assert plan.decide(0, 1e6).kind == "none"
    assert [plan.decide(2, 0.0).kind for _ in range(4)] == ["none", "none", "revoke", "revoke"]


def test_shop_wide_refusals_come_first_in_their_order() -> None:
    plan = schedule("locked:at=5", "frozen:at=7", "notfound:at=9,for=1", "revoke:token=0")
    assert plan.shop_wide(4.9) is None
    assert [plan.shop_wide(t).status for t in (5.0, 7.0, 9.0, 10.0)] == [423, 402, 404, 402]  # type: ignore[union-attr]
    assert plan.shop_wide(7.0).body == {"errors": "Unavailable Shop"}  # type: ignore[union-attr]
    assert plan.shop_wide(5.0).body == {"errors": "This store is unavailable"}  # type: ignore[union-attr]


def test_a_hang_holds_then_the_other_faults_still_apply() -> None:
    plan = schedule("hang:at=0,hold=30", "429:at=5")
    held = plan.decide(0, 1.0)
    assert (held.kind, held.hold, held.hold_s, held.runs) == ("hang", True, 30.0, True)
    both = plan.decide(0, 6.0)
    assert (both.kind, both.hold, both.status) == ("429", True, 429)


def test_no_specs_no_faults() -> None:
    plan = FaultSchedule(parse_faults(["upload_limit:bytes=5"]))
    assert not plan.active
    assert plan.decide(0, 0.0).kind == "none" and plan.shop_wide(0.0) is None


# -- the staged-upload policy ---------------------------------------------------------------------


def test_policy_carries_the_content_length_range_and_checks_the_form() -> None:
    policy = UploadPolicy(1000, secret=b"k")
    params = policy.parameters([("key", "tmp/a"), ("acl", "private")], expires="2026-12-13T00:00:00Z")
    form = {p["name"]: p["value"] for p in params}
    document = decode_policy(form["policy"])
    assert document is not None
    assert ["content-length-range", 0, 1000] in document["conditions"]
    assert {"key": "tmp/a"} in document["conditions"]
    assert content_length_range(document) == (0, 1000)
    assert policy.limit(form) == (0, 1000)
    policy.max_bytes = 10  # a later change does not alter a policy already signed
    assert policy.limit(form) == (0, 1000)
    assert policy.limit({}) == (0, 10)  # no policy: the shop's maximum


def test_a_tampered_policy_or_form_is_refused() -> None:
    policy = UploadPolicy(1000, secret=b"k")
    form = {p["name"]: p["value"] for p in policy.parameters([("key", "tmp/a")], expires="x")}
    document = decode_policy(form["policy"])
    assert document is not None
    document["conditions"][-1] = ["content-length-range", 0, 10**9]
    forged = base64.b64encode(json.dumps(document).encode()).decode()
    refused = policy.limit({**form, "policy": forged})
    assert not isinstance(refused, tuple) and (refused.status, refused.code) == (403, "SignatureDoesNotMatch")
    moved = policy.limit({**form, "key": "tmp/other"})
    assert not isinstance(moved, tuple) and (moved.status, moved.code) == (403, "AccessDenied")
    assert '["eq", "$key", "tmp/a"]' in moved.message
