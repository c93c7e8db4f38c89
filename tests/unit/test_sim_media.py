"""Product media in the simulated shop: processing on the shop's clock, unreachable sources,
append (``productUpdate``), replace (``productSet`` files, also in bulk), removal (``fileUpdate``),
descriptions, the bulk export, cost, and how a run picks its unreachable hosts."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bulk.cli._sim import config_from_args, register
from bulk.clock import ManualClock
from bulk.sim import SimConfig, SimShop, parse_sim_url
from bulk.sim._cost import CostCalculator
from bulk.sim._media import CDN_FILES, MEDIA_PROCESSING_S, MEDIA_UPLOADED_S, ORIGINALS, MediaTiming
from bulk.sim._operations import ShopState
from bulk.sim._schema import admin_schema, prepare
from tests.simshop_helpers import BULK_OPERATION, RUN_QUERY, SimExecutor, run_bulk_mutation

Shop = tuple[ShopState, SimExecutor, ManualClock]
P3 = "gid://shopify/Product/3"  # two base images: MediaImage/30 and /31
BAD_HOST = "broken.example"

MEDIA = """query($p: ID!) { product(id: $p) { descriptionHtml media(first: 20) { nodes {
  id status alt mediaContentType preview { image { url } status }
  ... on MediaImage { image { url } originalSource { url } }
  mediaErrors { code details message } } } } }"""
APPEND = """mutation($product: ProductUpdateInput!, $media: [CreateMediaInput!]) {
  productUpdate(product: $product, media: $media) { product { id } userErrors { field message } } }"""
SET = """mutation($id: ID!, $input: ProductSetInput!) {
  productSet(identifier: {id: $id}, input: $input) {
    product { id media(first: 20) { nodes { id alt } } } userErrors { field message code } } }"""
SET_BULK = """mutation($identifier: ProductSetIdentifiers, $input: ProductSetInput!) {
  productSet(identifier: $identifier, input: $input) { product { id } userErrors { field message code } } }"""
FILE_UPDATE = """mutation($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) {
    files { id ... on MediaImage { status } } userErrors { field message code } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on MediaImage { status alt } } }"


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = ManualClock()
    timing = MediaTiming(unreachable_hosts=frozenset({BAD_HOST}))
    state = ShopState(products=20, clock=clock, media_timing=timing)
    try:
        yield state, SimExecutor(state), clock
    finally:
        await state.aclose()


def image(url: str, alt: str | None = None) -> dict[str, Any]:
    return {"originalSource": url, "alt": alt, "mediaContentType": "IMAGE"}


async def media(ex: SimExecutor, p: str = P3) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = (await ex.run(MEDIA, {"p": p}))["product"]["media"]["nodes"]
    return nodes


async def test_added_image_goes_uploaded_processing_ready_on_the_shops_clock(shop: Shop) -> None:
    _state, ex, clock = shop
    url = "https://img.example/new.jpg"
    await ex.run(APPEND, {"product": {"id": P3}, "media": [image(url, "New")]})
    seen = []
    for step in (0.0, MEDIA_UPLOADED_S, MEDIA_PROCESSING_S - MEDIA_UPLOADED_S):
        clock.advance(step)
        last = (await media(ex))[-1]
        seen.append(last["status"])
        if last["status"] != "READY":
            assert last["image"] is None and last["preview"] == {"image": None, "status": last["status"]}
    assert seen == ["UPLOADED", "PROCESSING", "READY"]
    copy = f"{CDN_FILES}new.jpg?v={last['id'].rsplit('/', 1)[1]}"  # Shopify's CDN copy, not our URL
    assert last["image"] == {"url": copy} and last["originalSource"]["url"].startswith(ORIGINALS)
    assert last["preview"] == {"image": {"url": copy}, "status": "READY"} and last["mediaErrors"] == []
    assert [m["alt"] for m in await media(ex)] == ["Product 3 image 0", "Product 3 image 1", "New"]


