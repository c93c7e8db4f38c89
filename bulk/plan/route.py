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
    """What the ETA model assumes about the shop; defaults are Shopify's Standard plan."""

    tokens: int = 3
    bucket_size: float = 2000.0  # points, per token
    restore_rate: float = 100.0  # points per second, per token
    bulk_ops_per_token: int = 5  # API 2026-01+
    bulk_lines_per_s: float = 50.0  # per running operation (measure yours with `bulk sim` rehearsals)
    bulk_overhead_s: float = 20.0  # upload + start + first poll + result download
    request_latency_s: float = 0.25


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


def eta_bulk(lines: int, shards: int, profile: ShopProfile) -> float:
    """Seconds for ``lines`` split over ``shards`` operations running side by side."""
    if lines == 0:
        return 0.0
    parallel = max(1, min(shards, profile.tokens * profile.bulk_ops_per_token))
    return profile.bulk_overhead_s + lines / (profile.bulk_lines_per_s * parallel)


def shard_count(lines: int, profile: ShopProfile, *, min_lines_per_shard: int = 1000) -> int:
    """Enough shards to use every operation slot, but none too small to be worth its overhead."""
    slots = profile.tokens * profile.bulk_ops_per_token
    return max(1, min(slots, math.ceil(lines / min_lines_per_shard)))


def choose_route(lines: list[PlannedLine], profile: ShopProfile, *, force: str | None = None) -> Route:
    """Pick the faster route for these lines (``force`` = "bulk" | "direct" overrides)."""
    total = sum(map(line_cost, lines))
    shards = shard_count(len(lines), profile)
    direct = eta_direct(total, len(lines), profile)
    bulk = eta_bulk(len(lines), shards, profile)
    kind: Literal["bulk", "direct"] = "direct" if direct <= bulk else "bulk"
    if force in ("bulk", "direct"):
        kind = "bulk" if force == "bulk" else "direct"
    return Route(kind, bulk, direct, shards)
