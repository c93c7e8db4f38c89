"""Planning: coalesce (last write wins), diff against the catalog, route, shard, undo.

Everything here is pure or writes only local files; nothing talks to the shop.
"""

from bulk.plan._coalesce import Coalescer, RowId
from bulk.plan._shard import ShardFile, read_rows, write_shards
from bulk.plan.diff import Plan, PlannedLine, RowOutcome, build_plan
from bulk.plan.route import Route, ShopProfile, choose_route, line_cost

__all__ = [
    "Coalescer",
    "Plan",
    "PlannedLine",
    "Route",
    "RowId",
    "RowOutcome",
    "ShardFile",
    "ShopProfile",
    "build_plan",
    "choose_route",
    "line_cost",
    "read_rows",
    "write_shards",
]
