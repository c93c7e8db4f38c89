"""A SQL query as a source of updates (``bulk submit --from-sql``): rows streamed, never all loaded.

The query runs on a server-side cursor (psycopg's named cursor), fetched ``batch_rows`` at a time, so a
query over millions of rows holds one batch in memory and the planner starts on the first batch while
the database is still producing the next. Columns are named like the ``simple`` CSV dialect
(``sku, price, compare_at_price``, ``handle, description_html``, …, plus an optional ``kind``); each row
is validated exactly like a JSONL line and reported as ``sql:LABEL:ROW``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
from psycopg.rows import dict_row

from bulk.ingest.jsonl_reader import update_from_mapping
from bulk.models import RowError, Update


async def sql_source(
    url: str,
    query: str,
    *,
    label: str = "query",
    kind: str | None = "price",
    location: str | None = None,
    batch_rows: int = 5000,
) -> AsyncIterator[list[Update | RowError]]:
    """Yield the query's rows as batches of updates / row errors (a batch boundary per fetch)."""
    file = f"sql:{label}"
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.cursor(
        name="bulk_source", row_factory=dict_row
    ) as cursor:
        await cursor.execute(query)
        row_number = 0
        while rows := await cursor.fetchmany(batch_rows):
            batch: list[Update | RowError] = []
            for row in rows:
                row_number += 1
                record = {k: v for k, v in row.items() if v is not None}
                batch += update_from_mapping(record, file=file, line=row_number, default_kind=kind,
                                             location=location)
            yield batch
