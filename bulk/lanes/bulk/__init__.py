"""The bulk lane: JSONL shards run as parallel bulk mutation operations (claim → upload → run → poll →
reconcile). :mod:`.lane` drives the slots; :mod:`.operation` is one operation's life; :mod:`.feed` cuts
shards; :mod:`.reconcile` turns result files into row outcomes; :mod:`.shop_port` talks to the shop."""

from bulk.lanes.bulk._lane import (
    BulkLane,
    BulkLaneConfig,
    BulkOpsPort,
    LineFeed,
    OpStatus,
    decide,
    decode_remote,
    encode_remote,
)

__all__ = ["BulkLane", "BulkLaneConfig", "BulkOpsPort", "LineFeed", "OpStatus", "decide", "decode_remote",
           "encode_remote"]
