"""Black Friday: half the catalog changes price and 200k products get new image sets while inventory flies.

A simulated shop of ``--products`` products (a separate ``bulk sim`` process, so the shop and the
client each own a core) receives ``--prices`` price changes and ``--images`` image sets (mode
``replace``: a new image first, the product's first image kept, the rest removed) in one submission,
while bursts of ``--urgent`` inventory changes arrive every ``--urgent-every`` real seconds
through the urgent lane, from the start of the run to its end (the seed's case: "when 50 inventory
updates come through they need to be executed first", at any moment), and the shop answers with a
realistic latency (``--latency-ms``, lognormal mean).

Reported (simulated seconds, i.e. real × ``--speed``):

- ``total_s``: the whole submission, planning included, to the run's end: the run ``DONE`` in the
  journal with every row's outcome and its images judged (event ``run_done``). The report and the
  catalog cache's new picture are written after that — our own bookkeeping, not the shop's — and
  timed apart: ``returned_after_done_s`` (to the call's return) and ``overhead_ratio_returned``;
- ``sim_processing_s``: what the shop itself needs for the same lines — every bulk-operation slot
  (3 tokens × 5) busy at the shop's bulk rate from the first second;
- ``overhead_ratio = total_s / sim_processing_s`` (goal ≤ 1.02);
- ``bulk_ops`` and ``max_parallel_ops``, ``throttled``;
- ``media``: products whose new image ended ready / failed / still processing (the run follows them
  up: ``bulk/lanes/media_check.py``), ``media_settled_in_run``: how many of them were settled before
  the last line was done, ``media_product_queries``: follow-up queries that read products' last images
  because no result named the new ones (0 expected: a bulk operation's results name them),
  ``media_tail_s``: what the follow-up added after the last line, and
  ``end_after_last_op_s``: the whole end of the run after the last operation finished;
- ``urgent_p50_ms`` / ``urgent_p99_ms`` / ``urgent_max_ms`` (real ms, from the call to its result), next
  to ``urgent_sim_p99_ms``: the simulator's own latency for the requests those changes made, per
  change — a change for a SKU seen before is one request (the write), a first-seen SKU's is its lookup
  and its write in a row — summed from what the shop says it drew for each request, named by its
  ``X-Request-Id`` (``bench/_shop_share.py``; goal: ``urgent_p99_ms`` ≤ ``urgent_sim_p99_ms`` + 50).
  ``urgent_sim_served_p99_ms``: the same with the time the simulator took to *serve* each request,
  from its handler's first step to the answer (the drawn delay plus its own work and waits on its
  event loop, which shares the box's two cores), and ``urgent_ours_p99_ms``: each change's time minus
  that — the part that is ours. ``urgent_known`` / ``urgent_first_seen``: the same split by kind;
  ``urgent_slowest_bursts``: the three bursts with the slowest change (their start, real seconds
  after the submission's, to lay beside the ``timeline``); ``urgent_first_burst``: the first
  burst's median change split into the shop's time (drawn, served) and ours, with its lookup and
  wire phases (it meets the submission's start);
  ``sim_set_p99_ms`` / ``sim_lookup_p99_ms`` (and ``…_served_…``): per request, by root field;
  ``loop_lag_p99_ms``: how late this process's event loop woke a 5 ms sleeper during the
  run (``loop_lag_max_ms``: the longest; ``gc_pauses``: this process's full and gen-1 cyclic
  collections during the run — count, longest, total ms: each stops the
  loop); ``urgent_split``: where those changes' time went, per phase
  (p50/p99/max ms: lookups, window, loop, the scheduler's grant, the wire, the rest;
  :class:`bulk.lanes.urgent.ChangeTiming`), and how many waited for an earlier change to their pair;
  ``shop_probe_p50_ms`` / ``shop_probe_p99_ms``: the shop's answer time as an idle client in a process
  of its own sees it (a 1-point query every 200 ms, ``bench/_shopprobe.py``) — the simulator's drawn
  latency plus its own processing and queueing, which ``urgent_sim_p99_ms`` leaves out;
- ``starts_limit_reached``: starts the shop refused for a full token (each waits ``limit_backoff_s``);
  ``sim_start_served_p99_ms`` / ``sim_poll_served_p99_ms``: how long the shop took to serve the
  lane's starts and polls (a slow start leaves its slot idle: each timeline row's ``start_s``, from
  the slot free to the start's answer, and ``start_call_s``, the start's call alone);
- ``slot_seconds``: where the time went — every slot-second of the run as processing, the shop's
  CREATED delay, operations ending later than their pace, or a slot idle at the start, between
  operations, in the uneven tail or after the last operation (``bench/_optimeline.py``), and the
  ``timeline`` of every operation;
- ``sim_cpu_share``: CPU seconds of the shop process per real second. Near 1.0 the *simulator* is
  the bottleneck and the ratio measures its CPU, not the client: its bulk engine runs every line
  through GraphQL and manages about 2,000 lines per real second on one core here, while 15
  operations at 50 lines/s need ``750 × speed`` (``5`` is too fast).

``--speed 1`` by default (since 2026-12-07; ``2`` before): the shop at its own pace, as a merchant
meets it. A sped-up shop halves its latency in real time (``--latency-ms 50`` is 25 ms a request at
``--speed 2``: not the realistic latency the urgent goal is measured against), needs twice the CPU
for its lines beside the client on two cores, and counts every real second of the client's twice.
``--speed 2`` gives a figure in half the time (~7 minutes instead of 13).

The client's lane runs on the shop's clock (a session that recognises a sped-up simulator polls and
backs off on its time, as a merchant's rehearsal does), so its settings are in shop seconds.

The catalog cache is filled directly from the simulator's deterministic catalog (what ``bulk catalog
sync`` would store), so the figures are about applying changes, not exporting 4.5M objects first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._optimeline import breakdown, describe, max_parallel, op_timeline
from bench._shop_share import burst_split, shop_share
from bench._shopprobe import shop_probe
from bench._simproc import sim_requests, sim_server, sim_stats
from bench._stats import gc_pauses, loop_lag
from bench.plan import fill_catalog
from bench.plan_data import write_price_csv
from bulk.catalog import CatalogStore
from bulk.cli._request import SubmitRequest
from bulk.lanes.bulk import BulkLaneConfig
from bulk.session.shop import Shop
from bulk.sim.percentiles import nearest_rank
from bulk.sources.files import FileInput
from bulk.submit.options import shop_id
from bulk.submit.root import run_submission

TOKENS = "bf-a,bf-b,bf-c"
SLOTS = 15  # 3 tokens × 5 bulk operations (API 2026-01+)
SIM_CDN = "https://cdn.shopify.sim/products/"  # where the simulated catalog's images are


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Scale and simulator settings (defaults: the issue's Black Friday)."""
    parser.add_argument("--products", type=int, default=1_500_000)
    parser.add_argument("--prices", type=int, default=750_000)
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--urgent", type=int, default=50, help="inventory changes per burst")
    parser.add_argument("--urgent-every", type=float, default=30.0, help="real seconds between bursts")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the shop's mean latency (sim)")
    parser.add_argument("--bulk-lines-per-s", type=float, default=50.0, help="per bulk operation (sim)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="the shop's time scale (1: its own pace; 2: a quicker look, see above)")


def write_images(path: Path, count: int, products: int) -> list[int]:
    """JSONL image *sets* (mode ``replace``) for ``count`` distinct products: the Black Friday image
    first, then the product's own first image (kept: ``productSet`` names it by id, no new download);
    any other image of the product goes. Returns the products."""
    rng = random.Random(7)
    chosen = rng.sample(range(1, products + 1), count)
    with path.open("w") as f:
        for p in chosen:
            images = [{"url": f"https://cdn.example/bf/{p}.jpg", "alt": "Black Friday"},
                      {"url": f"{SIM_CDN}product-{p}-0.jpg", "alt": f"Product {p} image 0"}]
            line = {"kind": "image", "handle": f"product-{p}", "mode": "replace", "images": images}
            f.write(json.dumps(line) + "\n")
    return chosen


def fill_media(store: CatalogStore, products: list[int]) -> None:
    """Store these products' description and images as a catalog sync would (the simulated catalog's
    formulas: ``1 + p % 2`` images ``gid://shopify/MediaImage/{p*10+i}``, READY)."""
    batch: list[dict[str, Any]] = []
    for p in products:
        gid = f"gid://shopify/Product/{p}"
        batch.append({"id": gid, "handle": f"product-{p}",
                      "descriptionHtml": f"<p>Description of product {p}.</p>"})
        batch += [{"id": f"gid://shopify/MediaImage/{p * 10 + i}", "__parentId": gid, "status": "READY",
                   "alt": f"Product {p} image {i}",
                   "originalSource": {"url": f"{SIM_CDN}product-{p}-{i}.jpg"}}
                  for i in range(1 + p % 2)]
        if len(batch) >= 50_000:
            store.load_export(batch)
            batch = []
    store.load_export(batch)


def lane_config(lines_per_s: float) -> BulkLaneConfig:
    """The lane's settings, in the shop's seconds (the lane runs on the simulator's clock)."""
    return BulkLaneConfig(poll_initial_s=0.5, poll_max_s=2.0, poll_fine_s=0.2, lines_per_s=lines_per_s,
                          op_overhead_s=1.5, look_ahead_s=2.0)


async def urgent_bursts(shop: Shop, count: int, every_s: float, latencies: dict[str, list[float]],
                        stop: asyncio.Event, bursts: list[tuple[float, list[float]]]) -> None:
    """A burst of ``count`` inventory changes (concurrent calls, as web hooks arrive) every ``every_s``
    real seconds, the first at once, until ``stop`` is set. SKUs come from a pool of 500 (a shop's
    busy items): a change for a SKU of an earlier burst is one request (``known``); a SKU new in this
    burst waits for its SKU lookup too (``first_seen``) — twice in one burst, both changes wait for
    the one lookup, so both count as first-seen (counted as known, one made the known p99 a lookup's).
    ``bursts`` gets each burst's start (real seconds after the first) and its changes' latencies."""
    rng = random.Random(11)
    seen: set[int] = set()  # SKUs of earlier bursts: looked up by now
    n = 0

    async def one(i: int, p: int, kind: str, mine: list[float]) -> None:
        t0 = time.perf_counter()
        change = {"sku": f"SKU-{p:07d}-0", "location_name": "Main Warehouse", "quantity": i}
        await shop.inventory.set([change])
        ms = (time.perf_counter() - t0) * 1000
        latencies[kind].append(ms)
        mine.append(ms)

    first = time.perf_counter()
    while not stop.is_set():
        burst: set[int] = set()
        bursts.append((time.perf_counter() - first, []))
        async with asyncio.TaskGroup() as tg:
            for _ in range(count):
                p = 1 + rng.randrange(500)
                tg.create_task(one(n, p, "known" if p in seen else "first_seen", bursts[-1][1]))
                burst.add(p)
                n += 1
        seen |= burst
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up files and cache, then time the submission against the simulator."""
    with tempfile.TemporaryDirectory(prefix="bench-bf-") as tmp:
        root = Path(tmp)
        await asyncio.to_thread(write_price_csv, root / "prices.csv", args.prices, products=args.products)
        imaged = await asyncio.to_thread(write_images, root / "images.jsonl", args.images, args.products)
        async with sim_server("--products", str(args.products), "--tokens", TOKENS, "--speed",
                              str(args.speed), "--bulk-lines-per-s", str(args.bulk_lines_per_s),
                              "--latency-ms", str(args.latency_ms)) as server:
            url = server.url
            state = root / "state"
            with CatalogStore(state / "catalog" / f"{shop_id(url)}.sqlite3") as store:
                await asyncio.to_thread(fill_catalog, store, args.products)
                await asyncio.to_thread(fill_media, store, imaged)
            events: list[tuple[float, str, dict[str, Any]]] = []
            latencies: dict[str, list[float]] = {"known": [], "first_seen": []}
            bursts: list[tuple[float, list[float]]] = []
            request = SubmitRequest(file=root / "prices.csv", shop=url, route="bulk", state_dir=state,
                                    journal=str(state / "journal.sqlite3"), sync_catalog="never",
                                    lane=lane_config(args.bulk_lines_per_s))
            source = FileInput(paths=(root / "prices.csv", root / "images.jsonl"), in_process=False)
            collections: dict[str, Any] = {}  # this process's cyclic collections during the run
            probed: list[float] = []  # the shop's answer time as an idle client in another process sees it
            async with shop_probe(url, TOKENS.split(",")[-1], probed), Shop.connect(url, TOKENS) as shop:
                started = time.perf_counter()
                sim_cpu_before = server.cpu_s()
                sub = asyncio.create_task(run_submission(
                    shop, request.run_options(), source, input_name="blackfriday",
                    on_event=lambda name, data: events.append((time.perf_counter(), name, data))))
                done, lags = asyncio.Event(), list[float]()
                urgent = asyncio.create_task(
                    urgent_bursts(shop, args.urgent, args.urgent_every, latencies, done, bursts))
                lag = asyncio.create_task(loop_lag(lags, done))
                with gc_pauses(collections):
                    result = await sub
                returned_real = time.perf_counter() - started
                sim_cpu = server.cpu_s() - sim_cpu_before
                done.set()
                await urgent
                await lag
                split = _urgent_split(shop)
                timings = shop.inventory.timings()
            stats = await sim_stats(url)
            shop_requests = await sim_requests(url, [i for t in timings for i in t.request_ids])
            share = shop_share(timings, shop_requests)
    lines = result.plan.get("lines", 0)
    sim_processing = lines / (args.bulk_lines_per_s * SLOTS)
    # the run's end: the run DONE, every row's outcome in the journal; the report and the catalog
    # cache's new picture follow it (ours alone, nothing of the shop's), timed as returned_after_done_s
    total_real = next((t - started for t, name, _ in events if name == "run_done"), returned_real)
    total_sim = total_real * args.speed
    ops = op_timeline(events, t0=started, speed=args.speed)
    every = latencies["known"] + latencies["first_seen"]
    return {
        "rows": result.summary.get("rows"), "applied": result.summary.get("applied"), "lines": lines,
        "total_s": round(total_sim, 1), "total_real_s": round(total_real, 1),
        "sim_processing_s": round(sim_processing, 1),
        "overhead_ratio": round(total_sim / sim_processing, 3) if sim_processing else None,
        "returned_after_done_s": round((returned_real - total_real) * args.speed, 1),
        "overhead_ratio_returned":
            round(returned_real * args.speed / sim_processing, 3) if sim_processing else None,
        "bulk_ops": len(result.operations), "max_parallel_ops": max_parallel(ops),
        # starts the shop refused for a full token (LIMIT_REACHED): each waits out limit_backoff_s
        "starts_limit_reached": sum(1 for _, name, _ in events if name == "start_limit_reached"),
        "urgent_changes": len(every),
        "urgent_p50_ms": round(statistics.median(every), 1) if every else None,
        "urgent_p99_ms": round(nearest_rank(every, 99), 1) if every else None,
        "urgent_max_ms": round(max(every), 1) if every else None,
        # the first burst meets the submission's start: where its median change's time went
        "urgent_first_burst": burst_split(timings[:args.urgent], shop_requests),
        # when the slowest bursts came (real seconds after the submission started): what ran then
        "urgent_slowest_bursts": [
            {"at_s": round(at, 1), "max_ms": round(max(ms), 1), "p50_ms": round(statistics.median(ms), 1)}
            for at, ms in sorted((b for b in bursts if b[1]), key=lambda b: -max(b[1]))[:3]],
        # the shop's own latency for the requests those changes made, per change (a first-seen SKU's
        # change is its lookup and its write in a row): what it drew, and the time it took to serve
        # them — the drawn delay plus its own work and waits on its event loop (the same two cores)
        "urgent_sim_p99_ms": share["all"]["sim_p99_ms"],
        "urgent_sim_served_p99_ms": share["all"]["sim_served_p99_ms"],
        "urgent_ours_p99_ms": share["all"]["ours_p99_ms"],  # a change's time minus the shop's serving
        "urgent_unmatched": share["all"]["unmatched"],
        # a change for a SKU seen before is one request; a first-seen SKU waits for its lookup too
        "urgent_known": _summary(latencies["known"]) | _shop_keys(share["known"]),
        "urgent_first_seen": _summary(latencies["first_seen"]) | _shop_keys(share["first_seen"]),
        # per request, by root field: the write and the lookup
        "sim_set_p99_ms": _sim_latency_p99(stats, "inventorySetQuantities"),
        "sim_set_served_p99_ms": _sim_latency_p99(stats, "inventorySetQuantities", "served_p99_ms"),
        "sim_lookup_p99_ms": _sim_latency_p99(stats, "inventoryItems"),
        "sim_lookup_served_p99_ms": _sim_latency_p99(stats, "inventoryItems", "served_p99_ms"),
        # the bulk lane's starts and polls as the shop served them (a slow start leaves its slot idle)
        "sim_start_served_p99_ms": _sim_latency_p99(stats, "bulkOperationRunMutation", "served_p99_ms"),
        "sim_poll_served_p99_ms": _sim_latency_p99(stats, "bulkOperation", "served_p99_ms"),
        "loop_lag_p99_ms": round(nearest_rank(lags, 99), 1) if lags else None,
        "loop_lag_max_ms": round(max(lags), 1) if lags else None,  # one long block hides in a p99
        "gc_pauses": collections,  # full / gen-1 collections: count, longest, total ms (they stop the loop)
        "urgent_split": split,
        "shop_probe_p50_ms": round(nearest_rank(probed, 50), 1) if probed else None,
        "shop_probe_p99_ms": round(nearest_rank(probed, 99), 1) if probed else None,
        "throttled": _throttled(stats),
        "media": result.media,  # products whose new image ended ready / failed / still processing
        "media_tail_s": _media_tail(events, args.speed),
        "media_settled_in_run": _media_checked(events, "settled_in_run"),
        "media_product_queries": _media_checked(events, "product_queries"),
        "end_after_last_op_s": round(total_sim - max((op.finished or 0.0 for op in ops), default=0.0), 1),
        "sim_cpu_share": round(sim_cpu / returned_real, 2),  # near 1.0: the shop itself is the bottleneck
        "goal": {"overhead_ratio": 1.02, "urgent_p99_ms": "<= urgent_sim_p99_ms + 50", "throttled": 0},
        "slot_seconds": breakdown(ops, total_s=total_sim, slots=SLOTS, lines_per_s=args.bulk_lines_per_s),
        "planned_at_s": [[round((t - started) * args.speed, 1), d["lines"]] for t, name, d in events
                         if name in ("sharded", "pooled")],
        "timeline": describe(ops),
        # what the run did after its last operation ended, in order (shop seconds, event): its end
        "end_events": _after_last_op(events, ops, started, args.speed),
    }


def _summary(values: list[float]) -> dict[str, float | int | None]:
    """Count, p50 and p99 (ms) of one kind of urgent change."""
    if not values:
        return {"count": 0, "p50_ms": None, "p99_ms": None}
    return {"count": len(values), "p50_ms": round(statistics.median(values), 1),
            "p99_ms": round(nearest_rank(values, 99), 1)}


def _shop_keys(figures: dict[str, Any]) -> dict[str, Any]:
    """The shop's p99 for one kind's requests, per change (drawn, served), and our share's p99."""
    return {k: figures[k] for k in ("sim_p99_ms", "sim_served_p99_ms", "ours_p99_ms")}


def _urgent_split(shop: Shop) -> dict[str, Any]:
    """Where the urgent changes' time went (the lane's own timings, ms); ``client_*``: each change's
    time minus its requests' time on the wire and its lookups — the part that is ours alone;
    ``lookup_rest_*``: a looked-up change's lookup minus its slowest lookup's grant and wire."""
    timings = shop.inventory.timings()
    stats = shop.inventory.statistics().lane
    ours = [(t.total_s - t.http_s - t.lookup_s) * 1000 for t in timings]  # neither the wire nor lookups
    # a looked-up change's lookup beyond its slowest lookup's grant and wire: batching, joins, the loop
    rest = [(t.lookup_s - t.lookup_permit_s - t.lookup_http_s) * 1000 for t in timings if t.lookup_s > 0]
    return {"phases": dict(stats.phases) if stats else {},
            "client_p50_ms": round(nearest_rank(ours, 50), 1) if ours else None,
            "client_p99_ms": round(nearest_rank(ours, 99), 1) if ours else None,
            "lookup_rest_p50_ms": round(nearest_rank(rest, 50), 1) if rest else None,
            "lookup_rest_p99_ms": round(nearest_rank(rest, 99), 1) if rest else None,
            "pair_waits": sum(t.pair_wait for t in timings),
            "requests_per_change_max": max((t.requests for t in timings), default=0)}


def _sim_latency_p99(stats: dict[str, Any], operation: str, key: str = "p99_ms") -> float | None:
    """The simulator's own latency p99 (ms) for requests whose root field is ``operation``: the drawn
    delay (``p99_ms``) or the time it took to serve them (``served_p99_ms``)."""
    entry = stats.get("latency_by_operation", {}).get(operation)
    return None if entry is None or key not in entry else float(entry[key])


def _after_last_op(events: list[tuple[float, str, dict[str, Any]]], ops: list[Any], started: float,
                   speed: float) -> list[tuple[float, str]]:
    """The events after the last operation's end was seen (shop seconds since the start; each name's
    first 5 only: a results chunk is one each)."""
    last = max((op.finished or 0.0 for op in ops), default=0.0)
    seen: dict[str, int] = {}
    out = []
    for t, name, _ in events:
        at = (t - started) * speed
        if at >= last and seen.get(name, 0) < 5:
            seen[name] = seen.get(name, 0) + 1
            out.append((round(at, 2), name))
    return out


def _media_tail(events: list[tuple[float, str, dict[str, Any]]], speed: float) -> float | None:
    """Shop seconds the end of the run spent on images still processing (after the last line)."""
    marks = {name: t for t, name, _ in events if name in ("media_follow_up", "media_checked")}
    if len(marks) < 2:
        return None
    return round((marks["media_checked"] - marks["media_follow_up"]) * speed, 1)


def _media_checked(events: list[tuple[float, str, dict[str, Any]]], key: str) -> int | None:
    """A figure of the follow-up's report (the ``media_checked`` event; None: the run added no image)."""
    checked = [data for _, name, data in events if name == "media_checked"]
    return int(checked[-1].get(key, 0)) if checked else None


def _throttled(stats: dict[str, Any]) -> int:
    """THROTTLED answers over every token, from the simulator's stats."""
    return sum(int(t["throttled"]) for t in stats["tokens"])
