"""Every Redis key and channel the scheduler uses, built in one place and namespaced per shop.

Why one module: a key typo in one worker would silently split the shop's state in two; here the
names are written once. The shop name is embedded in a hash tag (``{shop}``) so a Redis Cluster keeps
all of one shop's keys on one slot, which the Lua script needs.
"""

from __future__ import annotations

from bulk.errors import ConfigError

PREFIX = "bulk:sched"


def _shop(shop: str) -> str:
    if not shop or any(ch in shop for ch in "{}\n\r "):
        raise ConfigError(f"invalid shop name for a Redis key: {shop!r}")
    return f"{PREFIX}:{{{shop}}}"


def state(shop: str) -> str:
    """The JSON state of the shop's scheduler (buckets, permits, clients, waiters)."""
    return f"{_shop(shop)}:state"


def wake_prefix(shop: str) -> str:
    """Prefix of the per-client wake-up channels (the Lua script appends the client id)."""
    return f"{_shop(shop)}:wake:"


def wake_channel(shop: str, client: str) -> str:
    """Pub/sub channel telling one client that one of its waiters is now first in line.

    Per client, so a freed permit wakes one process, not every worker of the shop.
    """
    return wake_prefix(shop) + client
