"""Descriptions and image sets planned against the catalog: what is sent, what is unchanged, the undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulk.catalog import CatalogStore
from bulk.catalog.media import source_key
from bulk.ingest import read_updates
from bulk.models import DescriptionUpdate, Image, ImageUpdate, OutcomeStatus, ProductRef, Source
from bulk.plan import Coalescer, PlannedLine, build_plan, line_cost
from bulk.plan.diff import Overlay, Plan
from bulk.submit.report import write_undo

P1 = "gid://shopify/Product/1"


def export(media: list[dict[str, Any]], html: str = "<p>Old</p>") -> list[dict[str, Any]]:
    """Product 1 with this description and these images (as export lines)."""
    lines: list[dict[str, Any]] = [{"id": P1, "handle": "one", "descriptionHtml": html}]
    for i, m in enumerate(media):
        lines.append({"id": f"gid://shopify/MediaImage/{i + 1}", "__parentId": P1, "status": "READY",
                      "alt": m.get("alt", ""), "originalSource": {"url": m["url"]}, **m})
    return lines


@pytest.fixture
def catalog() -> Iterator[CatalogStore]:
    with CatalogStore(":memory:") as store:
        store.load_export(export([{"url": "https://img.example/a.jpg", "alt": "A"},
                                  {"url": "https://img.example/b.jpg", "alt": "B"}]))
        yield store


def images(line: int, mode: str, *urls: str, alt: str = "", alts: tuple[str, ...] = ()) -> ImageUpdate:
    given = tuple(Image(url=u, alt=alts[i] if alts else alt) for i, u in enumerate(urls))
    return ImageUpdate(source=Source(file="i.csv", line=line), product=ProductRef(handle="one"),
                       images=given, mode=mode)  # type: ignore[arg-type]


def plan_of(catalog: CatalogStore, *updates: Any, overlay: Overlay | None = None) -> Plan:
    c = Coalescer()
    for u in updates:
        c.add(u)
    return build_plan(c, catalog, overlay)


def statuses(plan: Plan) -> dict[int, OutcomeStatus]:
    return {o.row[1]: o.status for o in plan.outcomes}


def test_a_description_the_shop_has_is_unchanged_a_new_one_sent_with_undo(catalog: CatalogStore) -> None:
    same = DescriptionUpdate(source=Source(file="d", line=1), product=ProductRef(handle="one"),
                             description_html="<p>Old</p>")
    new = DescriptionUpdate(source=Source(file="d", line=2), product=ProductRef(product_id=P1),
                            description_html="<p>New</p>")
    assert statuses(plan_of(catalog, same)) == {1: OutcomeStatus.UNCHANGED}
    assert not plan_of(catalog, same).lines
    plan = plan_of(catalog, new)
    (line,) = plan.lines
    assert line.variables == {"product": {"id": P1, "descriptionHtml": "<p>New</p>"}}
    assert plan.undo == [{"kind": "description", "productId": P1, "descriptionHtml": "<p>Old</p>"}]


def test_append_adds_only_the_sources_the_product_lacks(catalog: CatalogStore) -> None:
    # https://IMG.EXAMPLE:443/a.jpg#x is a.jpg (normalised); its alt is not compared
    plan = plan_of(catalog, images(1, "append", "https://IMG.EXAMPLE:443/a.jpg#x", "https://img.example/c.jpg",
                                   alt="other"))
    (line,) = plan.lines
    assert line.kind == "media"  # productUpdate(media:), whose bulk answer names the media
    assert [m["originalSource"] for m in line.variables["media"]] == ["https://img.example/c.jpg"]
    assert line.media_rows == (("i.csv", 1),)
    assert plan.undo == [{"kind": "image", "productId": P1, "mode": "replace",
                          "images": [{"url": "https://img.example/a.jpg", "alt": "A"},
                                     {"url": "https://img.example/b.jpg", "alt": "B"}]}]
    again = plan_of(catalog, images(1, "append", "https://img.example/b.jpg"))
    assert not again.lines and statuses(again) == {1: OutcomeStatus.UNCHANGED}


def test_a_failed_image_counts_as_absent() -> None:
    with CatalogStore(":memory:") as store:
        store.load_export(export([{"url": "https://img.example/a.jpg", "status": "FAILED",
                                   "mediaErrors": [{"code": "IMAGE_DOWNLOAD_FAILURE"}]}]))
        (line,) = plan_of(store, images(1, "append", "https://img.example/a.jpg")).lines
        assert line.variables["media"][0]["originalSource"] == "https://img.example/a.jpg"
        (line,) = plan_of(store, images(1, "replace", "https://img.example/a.jpg")).lines
        assert line.variables["input"]["files"][0]["originalSource"] == "https://img.example/a.jpg"


def test_replace_keeps_images_by_id_adds_new_ones_in_order_costs_per_file(catalog: CatalogStore) -> None:
    plan = plan_of(catalog, images(4, "replace", "https://img.example/c.jpg", "https://img.example/a.jpg",
                                   alt="A2"))
    (line,) = plan.lines
    assert line.kind == "set"
    assert line.variables == {"identifier": {"id": P1}, "input": {"files": [
        {"originalSource": "https://img.example/c.jpg", "alt": "A2", "contentType": "IMAGE"},
        {"id": "gid://shopify/MediaImage/1", "alt": "A2"}]}}
    assert line_cost(line) == 14  # 10 + 1.9 x 2, rounded up
    full = PlannedLine("set", {"identifier": {"id": P1}, "input": {"files": [{}] * 250}}, ())
    assert line_cost(full) == 485


def test_replace_with_what_the_product_has_is_unchanged_not_with_other_alts(catalog: CatalogStore) -> None:
    a, b = "https://img.example/a.jpg", "https://img.example/b.jpg"
    same = plan_of(catalog, images(1, "replace", a, b, alts=("A", "B")))
    assert not same.lines and statuses(same) == {1: OutcomeStatus.UNCHANGED}
    reordered = plan_of(catalog, images(1, "replace", b, a, alts=("B", "A")))
    assert [f["id"] for f in reordered.lines[0].variables["input"]["files"]] == [
        "gid://shopify/MediaImage/2", "gid://shopify/MediaImage/1"]
    (line,) = plan_of(catalog, images(1, "replace", a, b, alts=("A", "new alt"))).lines
    assert line.variables["input"]["files"][1] == {"id": "gid://shopify/MediaImage/2", "alt": "new alt"}


def test_description_and_replace_of_one_product_are_one_product_set(catalog: CatalogStore) -> None:
    desc = DescriptionUpdate(source=Source(file="i.csv", line=1), product=ProductRef(handle="one"),
                             description_html="<p>New</p>")
    (line,) = plan_of(catalog, desc, images(1, "replace", "https://img.example/z.jpg")).lines
    assert line.kind == "set" and line.variables["input"]["descriptionHtml"] == "<p>New</p>"
    assert line.rows == (("i.csv", 1),)


def test_a_row_with_the_same_description_and_new_images_has_one_outcome(catalog: CatalogStore) -> None:
    desc = DescriptionUpdate(source=Source(file="i.csv", line=1), product=ProductRef(handle="one"),
                             description_html="<p>Old</p>")
    plan = plan_of(catalog, desc, images(1, "append", "https://img.example/new.jpg"))
    assert [line.rows for line in plan.lines] == [(("i.csv", 1),)]
    assert plan.outcomes == []  # sent, so not also unchanged


def test_a_later_chunk_compares_with_what_an_earlier_chunk_planned(catalog: CatalogStore) -> None:
    overlay = Overlay()
    first = plan_of(catalog, images(1, "append", "https://img.example/c.jpg"), overlay=overlay)
    second = plan_of(catalog, images(9, "append", "https://img.example/c.jpg"), overlay=overlay)
    assert len(first.lines) == 1 and not second.lines
    assert len(first.undo) == 1 and not second.undo  # the undo keeps the shop's value from before the run


def test_re_export_replaces_a_products_media_and_remembered_sources_win(catalog: CatalogStore) -> None:
    catalog.load_export(export([{"url": "https://signed.cdn/x?sig=1", "alt": "X"}]))
    catalog.content.remember_sources([("gid://shopify/MediaImage/1", "https://img.example/mine.jpg")])
    (shown,) = catalog.content.images([P1])[P1]
    assert (shown.media_id, shown.source, shown.alt) == ("gid://shopify/MediaImage/1",
                                                       "https://img.example/mine.jpg", "X")
    assert not plan_of(catalog, images(1, "append", "https://img.example/mine.jpg")).lines


def test_source_key_normalises_only_what_does_not_change_the_image() -> None:
    assert source_key("HTTPS://Img.Example:443/A.jpg?v=2#top") == "https://img.example/A.jpg?v=2"
    assert source_key("http://img.example:8080/a.jpg") == "http://img.example:8080/a.jpg"
    assert source_key("https://img.example/a.jpg?v=1") != source_key("https://img.example/a.jpg?v=2")


def test_the_undo_file_restores_descriptions_and_image_sets(catalog: CatalogStore, tmp_path: Path) -> None:
    desc = DescriptionUpdate(source=Source(file="i.csv", line=1), product=ProductRef(handle="one"),
                             description_html="<p>New</p>")
    plan = plan_of(catalog, desc, images(1, "append", "https://img.example/new.jpg"))
    undo = tmp_path / "x.undo.jsonl"
    assert write_undo(undo, plan.undo) == 2
    restored = list(read_updates(undo))
    assert restored[0] == DescriptionUpdate(source=Source(file=str(undo), line=1),
                                            product=ProductRef(product_id=P1), description_html="<p>Old</p>")
    assert isinstance(restored[1], ImageUpdate) and restored[1].mode == "replace"
    assert [(i.url, i.alt) for i in restored[1].images] == [("https://img.example/a.jpg", "A"),
                                                            ("https://img.example/b.jpg", "B")]


def test_an_image_matches_the_url_of_its_processed_image_as_shopifys_csv_export_shows_it() -> None:
    shown = "https://cdn.shopify.com/s/files/1/products/a.jpg?v=17"
    with CatalogStore(":memory:") as store:
        store.load_export(export([{"url": "https://signed.example/a?sig=x", "alt": "A",
                                   "image": {"url": shown}}]))
        assert not plan_of(store, images(1, "append", shown)).lines
        same = plan_of(store, images(1, "replace", shown, alt="A"))
        assert not same.lines and statuses(same) == {1: OutcomeStatus.UNCHANGED}
        new_first = images(1, "replace", "https://img.example/new.jpg", shown, alts=("N", "A"))
        (line,) = plan_of(store, new_first).lines
        assert line.variables["input"]["files"][1] == {"id": "gid://shopify/MediaImage/1", "alt": "A"}
