"""The few GraphQL documents written inline, not as ``.graphql`` files (a benchmark's load, the chaos
worker's probe, ``bulk sim --demo``), are valid against the real 2026-04 Admin schema too: every
document the project sends is (``test_documents.py`` covers the files)."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from bench import scheduler as bench_scheduler
from bench import sim as bench_sim
from bulk.cli import _sim as sim_cli
from bulk.scheduler import _chaos_worker
from tests.unit.test_documents import _schema

INLINE = {
    "bench/scheduler.py MUTATION": bench_scheduler.MUTATION,
    "bench/sim.py MUTATION": bench_sim.MUTATION,
    "bulk/scheduler/_chaos_worker.py QUERY": _chaos_worker.QUERY,
    "bulk/cli/_sim.py DEMO_QUERY": sim_cli.DEMO_QUERY,
    "bulk/cli/_sim.py DEMO_MUTATION": sim_cli.DEMO_MUTATION,
    "bulk/cli/_sim.py DEMO_BURST": sim_cli.DEMO_BURST,
}


@pytest.mark.parametrize("name", sorted(INLINE))
def test_an_inline_document_is_valid_against_the_admin_schema(name: str) -> None:
    errors = validate(_schema(), parse(INLINE[name]))
    assert not errors, "\n".join(str(e) for e in errors)


def test_an_invalid_inline_document_would_be_caught() -> None:
    assert validate(_schema(), parse("{ shop { noSuchField } }"))
