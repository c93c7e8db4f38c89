"""The fault spec grammar of ``bulk sim --fault SPEC`` and ``sim://?fault=SPEC`` (pure parsing).

Why a small grammar of its own: a rehearsal or a test names the faults it wants in one string a
shell or a URL can carry, ``KIND[:key=value,...]``, and a typo must fail loudly (a fault silently not
injected makes a test pass that should not). Every error is a :class:`ConfigError` naming the spec.

Kinds (times are seconds of the simulator's clock since the shop started; tokens by 0-based index):

================  ==========================================================================
``ise``           HTTP 200 with ``errors[].extensions.code == "INTERNAL_SERVER_ERROR"``
``5xx``           an HTTP 5xx (``status=500|502|503|504``, default 503)
``hang``          the request is held ``hold=S`` seconds (default: until the client gives up)
``429``           HTTP 429 with ``Retry-After`` (``retry_after=S``, default 2)
``throttle``      THROTTLED (HTTP 200): the token's bucket is emptied, as by another client of the app
``revoke``        ``token=I`` gets 401 from ``at=T`` (or ``after=N`` of its requests) on, forever
``frozen``        HTTP 402 from ``at=T`` (default 0) on, for every token
``locked``        HTTP 423 from ``at=T`` (default 0) on
``notfound``      HTTP 404 from ``at=T`` (default 0) on: a wrong shop
``upload_limit``  ``bytes=N``: the staged-upload policy's ``content-length-range`` maximum
``limit_style``   ``in_progress`` or ``limit_reached`` (default), ``slots=N`` (default 5)
================  ==========================================================================

``ise``, ``5xx``, ``hang``, ``429`` and ``throttle`` take ``rate=P`` (a probability per request), a window
``at=T,for=N`` (every request in ``[T, T+N)``; no ``for`` = from T on), or both (the rate within the
window), and ``token=I`` to hit one token only. ``frozen``, ``locked`` and ``notfound`` take an
optional ``for=N`` too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bulk.errors import ConfigError
from bulk.sim._storage import MAX_BULK_UPLOAD_BYTES

WINDOWED = frozenset({"ise", "5xx", "hang", "429", "throttle"})
SHOP_WIDE = frozenset({"frozen", "locked", "notfound"})
KINDS = (*sorted(WINDOWED), "revoke", *sorted(SHOP_WIDE), "upload_limit", "limit_style")
LIMIT_STYLES = ("limit_reached", "in_progress")
FIVE_XX = (500, 502, 503, 504)
DEFAULT_RETRY_AFTER_S = 2.0  # Shopify's REST answers say "Retry-After: 2.0" at the standard 2 calls/s

_KEYS: dict[str, frozenset[str]] = {
    "ise": frozenset({"rate", "at", "for", "token"}),
    "5xx": frozenset({"rate", "at", "for", "token", "status"}),
    "hang": frozenset({"rate", "at", "for", "token", "hold"}),
    "429": frozenset({"rate", "at", "for", "token", "retry_after"}),
    "throttle": frozenset({"rate", "at", "for", "token"}),
    "revoke": frozenset({"token", "at", "after"}),
    "frozen": frozenset({"at", "for"}),
    "locked": frozenset({"at", "for"}),
    "notfound": frozenset({"at", "for"}),
    "upload_limit": frozenset({"bytes"}),
    "limit_style": frozenset({"slots"}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """One parsed ``--fault`` spec. ``text`` is the spec as written, for messages."""

    kind: str
    text: str
    rate: float | None = None  # None: every request in the window
    at: float = 0.0
    duration: float | None = None  # the window's length (``for=``); None: from ``at`` on, forever
    token: int | None = None  # None: every token
    after: int | None = None  # revoke: the token's first ``after`` requests are still answered
    status: int = 503  # 5xx
    hold: float | None = None  # hang: None = until the client gives up
    retry_after: float = DEFAULT_RETRY_AFTER_S  # 429
    bytes: int | None = None  # upload_limit
    style: str = "limit_reached"  # limit_style
    slots: int | None = None  # limit_style

    def in_window(self, elapsed: float) -> bool:
        """Whether ``elapsed`` seconds since the shop started lie in this spec's window."""
        if elapsed < self.at:
            return False
        return self.duration is None or elapsed < self.at + self.duration

    def hits(self, token: int) -> bool:
        """Whether this spec applies to requests of ``token``."""
        return self.token is None or self.token == token


