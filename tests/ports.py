"""Loopback ports a test keeps for itself from the moment it picks them.

Picking a free port (bind to 0, read it, close) and binding it again later leaves a window in which
another process on the box takes it: a parallel test's server, another engineer's suite, any outgoing
connection's ephemeral port. On a loaded box that window is long (a worker process that starts
slowly), and the test then fails at random. :func:`reserved_port` closes the window: the port stays
bound, but never listens, until the block ends. Meanwhile a connection to it is refused, as to a server
that is down, no other process can bind it, and a server of the test's own can still listen on it:
redis-server and ``asyncio.start_server`` set ``SO_REUSEADDR``, as the reserving socket does, and Linux
lets such sockets share a port while at most one of them listens.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def reserved_port() -> Iterator[int]:
    """A loopback TCP port kept for the block: refused to connections, bindable only by a server
    that sets ``SO_REUSEADDR`` (which the test starts on it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def reserve(port: int) -> Iterator[None]:
    """Keep ``port`` (free now: its server just stopped) until the block ends, as :func:`reserved_port`."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        yield


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback TCP port on which nothing listens during the block (bound without ``SO_REUSEADDR``:
    no server, ours or another's, can take it): every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