async def test_the_shop_never_shows_the_url_given(shop: Shop) -> None:
    """``MediaImageOriginalSource.url`` is documented as "the URL of the original image, valid only
    for a short period" (a signed link), ``image.url`` is the shop's CDN copy: neither is the URL we
    sent, and the signed link changes from one read to the next (the stricter reading)."""
    _state, ex, clock = shop
    url = "https://img.example/photos/Front%20view.jpg?size=large"
    await ex.run(APPEND, {"product": {"id": P3}, "media": [image(url, "New")]})
    clock.advance(MEDIA_PROCESSING_S)
    first = (await media(ex))[-1]
    clock.advance(0.5)
    second = (await media(ex))[-1]
    mid = first["id"].rsplit("/", 1)[1]
    assert first["image"] == second["image"] == {"url": f"{CDN_FILES}Front%20view.jpg?v={mid}"}
    signed = [m["originalSource"]["url"] for m in (first, second)]
    assert all(u.startswith(f"{ORIGINALS}{mid}/Front%20view.jpg?expires=") and "signature=" in u
               for u in signed)
    assert signed[0] != signed[1] and url not in signed
    base = (await media(ex))[0]  # a generated image: its URL is the shop's CDN already
    assert base["image"] == {"url": "https://cdn.shopify.sim/products/product-3-0.jpg"}
    assert base["originalSource"]["url"].startswith(ORIGINALS)


async def test_unreachable_host_ends_failed_with_the_download_failure_code(shop: Shop) -> None:
    _state, ex, clock = shop
    sources = [f"https://cdn.{BAD_HOST}/a.jpg", f"https://{BAD_HOST}/b.jpg", "https://img.example/c.jpg"]
    await ex.run(APPEND, {"product": {"id": P3}, "media": [image(u) for u in sources]})
    assert [m["status"] for m in (await media(ex))[2:]] == ["UPLOADED"] * 3  # not known yet
    clock.advance(MEDIA_PROCESSING_S)
    a, b, c = (await media(ex))[2:]
    failure = {
        "code": "IMAGE_DOWNLOAD_FAILURE",
        "details": None,
        "message": "Media could not be processed because the image could not be downloaded.",
    }
    assert a["status"] == b["status"] == "FAILED" and a["mediaErrors"] == b["mediaErrors"] == [failure]
    assert a["image"] is None and a["originalSource"]["url"] != sources[0]
    assert c["status"] == "READY" and c["mediaErrors"] == []


async def test_product_set_files_replace_the_media_in_the_given_order(shop: Shop) -> None:
    state, ex, clock = shop
    files = [
        {"originalSource": "https://img.example/first.jpg", "alt": "First", "contentType": "IMAGE"},
        {"id": "gid://shopify/MediaImage/31", "alt": "Kept"},  # keeps image 31, new alt
        {"originalSource": "https://img.example/last.jpg"},
    ]
    data = await ex.run(SET, {"id": P3, "input": {"files": files, "descriptionHtml": "<p>set</p>"}})
    assert data["productSet"]["userErrors"] == []
    got = data["productSet"]["product"]["media"]["nodes"]
    assert [m["alt"] for m in got] == ["First", "Kept", None]
    assert got[1]["id"] == "gid://shopify/MediaImage/31"
    assert "gid://shopify/MediaImage/30" not in {m["id"] for m in got}  # not listed: removed
    assert state.write_count(P3) == 1
    # the removed image still exists as a file, on no product; a second identical call adds nothing new
    assert (await ex.run(NODE, {"id": "gid://shopify/MediaImage/30"}))["node"]["alt"] == "Product 3 image 0"
    kept = [{"id": m["id"]} for m in got]
    again = await ex.run(SET, {"id": P3, "input": {"files": kept}})
    assert again["productSet"]["product"]["media"]["nodes"] == got
    clock.advance(MEDIA_PROCESSING_S)
    assert [m["status"] for m in await media(ex)] == ["READY"] * 3
    assert (await ex.run(MEDIA, {"p": P3}))["product"]["descriptionHtml"] == "<p>set</p>"


async def test_product_set_refuses_a_bad_call_whole(shop: Shop) -> None:
    state, ex, _clock = shop
    files = [{"id": "gid://shopify/MediaImage/31", "alt": "changed"}, {"originalSource": "not a url"}]
    data = await ex.run(SET, {"id": P3, "input": {"files": files}})
    assert [e["field"] for e in data["productSet"]["userErrors"]] == [
        ["input", "files", "1", "originalSource"]
    ]
    assert [m["alt"] for m in await media(ex)] == ["Product 3 image 0", "Product 3 image 1"]  # untouched
    assert state.write_count(P3) == 0
    missing = await ex.run(SET, {"id": "gid://shopify/Product/999", "input": {"files": []}})
    assert missing["productSet"]["userErrors"][0]["code"] == "PRODUCT_DOES_NOT_EXIST"