def parse_fault(text: str, *, tokens: int | None = None) -> FaultSpec:
    """``"5xx:at=10,for=3"`` → :class:`FaultSpec`; ``tokens`` (how many the shop has) bounds ``token=``."""
    raw = text.strip()
    kind, _, rest = raw.partition(":")
    kind = kind.strip().lower()
    if kind not in _KEYS:
        raise _bad(text, f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    values: dict[str, str] = {}
    words: list[str] = []
    for item in (part.strip() for part in rest.split(",")) if rest.strip() else ():
        if not item:
            raise _bad(text, "an empty item between commas")
        key, eq, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not eq:
            words.append(key)
            continue
        if key not in _KEYS[kind]:
            allowed = ", ".join(sorted(_KEYS[kind])) or "none"
            raise _bad(text, f"{kind} takes no {key!r} (it takes: {allowed})")
        if key in values:
            raise _bad(text, f"{key!r} given twice")
        values[key] = value.strip()
    if words and kind != "limit_style":
        raise _bad(text, f"expected key=value, got {words[0]!r}")
    spec = _build(kind, raw, values, words, text)
    if spec.token is not None and tokens is not None and spec.token >= tokens:
        raise _bad(text, f"token={spec.token}, but the shop has {tokens} tokens (indexes 0 to {tokens - 1})")
    return spec


def parse_faults(texts: Iterable[str], *, tokens: int | None = None) -> tuple[FaultSpec, ...]:
    """Every spec of ``texts`` parsed; ``upload_limit`` and ``limit_style`` may be given once each."""
    specs = tuple(parse_fault(t, tokens=tokens) for t in texts)
    for single in ("upload_limit", "limit_style"):
        given = [s.text for s in specs if s.kind == single]
        if len(given) > 1:
            raise ConfigError(f"fault specs {given}: {single} may be given only once")
    return specs


def upload_limit(specs: Sequence[FaultSpec]) -> int | None:
    """The ``upload_limit`` fault's byte count, if one is given."""
    return next((s.bytes for s in specs if s.kind == "upload_limit"), None)


def limit_style(specs: Sequence[FaultSpec]) -> FaultSpec | None:
    """The ``limit_style`` spec, if one is given."""
    return next((s for s in specs if s.kind == "limit_style"), None)


def _build(kind: str, raw: str, values: dict[str, str], words: list[str], text: str) -> FaultSpec:
    num = _Numbers(values, text)
    if kind == "limit_style":
        if len(words) != 1 or words[0] not in LIMIT_STYLES:
            raise _bad(text, f"limit_style takes one of {', '.join(LIMIT_STYLES)}")
        return FaultSpec(kind=kind, text=raw, style=words[0], slots=num.integer("slots", minimum=1))
    if kind == "upload_limit":
        size = num.integer("bytes", minimum=1)
        if size is None:
            raise _bad(text, "upload_limit needs bytes=N")
        if size > MAX_BULK_UPLOAD_BYTES:
            raise _bad(text, f"bytes may only lower the limit (at most {MAX_BULK_UPLOAD_BYTES})")
        return FaultSpec(kind=kind, text=raw, bytes=size)
    at = num.real("at", minimum=0.0)
    duration = num.real("for", minimum=0.0, strict=True)
    if kind == "revoke":
        token = num.integer("token", minimum=0)
        after = num.integer("after", minimum=0)
        if token is None:
            raise _bad(text, "revoke needs token=I (a 0-based token index)")
        if at is not None and after is not None:
            raise _bad(text, "give at=T or after=N, not both")
        return FaultSpec(kind=kind, text=raw, token=token, at=at or 0.0, after=after)
    if kind in SHOP_WIDE:
        return FaultSpec(kind=kind, text=raw, at=at or 0.0, duration=duration)
    rate = num.real("rate", minimum=0.0, maximum=1.0, strict=True)
    if rate is None and at is None and duration is None:
        raise _bad(text, f"{kind} needs rate=P or a window at=T,for=N")
    status = num.integer("status", minimum=0)
    if status is not None and status not in FIVE_XX:
        raise _bad(text, f"status must be one of {', '.join(map(str, FIVE_XX))}")
    retry_after = num.real("retry_after", minimum=0.0)
    return FaultSpec(
        kind=kind,
        text=raw,
        rate=rate,
        at=at or 0.0,
        duration=duration,
        token=num.integer("token", minimum=0),
        status=status or 503,
        hold=num.real("hold", minimum=0.0, strict=True),
        retry_after=DEFAULT_RETRY_AFTER_S if retry_after is None else retry_after,
    )


class _Numbers:
    """Reads numbers out of one spec's ``key=value`` items, naming the spec on any error."""

    def __init__(self, values: dict[str, str], text: str) -> None:
        self.values = values
        self.text = text

    def real(
        self, key: str, *, minimum: float, maximum: float | None = None, strict: bool = False
    ) -> float | None:
        raw = self.values.get(key)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise _bad(self.text, f"{key}={raw!r} is not a number") from None
        low_ok = value > minimum if strict else value >= minimum
        if not math.isfinite(value) or not low_ok or (maximum is not None and value > maximum):
            bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
            upper = f" and <= {maximum:g}" if maximum is not None else ""
            raise _bad(self.text, f"{key} must be {bound}{upper}")
        return value

    def integer(self, key: str, *, minimum: int) -> int | None:
        raw = self.values.get(key)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise _bad(self.text, f"{key}={raw!r} is not a whole number") from None
        if value < minimum:
            raise _bad(self.text, f"{key} must be >= {minimum}")
        return value


def _bad(text: str, why: str) -> ConfigError:
    return ConfigError(f"fault spec {text!r}: {why}")
