"""A SQL query as a source: rows streamed from a real PostgreSQL through a server-side cursor."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from bulk.models import PriceUpdate, RowError
from bulk.sources_sql import sql_source


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
