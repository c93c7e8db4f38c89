"""Where a shop answers: ``https://NAME.myshopify.com``, ``NAME.myshopify.com`` or ``sim://…`` (pure).

Why one parser: the CLI (``--shop``, ``SHOPIFY_SHOP``), the library (``Shop.connect``) and the
benchmarks must agree on what a shop string means, and a typo must fail before any token is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bulk.errors import ConfigError
from bulk.shopify.transport import API_VERSION

GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
_SHOP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A shop: either a GraphQL URL to call, or a ``sim://`` URL for an embedded simulator."""

    graphql_url: str | None = None
    sim_url: str | None = None

    @property
    def is_sim(self) -> bool:
        """True when an embedded simulator must be started first."""
        return self.sim_url is not None

    @property
    def identity(self) -> str:
        """Which shop this is, whatever way it was written: ``https://name.myshopify.com`` for
        ``NAME.myshopify.com``, ``https://NAME.myshopify.com/`` and the full GraphQL URL alike (the API
        version is not part of a shop), ``http://127.0.0.1:PORT`` for a served simulator, the
        ``sim://`` URL as given for an embedded one. Catalog caches and run keys are keyed on it."""
        if self.graphql_url is None:
            return self.sim_url or "sim://"
        parts = urlsplit(self.graphql_url)
        return f"{parts.scheme}://{parts.netloc}"


def parse_shop(shop: str) -> Endpoint:
    """Parse a shop string; :class:`~bulk.errors.ConfigError` says what is wrong with it."""
    text = shop.strip()
    if not text:
        raise ConfigError("no shop given (use --shop or SHOPIFY_SHOP, e.g. NAME.myshopify.com)")
    if text.startswith("sim:"):
        return Endpoint(sim_url=text)
    if "://" not in text:
        if not _SHOP_NAME.match(text.lower()):
            raise ConfigError(
                f"shop {text!r} is not NAME.myshopify.com, https://NAME.myshopify.com or sim://"
            )
        return Endpoint(graphql_url=f"https://{text.lower()}{GRAPHQL_PATH}")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"shop URL {text!r} must be https://NAME.myshopify.com")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"shop URL {text!r}: plain http is only allowed on loopback (a simulator)")
    base = f"{parts.scheme}://{parts.netloc.lower()}"
    path = parts.path.rstrip("/")
    return Endpoint(graphql_url=base + (path if path.endswith("/graphql.json") else GRAPHQL_PATH))


def parse_tokens(tokens: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Tokens from a comma-separated string or a sequence; empty entries dropped.

    Errors never quote a token, only how many were found.
    """
    raw = tokens.split(",") if isinstance(tokens, str) else list(tokens)
    cleaned = tuple(t.strip() for t in raw if t and t.strip())
    if not cleaned:
        raise ConfigError("no access token given (use --tokens or SHOPIFY_ACCESS_TOKENS, comma-separated)")
    if len(set(cleaned)) != len(cleaned):
        raise ConfigError(f"the {len(cleaned)} access tokens given are not distinct")
    return cleaned
