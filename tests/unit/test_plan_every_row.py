"""Planning gives every row its one outcome: rows with nothing to change, image continuation rows, and
rows whose price was refused while their other changes go (issue 15, part 4)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from bulk.catalog import CatalogStore
from bulk.ingest import read_updates
from bulk.models import DescriptionUpdate, ImageUpdate, OutcomeStatus, ProductRef, RowError, RowNote, Source
from bulk.plan.stream import StreamPlanner

CSV = (
    "Handle,Title,Body (HTML),Variant SKU,Variant Price,Image Src,Variant Inventory Tracker,"
    "Variant Inventory Qty\n"
    "p-1,One,<p>new</p>,,12.00,https://cdn.example/a.png,,3\n"  # no SKU: price refused; body + image go
    "p-1,,,,,https://cdn.example/b.png,,\n"  # continuation: one more image
    "p-1,,,,,https://cdn.example/c.png,,\n"
    "p-2,Two,,,,,,0\n"  # nothing this tool changes (untracked quantity)
)


@pytest.fixture
def catalog() -> Iterator[CatalogStore]:
    with CatalogStore(":memory:") as store:
        store.load_export([{"id": f"gid://shopify/Product/{p}", "handle": f"p-{p}",
                            "updatedAt": "2026-01-01"} for p in (1, 2)])
        yield store


def read(notes: bool) -> list[object]:
    with read_updates(io.BytesIO(CSV.encode()), name="s.csv", format="csv", notes=notes) as reader:
        return list(reader)


def test_notes_are_asked_for_and_images_name_every_row_they_came_from() -> None:
    assert not any(isinstance(i, RowNote) for i in read(notes=False))  # plain readers are unchanged
    items = read(notes=True)
    notes = [(i.line, i.reason) for i in items if isinstance(i, RowNote)]
    assert notes == [(5, "nothing to change on this row")]
    (images,) = [i for i in items if isinstance(i, ImageUpdate)]
    assert (images.source.line, images.more_lines) == (2, (3, 4))


def test_every_row_gets_one_outcome_from_the_plan(catalog: CatalogStore) -> None:
    part = StreamPlanner(catalog).plan_chunk(read(notes=True))  # type: ignore[arg-type]
    decided = {o.row[1]: (o.status, o.reason) for o in [*part.rejected, *part.nothing, *part.plan.outcomes]}
    assert decided[5] == (OutcomeStatus.UNCHANGED, "nothing to change on this row")
    status, reason = decided[2]
    assert status is OutcomeStatus.REJECTED and reason.endswith("; the row's other changes are still sent")
    # one productUpdate with the description and the three images: the image rows share its outcome
    ((kind, rows, variables),) = [(ln.kind, ln.rows, ln.variables) for ln in part.plan.lines]
    assert kind == "media" and [n for _, n in rows] == [2, 3, 4]  # productUpdate that adds images
    assert variables["product"]["descriptionHtml"] == "<p>new</p>" and len(variables["media"]) == 3


def test_a_refused_part_is_marked_only_when_the_row_sends_something_else(catalog: CatalogStore) -> None:
    error = RowError(file="s.csv", line=7, column="Variant SKU", reason="no SKU or variant ID on this row")
    body = DescriptionUpdate(source=Source(file="s.csv", line=8), product=ProductRef(handle="p-1"),
                             description_html="<p>x</p>")
    part = StreamPlanner(catalog).plan_chunk([error, body])
    ((row, status, reason),) = [(o.row, o.status, o.reason) for o in part.rejected]
    assert row == ("s.csv", 7) and status is OutcomeStatus.REJECTED
    assert reason == "column Variant SKU: no SKU or variant ID on this row"  # another row's body: no mark