async def test_file_update_removes_and_re_points_images(shop: Shop) -> None:
    _state, ex, _clock = shop
    change = [{"id": "gid://shopify/MediaImage/30", "referencesToRemove": [P3]}]
    data = await ex.run(FILE_UPDATE, {"files": change})
    assert data["fileUpdate"]["userErrors"] == []
    assert [m["id"] for m in await media(ex)] == ["gid://shopify/MediaImage/31"]
    # re-point image 31 to product 5: it leaves product 3 (one product per image in the simulator)
    move = [{"id": "gid://shopify/MediaImage/31", "referencesToAdd": ["gid://shopify/Product/5"]}]
    assert (await ex.run(FILE_UPDATE, {"files": move}))["fileUpdate"]["userErrors"] == []
    assert await media(ex) == []
    on5 = [m["id"] for m in await media(ex, "gid://shopify/Product/5")]
    assert on5 == [
        "gid://shopify/MediaImage/50",
        "gid://shopify/MediaImage/51",
        "gid://shopify/MediaImage/31",
    ]
    unknown = await ex.run(FILE_UPDATE, {"files": [{"id": "gid://shopify/MediaImage/999999", "alt": "x"}]})
    assert unknown["fileUpdate"]["userErrors"][0]["code"] == "FILE_DOES_NOT_EXIST"


async def test_product_set_runs_in_bulk_and_the_export_carries_media(shop: Shop) -> None:
    state, ex, clock = shop
    lines = [
        {
            "identifier": {"id": f"gid://shopify/Product/{p}"},
            "input": {
                "descriptionHtml": f"<p>bulk {p}</p>",
                "files": [
                    {"originalSource": f"https://img.example/{p}.jpg", "alt": "ok"},
                    {"originalSource": f"https://{BAD_HOST}/{p}.jpg", "alt": "bad"},
                ],
            },
        }
        for p in (2, 3)
    ]
    payload = await run_bulk_mutation(ex, SET_BULK, lines)
    assert payload["userErrors"] == []
    gid = payload["bulkOperation"]["id"]
    clock.advance(1.0)
    await state.engine.find(gid).running.wait()
    clock.advance(0.01)
    await state.engine.wait(gid)
    assert state.engine.find(gid).status == "COMPLETED"
    clock.advance(MEDIA_PROCESSING_S)
    export = """{ products(query: "updated_at:>'2025-01-01T00:00:00Z'") { edges { node { id descriptionHtml
      media { edges { node { id alt status mediaContentType ... on MediaImage { image { url }
        originalSource { url } } mediaErrors { code } } } } } } } }"""
    data = await ex.run(RUN_QUERY, {"query": export})
    assert data["bulkOperationRunQuery"]["userErrors"] == []
    qid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
    clock.advance(100)
    await state.engine.wait(qid)
    rows = ex.jsonl_at((await ex.run(BULK_OPERATION, {"id": qid}))["bulkOperation"]["url"])
    products = [r for r in rows if "__parentId" not in r]
    assert [(r["id"], r["descriptionHtml"]) for r in products] == [
        ("gid://shopify/Product/2", "<p>bulk 2</p>"),
        (P3, "<p>bulk 3</p>"),
    ]
    of3 = [r for r in rows if r.get("__parentId") == P3]
    assert [(r["alt"], r["status"], r["mediaErrors"]) for r in of3] == [
        ("ok", "READY", []),
        ("bad", "FAILED", [{"code": "IMAGE_DOWNLOAD_FAILURE"}]),
    ]
    assert of3[0]["image"]["url"].startswith(f"{CDN_FILES}3.jpg?v=") and of3[1]["image"] is None
    assert of3[1]["originalSource"]["url"].startswith(ORIGINALS)


