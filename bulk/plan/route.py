"""Route a batch: one bulk operation, or direct mutations through the scheduler — by an ETA model.

A bulk operation has a fixed overhead (staged upload, start, polling, result download) but its lines
cost no bucket points; direct mutations start at once but each pays ~10 points from buckets that refill
at the plan's restore rate. A few hundred changes are often faster direct; a hundred thousand never are.
The model is deliberately simple and pure, and ``bulk submit --dry-run`` prints both ETAs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bulk.plan.diff import PlannedLine

MUTATION_BASE_COST = 10.0
PER_VARIANT_COST = 0.2  # productVariantsBulkUpdate, changelog 2025-10-01
PER_FILE_COST = 1.9  # productSet, per `input.files` entry: the schema's "Complexity cost: 1.9 per file."


@dataclass(frozen=True, kw_only=True)
class ShopProfile:
    """What the ETA model assumes about the shop; defaults are Shopify's Standard plan.

    The bulk figures of a real shop are not documented (measure yours with a rehearsal);
    :meth:`simulator` gives the figures measured against ``bulk sim`` (docs/simulator.md)."""

    tokens: int = 3
    bucket_size: float = 2000.0  # points, per token
    restore_rate: float = 100.0  # points per second, per token
    bulk_ops_per_token: int = 5  # API 2026-01+
    bulk_lines_per_s: float = 50.0  # per running operation (measure yours with `bulk sim` rehearsals)
    shop_lines_per_s: float | None = None  # the shop's pace over all its operations at once (None:
    # as many operations as run, each at its own pace)
    bulk_overhead_s: float = 20.0  # per operation: upload + start + CREATED → RUNNING + seeing its end
    # + result download; paid once per *wave* of operations (slots run side by side)
    bulk_wave_s: float | None = None  # the same for each later wave (None: ``bulk_overhead_s``)
    bulk_lead_s: float = 1.0  # reading and planning the first chunk, before the first operation starts
    min_op_lines: int = 100  # the lane cuts no smaller operation (BulkLaneConfig.min_op_lines)
    first_chunk_rows: int = 5_000  # the reader's first chunk (ReadAhead.first_chunk_rows): a plan
    # larger than it reaches the lane while the first operations run, and takes three waves
    request_latency_s: float = 0.25

    @classmethod
    def simulator(
        cls, *, tokens: int = 3, plan: str = "standard", bulk_lines_per_s: float = 2000.0, speed: float = 1.0
    ) -> ShopProfile:
        """A simulated shop (``bulk sim``, ``sim://``), with the figures measured against ``bulk sim``
        at speed 1 on a 2-core box (docs/simulator.md, "How long a run takes")."""
        bucket, restore = PLAN_BUCKETS.get(plan, PLAN_BUCKETS["standard"])
        return cls(tokens=tokens, bucket_size=bucket, restore_rate=restore * speed,
                   bulk_lines_per_s=bulk_lines_per_s * speed, shop_lines_per_s=SIM_LINES_PER_S,
                   bulk_overhead_s=SIM_START_S / speed + SIM_SEEN_S, bulk_wave_s=SIM_WAVE_S,
                   bulk_lead_s=SIM_LEAD_S)


PLAN_BUCKETS = {"standard": (2000.0, 100.0), "advanced": (4000.0, 200.0), "plus": (20000.0, 1000.0),
                "enterprise": (40000.0, 2000.0)}  # points, points/s per token (docs/design.md)

# Measured against the served simulator at speed 1 (docs/simulator.md has the table and the commands).
SIM_LINES_PER_S = 4900.0  # mutation lines the simulator executes per second, all operations together
# (one Python process: far below its nominal 2,000 per operation × 15 operations)
SIM_START_S = 1.0  # bulk.sim._bulk_op_state.START_LATENCY_S: CREATED → RUNNING, in the shop's time
SIM_SEEN_S = 0.4  # from the shop's end to our having the results (poll, download, reconcile)
SIM_WAVE_S = 6.7  # each later wave (fitted: the simulator runs a second wave of mid-sized operations
# slower than its total pace; docs/simulator.md)
SIM_LEAD_S = 0.4  # the first chunk read and planned, the first shards cut, uploaded and started


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen route and both estimates, in seconds."""

    kind: Literal["bulk", "direct"]
    eta_bulk_s: float
    eta_direct_s: float
    shards: int


def line_cost(line: PlannedLine) -> float:
    """Requested cost of sending this line as one direct mutation."""
    if line.kind == "variants":
        return math.ceil(MUTATION_BASE_COST + PER_VARIANT_COST * len(line.variables["variants"]))
    if line.kind == "set":  # an image set: each file is work for the shop, charged as such
        return math.ceil(MUTATION_BASE_COST + PER_FILE_COST * len(line.variables["input"].get("files") or ()))
    return MUTATION_BASE_COST


def eta_direct(total_cost: float, requests: int, profile: ShopProfile) -> float:
    """Seconds to send ``requests`` mutations costing ``total_cost`` points in all."""
    if requests == 0:
        return 0.0
    burst = profile.tokens * profile.bucket_size
    refill = profile.tokens * profile.restore_rate
    return max(0.0, total_cost - burst) / refill + profile.request_latency_s


def eta_bulk(lines: int, shards: int, profile: ShopProfile, *, rows: int | None = None) -> float:
    """Seconds for ``lines`` (from ``rows`` input rows, default one each) through the bulk lane.

    The lane uses every operation slot that can get ``min_op_lines`` (not ``shards``: that is the
    shard count of a fleet's run, whose workers run as many at once), cut so that all of them end
    together; the shop's pace is the slots' paces together, capped by ``shop_lines_per_s``. Each wave
    of operations pays the overhead once. A plan within the reader's first chunk is one wave; a larger
    one took three in every measured run: the first chunk's, the balanced cut of the rest once the
    first operations end, and the lines left for the slots that free first (``bulk.lanes.bulk._sizing``)."""
    del shards  # the lane cuts as slots free up, whatever the plan's shard count
    if lines == 0:
        return 0.0
    slots = profile.tokens * profile.bulk_ops_per_token
    running = max(1, min(slots, lines // profile.min_op_lines))
    pace = running * profile.bulk_lines_per_s
    if profile.shop_lines_per_s is not None:
        pace = min(pace, profile.shop_lines_per_s)
    later = 0 if (rows if rows is not None else lines) <= profile.first_chunk_rows else 2
    wave = profile.bulk_overhead_s if profile.bulk_wave_s is None else profile.bulk_wave_s
    return profile.bulk_lead_s + profile.bulk_overhead_s + later * wave + lines / pace


def shard_count(lines: int, profile: ShopProfile, *, min_lines_per_shard: int = 1000) -> int:
    """Enough shards to use every operation slot, but none too small to be worth its overhead."""
    slots = profile.tokens * profile.bulk_ops_per_token
    return max(1, min(slots, math.ceil(lines / min_lines_per_shard)))


def choose_route(lines: list[PlannedLine], profile: ShopProfile, *, force: str | None = None) -> Route:
    """Pick the faster route for these lines (``force`` = "bulk" | "direct" overrides)."""
    total = sum(map(line_cost, lines))
    shards = shard_count(len(lines), profile)
    direct = eta_direct(total, len(lines), profile)
    bulk = eta_bulk(len(lines), shards, profile, rows=sum(len(line.rows) for line in lines))
    kind: Literal["bulk", "direct"] = "direct" if direct <= bulk else "bulk"
    if force in ("bulk", "direct"):
        kind = "bulk" if force == "bulk" else "direct"
    return Route(kind, bulk, direct, shards)
