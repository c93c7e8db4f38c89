"""What a simulated shop looks like: :class:`SimConfig`, and ``sim://`` URLs that describe one.

Why a URL: everything that takes a shop (``--shop``, ``BULK_SHOP``) can take ``sim://?products=1000
&plan=plus`` instead of a real ``https://…myshopify.com`` and get an embedded simulator, so a
merchant rehearses with exactly the command line they will run for real.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bulk.errors import ConfigError
from bulk.sim._bucket import Plan
from bulk.sim._fault_specs import FaultSpec, parse_faults

# Three apps on one shop is the design's reference setup; their tokens are only ever shown by index.
DEFAULT_TOKENS: tuple[str, ...] = ("shpat_sim_token_0", "shpat_sim_token_1", "shpat_sim_token_2")


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """A simulated shop. Every figure is in the shop's own (simulated) time, scaled by ``speed``.

    ``tokens`` never appear in the repr: logs and errors name a token by its index only.
    """

    products: int = 1000
    plan: str = "standard"
    tokens: Sequence[str] = field(default=DEFAULT_TOKENS, repr=False)
    latency_ms: float = 0.0  # mean of a lognormal latency per request
    fault_rate: float = 0.0  # share of requests answered 502/503
    drop_rate: float = 0.0  # share of requests whose connection is dropped (after applying them)
    speed: float = 1.0  # time scale: restore rates, bulk processing and latency all scale
    max_concurrency: int | None = None  # hard cap; beyond it → 503 + a counted violation
    bulk_lines_per_s: float = 2000.0
    bulk_slowdown: float = 1.0  # > 1 makes bulk operations that much slower
    seed: int = 0
    match: Sequence[str] = ()  # input files whose SKUs and handles the catalog must hold (bulk.sim._seed)
    unreachable: Sequence[str] = ()  # hosts whose images end FAILED (IMAGE_DOWNLOAD_FAILURE; bulk.sim._media)
    media_processing_s: float = 2.0  # an added image is READY (or FAILED) this long after it was added
    faults: Sequence[str] = ()  # fault specs, e.g. "5xx:at=10,for=3" (grammar: bulk.sim._fault_specs)
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "match", tuple(self.match))
        object.__setattr__(self, "unreachable", tuple(self.unreachable))
        # one spec given as a plain string is one spec, not a tuple of its characters
        faults = (self.faults,) if isinstance(self.faults, str) else tuple(self.faults)
        object.__setattr__(self, "faults", faults)
        try:
            Plan.parse(self.plan)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if not self.tokens or any(not t for t in self.tokens):
            raise ConfigError("a simulated shop needs at least one non-empty access token")
        if len(set(self.tokens)) != len(self.tokens):
            raise ConfigError("access tokens must be distinct (each one is its own app and bucket)")
        checks = [
            (self.products >= 0, "products must be >= 0"),
            (self.latency_ms >= 0, "latency_ms must be >= 0"),
            (0 <= self.fault_rate <= 1, "fault_rate must be between 0 and 1"),
            (0 <= self.drop_rate <= 1, "drop_rate must be between 0 and 1"),
            (self.fault_rate + self.drop_rate <= 1, "fault_rate + drop_rate must be <= 1"),
            (self.speed > 0, "speed must be > 0"),
            (self.max_concurrency is None or self.max_concurrency >= 1, "max_concurrency must be >= 1"),
            (self.bulk_lines_per_s > 0, "bulk_lines_per_s must be > 0"),
            (self.bulk_slowdown > 0, "bulk_slowdown must be > 0"),
            (self.media_processing_s >= 0, "media_processing_s must be >= 0"),
            (0 <= self.port <= 65535, "port must be between 0 and 65535"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.fault_specs  # noqa: B018 - parsed now so a bad spec fails here, naming itself

    @property
    def fault_specs(self) -> tuple[FaultSpec, ...]:
        """``faults`` parsed (ConfigError naming the spec if one is wrong)."""
        return parse_faults(self.faults, tokens=len(self.tokens))

    @property
    def plan_figures(self) -> Plan:
        """The :class:`Plan` named by ``plan``."""
        return Plan.parse(self.plan)


_INT = {"products", "max_concurrency", "seed", "port"}
_FLOAT = {
    "latency_ms",
    "fault_rate",
    "drop_rate",
    "speed",
    "bulk_lines_per_s",
    "bulk_slowdown",
    "media_processing_s",
}


def parse_sim_url(url: str) -> SimConfig:
    """``sim://?products=1000&plan=plus&tokens=a,b`` → :class:`SimConfig`.

    Query keys are :class:`SimConfig` field names (``-`` may replace ``_``); ``tokens`` is comma
    separated; ``unreachable`` may be repeated or comma separated; ``fault`` (or ``faults``) may be
    repeated, one spec each (``fault=5xx:at=10,for=3&fault=revoke:token=1,at=20``). Unknown keys are an
    error rather than silently ignored.
    """
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise ConfigError(f"not a sim:// URL: scheme {parts.scheme!r}")
    known = {f.name for f in fields(SimConfig)}
    values: dict[str, Any] = {}
    for raw_key, raw_values in parse_qs(parts.query, keep_blank_values=True).items():
        key = raw_key.replace("-", "_")
        value = raw_values[-1]
        if key in ("fault", "faults"):
            values["faults"] = (*values.get("faults", ()), *(v for v in raw_values if v))
            continue
        if key not in known:
            raise ConfigError(f"unknown sim:// option {raw_key!r} (known: {', '.join(sorted(known))})")
        try:
            if key == "unreachable":  # repeatable and comma separated: every value counts
                values[key] = tuple(h for v in raw_values for h in v.split(",") if h)
            elif key in ("tokens", "match"):
                values[key] = tuple(t for t in value.split(",") if t)
            elif key in _INT:
                values[key] = None if key == "max_concurrency" and value in ("", "none") else int(value)
            elif key in _FLOAT:
                values[key] = float(value)
            else:
                values[key] = value
        except ValueError as exc:
            raise ConfigError(f"sim:// option {raw_key}={value!r} is not a number") from exc
    return SimConfig(**values)