async def test_description_round_trips_through_product_update_and_product_set(shop: Shop) -> None:
    _state, ex, _clock = shop
    html = '<p>Caf\u00e9 <strong>"quoted"</strong> &amp; more</p>'
    await ex.run(APPEND, {"product": {"id": P3, "descriptionHtml": html}})
    assert (await ex.run(MEDIA, {"p": P3}))["product"]["descriptionHtml"] == html
    by_handle = {"identifier": {"handle": "product-3"}, "input": {"descriptionHtml": "<p>by handle</p>"}}
    assert (await ex.run(SET_BULK, by_handle))["productSet"]["userErrors"] == []
    got = await ex.run(MEDIA, {"p": P3})
    assert got["product"]["descriptionHtml"] == "<p>by handle</p>"
    assert len(got["product"]["media"]["nodes"]) == 2  # files not given: media untouched
    create = {"identifier": {"handle": "no-such-product"}, "input": {"descriptionHtml": "<p>x</p>"}}
    body = await ex.execute_unmetered(SET_BULK, create, token_index=0)
    assert body["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED_IN_SIMULATOR"  # never a silent create


def test_media_connections_and_product_set_files_follow_the_cost_model() -> None:
    def cost(doc: str, variables: dict[str, Any] | None = None) -> int:
        prepared = prepare(doc)
        op = prepared.operation(None)
        assert not prepared.errors and not isinstance(op, dict)
        return CostCalculator(admin_schema(), prepared.fragments, variables or {}).requested(op)

    plain = '{ product(id: "gid://shopify/Product/1") { media(first: 10) { nodes { id status } } } }'
    assert cost(plain) == 1 + 2 + 10 * 1  # product + connection of 10 nodes costing 1 each
    nested = (
        '{ product(id: "gid://shopify/Product/1") { media(first: 10) { nodes { id '
        "... on MediaImage { image { url } } } } } }"
    )
    assert cost(nested) == 1 + 2 + 10 * 2  # each node + its image object
    files = [{"originalSource": f"https://img.example/{i}.jpg"} for i in range(10)]
    assert cost(SET, {"id": P3, "input": {"files": files}}) == 10 + 19  # 10 + 1.9 per file


def test_unreachable_hosts_are_chosen_per_run() -> None:
    url = parse_sim_url("sim://?products=5&unreachable=a.test&unreachable=b.test,c.test&media-processing-s=4")
    assert url.unreachable == ("a.test", "b.test", "c.test") and url.media_processing_s == 4.0
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    args = parser.parse_args(["sim", "--unreachable-host", "x.test", "--unreachable-host", "y.test"])
    assert config_from_args(args).unreachable == ("x.test", "y.test")


async def test_a_served_shop_serves_it_all_over_http() -> None:
    """Through the real front (schema, supported fields, cost, bucket), with hosts from the config."""
    clock = ManualClock()
    config = SimConfig(products=5, unreachable=("down.test",))
    async with SimShop(config, clock=clock) as served, aiohttp.ClientSession() as http:

        async def post(doc: str, variables: dict[str, Any], token: int = 0) -> dict[str, Any]:
            headers = {"X-Shopify-Access-Token": config.tokens[token]}
            body = {"query": doc, "variables": variables}
            async with http.post(served.graphql_url, json=body, headers=headers) as response:
                answer: dict[str, Any] = await response.json()
            assert "errors" not in answer, answer["errors"]
            return answer

        files = [{"originalSource": "https://down.test/x.jpg"}, {"id": "gid://shopify/MediaImage/31"}]
        done = await post(SET, {"id": P3, "input": {"files": files, "descriptionHtml": "<p>h</p>"}}, 1)
        assert done["extensions"]["cost"]["requestedQueryCost"] == 10 + 4  # 10 + 2 × 1.9, rounded up
        await post(FILE_UPDATE, {"files": [{"id": "gid://shopify/MediaImage/31", "alt": "a"}]}, 2)
        clock.advance(MEDIA_PROCESSING_S)
        nodes = (await post(MEDIA, {"p": P3}))["data"]["product"]["media"]["nodes"]
        assert [(m["status"], m["alt"]) for m in nodes] == [("FAILED", None), ("READY", "a")]
        assert nodes[0]["mediaErrors"][0]["code"] == "IMAGE_DOWNLOAD_FAILURE"
        since = "updated_at:>='2025-01-02T00:00:00Z'"
        found = await post(
            "query($q: String!) { productVariants(first: 5, query: $q) { nodes { id } } }", {"q": since}
        )
        assert found["data"]["productVariants"]["nodes"] == []  # media writes move no variant
