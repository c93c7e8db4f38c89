"""The journal's pure rules: run transitions, record checks, SQL files, schema versions, locations."""

from __future__ import annotations

import pytest

from bulk.errors import ConfigError, JournalError
from bulk.journal import NewUnit, Outcome, OutcomeStatus, RunStatus, UnitKind
from bulk.journal._records import check_run_transition, scrub_secrets
from bulk.journal.locations import default_sqlite_path, mask, parse_location
from bulk.journal.migrations import check_version, latest_version, migrations, parse_queries, pending, queries


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (RunStatus.PLANNING, RunStatus.RUNNING),
        (RunStatus.RUNNING, RunStatus.DONE),
        (RunStatus.RUNNING, RunStatus.FAILED),
        (RunStatus.FAILED, RunStatus.RUNNING),
        (RunStatus.FAILED, RunStatus.PLANNING),  # a failed or cancelled-by-the-operator run read again
        (RunStatus.RUNNING, RunStatus.CANCELLED),
        (RunStatus.DONE, RunStatus.DONE),
    ],
)
def test_allowed_run_transitions(old: RunStatus, new: RunStatus) -> None:
    check_run_transition(1, old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (RunStatus.DONE, RunStatus.RUNNING),
        (RunStatus.CANCELLED, RunStatus.RUNNING),
        (RunStatus.PLANNING, RunStatus.DONE),
        (RunStatus.DONE, RunStatus.FAILED),
    ],
)
def test_refused_run_transitions(old: RunStatus, new: RunStatus) -> None:
    with pytest.raises(JournalError, match=f"run 7: cannot go from {old.value} to {new.value}"):
        check_run_transition(7, old, new)


def test_a_rejected_outcome_must_say_why() -> None:
    with pytest.raises(JournalError, match=r"prices\.csv:4: a rejected outcome needs a reason"):
        Outcome("prices.csv", 4, OutcomeStatus.REJECTED)
    assert Outcome("prices.csv", 4, OutcomeStatus.REJECTED, reason="bad price").reason == "bad price"


def test_a_unit_has_exactly_one_payload() -> None:
    with pytest.raises(JournalError, match="exactly one of payload_path, payload"):
        NewUnit(UnitKind.BULK_SHARD, "u1", 3)
    with pytest.raises(JournalError, match="exactly one of payload_path, payload"):
        NewUnit(UnitKind.BULK_SHARD, "u1", 3, payload_path="/a.jsonl", payload=[1])
    with pytest.raises(JournalError, match="line_count"):
        NewUnit(UnitKind.BULK_SHARD, "u1", -1, payload_path="/a.jsonl")


def test_named_queries_are_split_and_must_be_unique() -> None:
    text = "-- name: one\nSELECT 1;\n\n-- name: two\n-- a comment\nSELECT 2\n"
    assert parse_queries(text) == {"one": "SELECT 1", "two": "-- a comment\nSELECT 2"}
    with pytest.raises(JournalError, match="duplicate journal query name 'one'"):
        parse_queries("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")


def test_both_backends_define_the_same_core_queries_and_migrations() -> None:
    core = {"claim", "heartbeat", "mark_submitted", "finish", "release", "outcomes_insert", "runs"}
    assert core <= set(queries("pg")) and core <= set(queries("sqlite"))
    assert queries("pg") is queries("pg")  # loaded once
    for backend in ("pg", "sqlite"):
        assert [m.version for m in migrations(backend)] == list(range(1, latest_version(backend) + 1))
        assert pending(backend, latest_version(backend)) == ()
        assert len(pending(backend, 0)) == latest_version(backend)


def test_an_old_or_newer_schema_gets_a_message_saying_what_to_do() -> None:
    with pytest.raises(JournalError, match=r"has no journal schema.*run `bulk db upgrade --database-url"):
        check_version("pg", 0, location="postgresql://u:***@db/bulk")
    with pytest.raises(JournalError, match="newer than this version of bulk"):
        check_version("pg", latest_version("pg") + 1, location="db")
    check_version("pg", latest_version("pg"), location="db")


def test_locations_tell_postgres_from_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_location("postgresql://u@h/db").backend == "pg"
    assert parse_location("postgres://u@h/db").backend == "pg"
    assert parse_location("sqlite:///var/lib/bulk/j.sqlite3").target == "/var/lib/bulk/j.sqlite3"
    assert parse_location("sqlite:///:memory:").target == ":memory:"
    assert parse_location("relative/j.sqlite3").target == "relative/j.sqlite3"
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    assert parse_location(None).target == "/data/bulk/journal.sqlite3" == str(default_sqlite_path())
    with pytest.raises(ConfigError, match="unsupported journal URL scheme 'mysql'"):
        parse_location("mysql://h/db")


def test_passwords_are_masked() -> None:
    assert mask("postgresql://bulk:hunter2@db:5432/bulk") == "postgresql://bulk:***@db:5432/bulk"
    assert (
        mask("postgresql://db/bulk?user=bulk&password=hunter2")
        == "postgresql://db/bulk?user=bulk&password=***"
    )
    assert mask("postgresql://bulk@db/bulk") == "postgresql://bulk@db/bulk"
    assert "hunter2" not in repr(parse_location("postgresql://bulk:hunter2@db/bulk"))


def test_secrets_in_run_options_are_never_stored() -> None:
    options = {
        "shop": "demo.myshopify.com",
        "tokens": 3,
        "token": "not-a-shopify-looking-token",
        "apps": [{"name": "a", "access_token": "abc"}, {"name": "b", "value": "shpat_0123456789abcdef"}],
        "proxy": "http://user:pw@proxy:3128",
        "image": "https://cdn.shopify.com/x.jpg?width=100&&v=2",
    }
    assert scrub_secrets(options) == {
        "shop": "demo.myshopify.com",
        "tokens": 3,
        "token": "***",
        "apps": [{"name": "a", "access_token": "***"}, {"name": "b", "value": "***"}],
        "proxy": "http://user:***@proxy:3128",
        "image": "https://cdn.shopify.com/x.jpg?width=100&&v=2",
    }
