"""The simulated bulk-operation engine: staged upload → run → results, limits, exports, faults, cancel.

Time is a ManualClock: the engine paces lines by absolute deadlines, so advancing the clock once lets
every due chunk run; tests then gate on the operation's ``running``/``done`` Events, never on sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bulk.clock import ManualClock
from bulk.sim._operations import ShopState
from tests.simshop_helpers import (
    BULK_OPERATION,
    PRICE_UPDATE,
    RUN_MUTATION,
    RUN_QUERY,
    STAGED_UPLOAD,
    SimExecutor,
    run_bulk_mutation,
    stage,
)

Shop = tuple[ShopState, SimExecutor, ManualClock]

EXPORT = """{ products(query: "updated_at:>'%s'") { edges { node { id handle updatedAt
  variants { edges { node { id sku price compareAtPrice inventoryItem { id } } } } } } } }"""


def price_line(p: int, cents: int) -> dict[str, Any]:
    return {
        "productId": f"gid://shopify/Product/{p}",
        "variants": [{"id": f"gid://shopify/ProductVariant/{p * 10}", "price": f"{cents / 100:.2f}"}],
    }


async def make(products: int = 400, **kwargs: Any) -> Shop:
    clock = ManualClock()
    state = ShopState(products=products, clock=clock, **kwargs)
    return state, SimExecutor(state), clock


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    made = await make()
    try:
        yield made
    finally:
        await made[0].aclose()


async def finish(state: ShopState, clock: ManualClock, gid: str) -> None:
    clock.advance(100_000)  # past 24 h: only the op's own schedule, never a clock jump, can time it out
    await state.engine.wait(gid)


async def test_bulk_mutation_round_trip(shop: Shop) -> None:
    state, ex, clock = shop
    lines = [price_line(p, 100 + p) for p in range(1, 301)]
    lines[7] = price_line(999, 100)  # unknown product: a userError in that line's result, not a failure
    payload = await run_bulk_mutation(ex, PRICE_UPDATE, lines)
    assert payload["userErrors"] == []
    gid = payload["bulkOperation"]["id"]
    assert payload["bulkOperation"]["status"] == "CREATED"

    clock.advance(1.0)  # start latency
    await state.engine.find(gid).running.wait()
    running = await ex.run(BULK_OPERATION, {"id": gid})
    assert running["bulkOperation"]["status"] == "RUNNING"

    await finish(state, clock, gid)
    op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
    assert op["status"] == "COMPLETED" and op["errorCode"] is None and op["type"] == "MUTATION"
    assert op["objectCount"] == "300" and op["rootObjectCount"] == "300"
    assert op["partialDataUrl"] is None and op["completedAt"] >= op["createdAt"]
    assert int(op["fileSize"]) == len(ex.file_at(op["url"]))
    # 300 lines at 2000 lines/s after 1 s start latency
    assert state.engine.find(gid).completed == pytest.approx(1.0 + 300 / 2000)

    results = ex.jsonl_at(op["url"])
    numbers = [r["__lineNumber"] for r in results]
    assert sorted(numbers) == list(range(300))  # every line exactly once
    assert numbers != sorted(numbers)  # and out of order: match by __lineNumber, never by position
    by_line = {r["__lineNumber"]: r for r in results}
    assert (
        by_line[7]["data"]["productVariantsBulkUpdate"]["userErrors"][0]["code"] == "PRODUCT_DOES_NOT_EXIST"
    )
    assert by_line[0]["data"]["productVariantsBulkUpdate"]["productVariants"][0]["price"] == "1.01"
    assert state.catalog.price_cents(10) == 101 and state.catalog.price_cents(3000) == 400
    stats = state.statistics()
    assert stats["writes_total"] == 299 and stats["objects_written_more_than_once"] == 0
    assert stats["bulk_by_status"] == {"COMPLETED": 1} and stats["bulk_lines_run"] == 300


async def test_sixth_concurrent_operation_is_refused_per_app(shop: Shop) -> None:
    state, ex, clock = shop
    gids = []
    for _ in range(5):
        payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)])
        assert payload["userErrors"] == []
        gids.append(payload["bulkOperation"]["id"])
    sixth = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)])
    assert sixth["bulkOperation"] is None
    assert [e["code"] for e in sixth["userErrors"]] == ["LIMIT_REACHED"]
    query = await ex.run(RUN_QUERY, {"query": EXPORT % "2030-01-01T00:00:00Z"})
    assert query["bulkOperationRunQuery"]["userErrors"][0]["code"] == "LIMIT_REACHED"
    other_app = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)], token_index=1)
    assert other_app["userErrors"] == []
    listed = await ex.run('{ bulkOperations(first: 10, query: "status:created") { nodes { id } } }')
    assert [n["id"] for n in listed["bulkOperations"]["nodes"]] == gids[::-1]  # newest first
    await finish(state, clock, gids[0])
    for gid in gids:
        await state.engine.wait(gid)
    again = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)])
    assert again["userErrors"] == []


@pytest.mark.parametrize(
    ("mutation", "code"),
    [
        ("mutation { productVariantsBulkUpdate(", "INVALID_MUTATION"),
        ("query { shop { name } }", "INVALID_MUTATION"),
        (PRICE_UPDATE.replace("sku }", "sku nope }"), "INVALID_MUTATION"),
        (
            """mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input)
            @idempotent(key: "k") { userErrors { message } } }""",
            "INVALID_MUTATION",
        ),
    ],
)
async def test_invalid_mutations_create_nothing(shop: Shop, mutation: str, code: str) -> None:
    state, ex, _ = shop
    path = await stage(ex, [price_line(1, 500)])
    data = await ex.run(RUN_MUTATION, {"mutation": mutation, "path": path})
    payload = data["bulkOperationRunMutation"]
    assert payload["bulkOperation"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["mutation"], code)]
    assert state.statistics()["bulk_operations"] == 0


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "NO_SUCH_FILE"),
        (b"", "INVALID_STAGED_UPLOAD_FILE"),
        (b'{"a": 1}\nnot json\n', "INVALID_STAGED_UPLOAD_FILE"),
        (b"[1, 2]\n", "INVALID_STAGED_UPLOAD_FILE"),
    ],
)
async def test_bad_uploads_are_refused(shop: Shop, content: bytes | None, code: str) -> None:
    state, ex, _ = shop
    path = "tmp/0/bulk/never-uploaded/bulk_op_vars"
    if content is not None:
        state.files.put(path, content)
    data = await ex.run(RUN_MUTATION, {"mutation": PRICE_UPDATE, "path": path})
    assert [e["code"] for e in data["bulkOperationRunMutation"]["userErrors"]] == [code]


async def test_a_start_reads_the_file_stored_now_not_an_earlier_upload_parsed_ahead(shop: Shop) -> None:
    """Staged variables are parsed as they are uploaded (a start then need not); a file replaced after
    its upload was parsed is judged by what is stored when the start names it."""
    state, ex, _ = shop
    good = b'{"productId": "gid://shopify/Product/1", "variants": []}\n'
    path = "tmp/0/bulk/replaced/bulk_op_vars"
    state.files.put(path, good)
    state.files.put(path, b"not json\n")
    refused = await ex.run(RUN_MUTATION, {"mutation": PRICE_UPDATE, "path": path})
    errors = refused["bulkOperationRunMutation"]["userErrors"]
    assert [e["code"] for e in errors] == ["INVALID_STAGED_UPLOAD_FILE"]
    state.files.put(path, good)
    started = await ex.run(RUN_MUTATION, {"mutation": PRICE_UPDATE, "path": path})
    assert started["bulkOperationRunMutation"]["userErrors"] == []
    assert started["bulkOperationRunMutation"]["bulkOperation"]["status"] == "CREATED"


async def test_staged_upload_target_shape_and_strictness(shop: Shop) -> None:
    _, ex, _ = shop
    ok = await ex.run(
        STAGED_UPLOAD,
        {
            "input": [
                {
                    "resource": "BULK_MUTATION_VARIABLES",
                    "filename": "v.jsonl",
                    "mimeType": "text/jsonl",
                    "httpMethod": "POST",
                }
            ]
        },
    )
    target = ok["stagedUploadsCreate"]["stagedTargets"][0]
    assert target["url"] == "http://sim.test/_sim/uploads"
    assert any(p["name"] == "key" and p["value"].endswith("/bulk_op_vars") for p in target["parameters"])
    put = await ex.run(
        STAGED_UPLOAD,
        {"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "v.jsonl", "mimeType": "text/jsonl"}]},
    )  # httpMethod defaults to PUT
    assert put["stagedUploadsCreate"]["stagedTargets"] is None
    assert put["stagedUploadsCreate"]["userErrors"][0]["field"] == ["input", "0", "httpMethod"]


async def test_export_is_flat_jsonl_with_parent_ids(shop: Shop) -> None:
    state, ex, clock = shop
    data = await ex.run(RUN_QUERY, {"query": EXPORT % "2020-01-01T00:00:00Z"})
    gid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
    await finish(state, clock, gid)
    op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
    assert op["status"] == "COMPLETED" and op["type"] == "QUERY"
    rows = ex.jsonl_at(op["url"])
    assert op["rootObjectCount"] == "400"
    assert op["objectCount"] == str(400 + state.catalog.total_variants()) == str(len(rows))
    products = [r for r in rows if "__parentId" not in r]
    variants = [r for r in rows if "__parentId" in r]
    assert products[0] == {
        "id": "gid://shopify/Product/1",
        "handle": "product-1",
        "updatedAt": "2025-01-01T00:00:00Z",
    }
    assert variants[0] == {
        "id": "gid://shopify/ProductVariant/10",
        "sku": "SKU-0000001-0",
        "price": "10.37",
        "compareAtPrice": None,
        "inventoryItem": {"id": "gid://shopify/InventoryItem/10"},
        "__parentId": "gid://shopify/Product/1",
    }
    seen: set[str] = set()
    for row in rows:  # parents come before their children
        if "__parentId" in row:
            assert row["__parentId"] in seen
            assert row["__parentId"] == f"gid://shopify/Product/{int(row['id'].rsplit('/', 1)[1]) // 10}"
        seen.add(row["id"])


async def test_incremental_export_sees_only_written_products(shop: Shop) -> None:
    state, ex, clock = shop
    clock.advance(3)
    await ex.run(
        PRICE_UPDATE,
        {
            "productId": "gid://shopify/Product/7",
            "variants": [{"id": "gid://shopify/ProductVariant/71", "price": "1.00"}],
        },
    )
    data = await ex.run(RUN_QUERY, {"query": EXPORT % "2025-06-01T00:00:00Z"})
    gid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
    await finish(state, clock, gid)
    rows = ex.jsonl_at(state.engine.find(gid).url or "")
    assert [r["id"] for r in rows if "__parentId" not in r] == ["gid://shopify/Product/7"]
    assert len(rows) == 1 + state.catalog.variant_count(7)


async def test_export_with_no_objects_has_no_url(shop: Shop) -> None:
    state, ex, clock = shop
    data = await ex.run(RUN_QUERY, {"query": EXPORT % "2030-01-01T00:00:00Z"})
    gid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
    await finish(state, clock, gid)
    op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
    assert op["status"] == "COMPLETED" and op["url"] is None and op["objectCount"] == "0"


@pytest.mark.parametrize(
    "query",
    [
        "{ products { edges { node { id vendor } } } }",  # a real field the simulator does not serve
        "{ products { edges { node { id nope } } } }",  # not in the schema
        '{ products(query: "title:x") { edges { node { id } } } }',
        "{ shop { name } }",
        "{ products { edges { node { id variants { edges { node { id inventoryItem { inventoryLevels "
        "{ edges { node { id } } } } } } } } } } }",  # connections nested three deep
    ],
)
async def test_invalid_exports_are_refused(shop: Shop, query: str) -> None:
    state, ex, _ = shop
    data = await ex.run(RUN_QUERY, {"query": query})
    payload = data["bulkOperationRunQuery"]
    assert payload["bulkOperation"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["query"], "INVALID")]
    assert state.statistics()["bulk_operations"] == 0


async def test_cancel_keeps_partial_results() -> None:
    state, ex, clock = await make(bulk_lines_per_s=100)  # chunks of 10 lines, 0.1 s each
    try:
        payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(p, 777) for p in range(1, 101)])
        gid = payload["bulkOperation"]["id"]
        clock.advance(1.0 + 0.35)  # start latency + three chunks
        await state.engine.wait_objects(gid, 30)
        cancel = (
            "mutation($id: ID!) { bulkOperationCancel(id: $id) "
            "{ bulkOperation { status } userErrors { message } } }"
        )
        data = await ex.run(cancel, {"id": gid})
        assert data["bulkOperationCancel"]["bulkOperation"]["status"] == "CANCELING"
        await finish(state, clock, gid)
        op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
        assert op["status"] == "CANCELED" and op["url"] is None
        partial = ex.jsonl_at(op["partialDataUrl"])
        assert len(partial) == 30 and op["objectCount"] == "30"  # the three chunks due before the cancel
        assert state.statistics()["writes_total"] == len(partial)
        again = await ex.run(cancel, {"id": gid})
        assert again["bulkOperationCancel"]["userErrors"]
    finally:
        await state.aclose()


async def test_fault_injection_fails_with_partial_file() -> None:
    state, ex, clock = await make(bulk_lines_per_s=100, fault_rate=1.0, seed=3)
    try:
        payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(p, 555) for p in range(1, 101)])
        gid = payload["bulkOperation"]["id"]
        await finish(state, clock, gid)
        op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
        assert op["status"] == "FAILED" and op["errorCode"] == "INTERNAL_SERVER_ERROR" and op["url"] is None
        done = {r["__lineNumber"] for r in ex.jsonl_at(op["partialDataUrl"])}
        assert 0 < len(done) < 100
        for n in range(100):  # exactly the lines in the partial file were applied
            assert state.write_count(f"gid://shopify/ProductVariant/{(n + 1) * 10}") == (n in done)
    finally:
        await state.aclose()


async def test_fault_injection_fails_an_export_part_way() -> None:
    state, ex, clock = await make(products=200, bulk_lines_per_s=100, fault_rate=1.0, seed=5)
    try:
        data = await ex.run(RUN_QUERY, {"query": EXPORT % "2020-01-01T00:00:00Z"})
        gid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
        await finish(state, clock, gid)
        op = (await ex.run(BULK_OPERATION, {"id": gid}))["bulkOperation"]
        assert (op["status"], op["errorCode"], op["url"]) == ("FAILED", "INTERNAL_SERVER_ERROR", None)
        rows = ex.jsonl_at(op["partialDataUrl"])
        assert 0 < len(rows) < 200 + state.catalog.total_variants()
        assert op["objectCount"] == str(len(rows))
    finally:
        await state.aclose()


async def test_slowdown_multiplies_processing_time() -> None:
    state, ex, clock = await make(bulk_lines_per_s=100, bulk_slowdown=3.0)
    try:
        payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(p, 555) for p in range(1, 51)])
        gid = payload["bulkOperation"]["id"]
        await finish(state, clock, gid)
        assert state.engine.find(gid).completed == pytest.approx(1.0 + 50 / 100 * 3.0)
    finally:
        await state.aclose()


async def test_operation_scheduled_past_24_hours_times_out() -> None:
    state, ex, clock = await make(bulk_lines_per_s=1.0, bulk_slowdown=50_000.0)  # one chunk of 1 line
    try:
        payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(p, 555) for p in range(1, 3)])
        gid = payload["bulkOperation"]["id"]
        clock.advance(200_000)
        op = await state.engine.wait(gid)
        assert (op.status, op.error_code) == ("FAILED", "TIMEOUT")
        assert op.object_count == 1 and op.partial_url is not None  # the first line made it in time
    finally:
        await state.aclose()


async def test_operations_are_private_to_their_app(shop: Shop) -> None:
    _, ex, _ = shop
    payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)])
    gid = payload["bulkOperation"]["id"]
    mine = await ex.run("query($id: ID!) { node(id: $id) { __typename id } }", {"id": gid})
    assert mine["node"] == {"__typename": "BulkOperation", "id": gid}
    theirs = await ex.run(BULK_OPERATION, {"id": gid}, token_index=1)
    assert theirs["bulkOperation"] is None
    listed = await ex.run("{ bulkOperations(first: 5) { nodes { id } } }", token_index=1)
    assert listed["bulkOperations"]["nodes"] == []


async def test_aclose_stops_running_operations() -> None:
    state, ex, _ = await make()
    payload = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)])
    assert state.statistics()["bulk_running_tasks"] == 1
    await state.aclose()
    assert state.statistics()["bulk_running_tasks"] == 0
    assert state.engine.find(payload["bulkOperation"]["id"]).status == "CREATED"


async def test_bulk_operations_filters_and_pages(shop: Shop) -> None:
    state, ex, clock = shop
    mutation = await run_bulk_mutation(ex, PRICE_UPDATE, [price_line(1, 500)])
    query = await ex.run(RUN_QUERY, {"query": EXPORT % "2030-01-01T00:00:00Z"})
    gids = [mutation["bulkOperation"]["id"], query["bulkOperationRunQuery"]["bulkOperation"]["id"]]
    await finish(state, clock, gids[0])
    await state.engine.wait(gids[1])
    listing = (
        "query($q: String, $a: String) { bulkOperations(first: 1, after: $a, query: $q) "
        "{ nodes { id } pageInfo { hasNextPage endCursor } } }"
    )
    by_type = await ex.run(listing, {"q": "operation_type:query status:completed"})
    assert by_type["bulkOperations"]["nodes"] == [{"id": gids[1]}]
    first = await ex.run(listing, {})  # newest first, as Shopify documents
    assert first["bulkOperations"]["nodes"] == [{"id": gids[1]}]
    assert first["bulkOperations"]["pageInfo"]["hasNextPage"] is True
    second = await ex.run(listing, {"a": first["bulkOperations"]["pageInfo"]["endCursor"]})
    assert second["bulkOperations"]["nodes"] == [{"id": gids[0]}]
    assert second["bulkOperations"]["pageInfo"]["hasNextPage"] is False
    running = await ex.run(listing, {"q": "status:RUNNING"})
    assert running["bulkOperations"]["nodes"] == []
    by_id = await ex.run(listing, {"q": f"id:>={gids[1].rsplit('/', 1)[1]}"})
    assert by_id["bulkOperations"]["nodes"] == [{"id": gids[1]}]
    # a client identifier nobody gave matches nothing (matching ones: tests/integration/test_submit.py)
    nobody = await ex.run(listing, {"q": "client_identifier:'run/0/0'"})
    assert nobody["bulkOperations"]["nodes"] == []
    refused = await ex.execute_unmetered(listing, {"q": "vendor:x"}, token_index=0)
    assert refused["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED_IN_SIMULATOR"


async def test_variant_export_inlines_nested_objects(shop: Shop) -> None:
    state, ex, clock = shop
    query = (
        '{ productVariants(query: "sku:SKU-0000002-1") '
        "{ edges { node { __typename id sku product { id } } } } }"
    )
    data = await ex.run(RUN_QUERY, {"query": query})
    gid = data["bulkOperationRunQuery"]["bulkOperation"]["id"]
    await finish(state, clock, gid)
    rows = ex.jsonl_at(state.engine.find(gid).url or "")
    assert rows == [
        {
            "__typename": "ProductVariant",
            "id": "gid://shopify/ProductVariant/21",
            "sku": "SKU-0000002-1",
            "product": {"id": "gid://shopify/Product/2"},
        }
    ]
