"""A SQL query as a source: rows streamed from a real PostgreSQL through a server-side cursor."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from bulk.cli import main
from bulk.models import PriceUpdate, RowError
from bulk.sources.sql import sql_source


@pytest.mark.postgres
async def test_rows_arrive_in_batches_as_updates_and_row_errors(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("create table new_prices (sku text, price numeric(12, 2), compare_at_price text)")
        with conn.cursor().copy("copy new_prices (sku, price) from stdin") as copy:
            for n in range(1, 12_001):
                copy.write_row((f"SKU-{n:07d}-0", Decimal(n % 90 + 10)))
        conn.execute("insert into new_prices values ('SKU-BAD', -1, null), (null, 5, null)")
    batches = [b async for b in sql_source(database_url, "select * from new_prices", label="prices",
                                           batch_rows=5000)]
    assert [len(b) for b in batches] == [5000, 5000, 2002]  # streamed a fetch at a time
    items = [i for b in batches for i in b]
    updates = [i for i in items if isinstance(i, PriceUpdate)]
    errors = [i for i in items if isinstance(i, RowError)]
    assert len(updates) == 12_000
    assert updates[0].variant.sku == "SKU-0000001-0" and updates[0].price == Decimal("11.00")
    assert updates[0].source.file == "sql:prices" and updates[0].source.line == 1
    assert {(e.file, e.line) for e in errors} == {("sql:prices", 12_001), ("sql:prices", 12_002)}


@pytest.mark.postgres
async def test_a_bad_query_is_an_error_naming_it(database_url: str) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable):
        async for _ in sql_source(database_url, "select * from nowhere"):
            pass


@pytest.mark.postgres
def test_bulk_submit_from_sql_applies_the_rows(database_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("create table repricing (sku text, price numeric(12, 2))")
        conn.execute("insert into repricing select 'SKU-' || lpad(p::text, 7, '0') || '-0', 150 + p % 7 "
                     "from generate_series(1, 300) as p")
    code = main(["submit", "--from-sql", "select sku, price from repricing", "--sql-url", database_url,
                 "--shop", "sim://", "--report", str(tmp_path / "report.csv"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["summary"] == {"applied": 300, "unchanged": 0, "rejected": 0, "rows": 300}
    assert (tmp_path / "report.csv").read_text().splitlines()[1] == "sql:query,1,applied,"


def test_bulk_submit_needs_a_file_or_a_query(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "--shop", "sim://"]) == 2
    assert "give a FILE (or several), or --from-sql QUERY (not both)" in capsys.readouterr().err
