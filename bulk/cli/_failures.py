"""Every failure of a command as one ``bulk: error:`` line in the user's words: what, where, what to do.

Why here and not in the library: the library raises typed errors carrying data
(:mod:`bulk.errors`); only the command knows what the user typed — the shop's name, the file — so the
words that name them are chosen here. Network faults name the host and what to check instead of an
aiohttp class (``cannot resolve nosuch.myshopify.com: check the shop name and your network``); file
problems name the file and never a line 0; anything unexpected is still one line (the traceback is
logged at debug level: ``-vv`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp.connector

from bulk.errors import BulkError, ConfigError, InputError, NetworkError
from bulk.shopify.endpoint import parse_shop

log = logging.getLogger("bulk.cli")

# The aiohttp classes the transport names in a NetworkError's text (it never chains the exception: the
# chain could hold the request's headers, and so a token), most specific first.
_NETWORK_WORDS = (
    ("ClientConnectorDNSError", "cannot resolve {host}: check the shop name and your network"),
    ("ClientConnectorCertificateError", "{host} presented a certificate that cannot be trusted: check "
                                        "the shop address (a proxy may be intercepting the connection)"),
    ("ClientConnectorSSLError", "the TLS handshake with {host} failed: check the shop address"),
    ("ClientConnectorError", "cannot connect to {host}: the connection was refused or the host is "
                             "unreachable; check the address and that the server is running"),
    ("ServerDisconnectedError", "{host} closed the connection before answering: try again later"),
    ("timed out", "{host} did not answer in time: check your network, then run the command again "
                  "(it resumes)"),
)


def shop_host(shop: str | None) -> str | None:
    """``HOST[:PORT]`` of the shop the user named (``nosuch`` → ``nosuch.myshopify.com``), if any."""
    if not shop or shop.startswith("sim:"):
        return None
    url = shop if "://" in shop else f"https://{shop}"
    host = urlsplit(url).netloc or shop
    return host if "." in host or ":" in host else f"{host}.myshopify.com"


PREFLIGHT_TIMEOUT_S = 10.0


async def check_reachable(shop: str | None) -> None:
    """Resolve the shop's host and open (then close) one TCP connection to it, raising
    :class:`ConfigError` in plain words when either fails. Why before the first request: the
    transport retries network faults for up to minutes (right for a blip during a run), which would
    make a misspelt shop name or a stopped simulator take that long to be reported. The resolver is
    the one aiohttp uses, so the check sees what the requests would."""
    if not shop:
        return  # the command says "no shop given" itself
    endpoint = parse_shop(shop)  # a malformed shop is refused here, in the same words as later
    if endpoint.graphql_url is None:
        return  # sim://: in this process
    parts = urlsplit(endpoint.graphql_url)
    name = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.netloc
    resolver = aiohttp.connector.DefaultResolver()  # type: ignore[attr-defined]  # the one it uses
    try:
        addresses = await resolver.resolve(name, port)
    except OSError:
        raise ConfigError(f"cannot resolve {host}: check the shop name and your network") from None
    finally:
        await resolver.close()
    try:
        async with asyncio.timeout(PREFLIGHT_TIMEOUT_S):
            _, writer = await asyncio.open_connection(addresses[0]["host"], port)
    except TimeoutError:
        raise ConfigError(f"{host} did not answer within {PREFLIGHT_TIMEOUT_S:g} s: check your network "
                          "(a firewall or proxy may block it)") from None
    except OSError:
        raise ConfigError(f"cannot connect to {host}: the connection was refused or the host is "
                          "unreachable; check the address and that the server is running") from None
    writer.close()
    with contextlib.suppress(OSError):  # the check is done: the connection was made
        await writer.wait_closed()


def check_input_file(path: Path) -> None:
    """Raise :class:`ConfigError` in plain words unless ``path`` is a non-empty file this process can read."""
    try:
        with path.open("rb") as f:
            first = f.read(1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file: check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory: give a CSV or JSONL file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied: this user cannot read the file "
                          "(check its permissions)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if not first:
        raise ConfigError(f"{path}: the file is empty: nothing to submit (a CSV needs a header line "
                          "and rows)")


def explain(exc: BaseException, *, shop: str | None = None) -> str:
    """The one line (without the ``bulk: error:`` prefix) that tells the user what went wrong."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # a task group's: its first failure
        exc = exc.exceptions[0]
    if isinstance(exc, InputError) and exc.line <= 0:  # a whole-file problem: no line to point at
        return f"{exc.file}: {exc.reason}"
    if isinstance(exc, NetworkError):
        return _network(exc, shop_host(shop))
    if isinstance(exc, BulkError):
        return str(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    log.debug("unexpected error", exc_info=exc, extra={"action": "cli.unexpected"})
    return (f"unexpected {type(exc).__name__}: {exc} (this is a bug; run again with -vv for the "
            "traceback and report it)")


def _network(exc: NetworkError, host: str | None) -> str:
    text = str(exc)
    talking_to_shop = text.startswith("network fault talking to the shop") or "transport fault" in text
    if host is not None and talking_to_shop:
        for marker, words in _NETWORK_WORDS:
            if marker in text:
                return words.format(host=host)
        return f"cannot talk to {host}: {text}; check your network and try again"
    return f"{text}; check your network and try again"


def _os_error(exc: OSError) -> str:
    name = os.fsdecode(exc.filename) if exc.filename is not None else None
    words = {errno.EACCES: "permission denied: check its permissions", errno.EISDIR: "is a directory",
             errno.ENOENT: "no such file or directory", errno.ENOSPC: "no space left on the device",
             errno.EROFS: "the file system is read-only"}.get(exc.errno or 0, exc.strerror or str(exc))
    return f"{name}: {words}" if name else words
