"""The two lanes that feed the scheduler: the urgent lane (inventory, micro-batched) and the bulk lane.

Why lanes: both share one scheduler and three token buckets; a lane decides *how* work is grouped
(micro-batches of ≤ 250 quantities vs bulk-operation shards) and at which priority it asks.
"""
