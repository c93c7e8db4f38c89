"""Scripted and rate-based faults in Shopify's documented shapes: :class:`FaultSchedule` decides, the
server (``bulk/sim/_server.py``) carries the decision out.

Why pure and seeded: like :class:`bulk.sim._faults.FaultPlan`, a decision depends only on the specs,
the seed, the request's token, the time since the shop started and what was decided before, so a
failed rehearsal replays exactly. Specs come from :mod:`bulk.sim._fault_specs`.

Order for one request (the first that applies wins; see docs/simulator.md):
``notfound`` (404) → ``frozen`` (402) → ``locked`` (423) (:meth:`FaultSchedule.shop_wide`, before
the token is looked at) → ``revoke`` (401) → ``hang`` (held, then the rest still applies) → ``429``
→ ``throttle`` → ``5xx`` → ``ise`` (:meth:`FaultSchedule.decide`). Rates draw one number per
applicable spec.

Shapes (stricter reading where Shopify is silent, written down in docs/simulator.md):

- 401/402/404/423/429 are refused before anything runs: nothing applied, nothing charged;
- ``throttle`` empties the token's bucket just before the request reaches it, so the shop's own
  THROTTLED answer follows, with the real ``throttleStatus`` — and the bucket refills from zero;
- a 503 is refused before running too; a 500, 502 or 504 ran (applied, charged), then failed;
- ``INTERNAL_SERVER_ERROR`` ran (applied, charged), then answered HTTP 200 with only ``errors``
  (the documented sample has no ``data`` and no ``extensions.cost``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bulk.sim._fault_specs import FaultSpec

# Shopify's bodies. 401: the Admin API's; 402/423/404: what real shops answer (a frozen shop
# "Unavailable Shop", a locked one "This store is unavailable"); 429: the REST answer the docs show.
INVALID_TOKEN_BODY = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}
FROZEN_BODY = {"errors": "Unavailable Shop"}
LOCKED_BODY = {"errors": "This store is unavailable"}
NOT_FOUND_BODY = {"errors": "Not Found"}
TOO_MANY_BODY = {
    "errors": "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
}
# Shopify documents no body for its 5xx on the Admin API; JSON with a plain sentence, like the others.
SERVER_ERROR_BODIES: dict[int, dict[str, str]] = {
    500: {"errors": "Internal Server Error"},
    502: {"errors": "Bad Gateway: the shop did not answer in time. Retry with backoff."},
    503: {"errors": "Service Unavailable: the shop is temporarily unavailable. Retry with backoff."},
    504: {"errors": "Gateway Timeout: the request could not complete in time."},
}
_SHOP_WIDE = (("notfound", 404, NOT_FOUND_BODY), ("frozen", 402, FROZEN_BODY), ("locked", 423, LOCKED_BODY))


def internal_error_body(request_id: str) -> dict[str, Any]:
    """Shopify's ``INTERNAL_SERVER_ERROR`` answer (HTTP 200), as its changelog and docs show it."""
    return {
        "errors": [
            {
                "message": "Internal error. Looks like something went wrong on our end.\n"
                f"Request ID: {request_id} (include this in support requests).",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one request.

    ``kind`` is the fault's kind (``"none"`` when no fault applies); ``status``/``body``/``headers``
    the answer when ``runs`` is False (refused before running) or ``after_run`` (ran, then this
    answer replaces the real one). ``hold`` first holds the request (``hold_s`` None = until the
    client gives up); a held request then goes on as ``kind`` says.
    """

    kind: str = "none"
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    runs: bool = True
    after_run: bool = False
    drain: bool = False  # empty the token's bucket first (the request then meets THROTTLED)
    hold: bool = False
    hold_s: float | None = None
    request_id: str | None = None


NO_FAULT = Decision()


class FaultSchedule:
    """Seeded decisions over parsed :class:`FaultSpec` s, on the time since the shop started."""

    def __init__(self, specs: Sequence[FaultSpec] = (), *, seed: int = 0) -> None:
        self.specs = tuple(specs)
        self._rng = random.Random(f"faults-{seed}")  # apart from FaultPlan's stream: both replay
        self._seen: dict[int, int] = {}  # token → requests that reached the revocation check
        self._request_ids = 0

    @property
    def active(self) -> bool:
        """Whether any per-request fault is configured (the server skips the work otherwise)."""
        return any(s.kind not in ("upload_limit", "limit_style") for s in self.specs)

    def shop_wide(self, elapsed: float) -> Decision | None:
        """The refusal every request gets, whatever its token (a wrong, frozen or locked shop), if any."""
        for kind, status, body in _SHOP_WIDE:
            if any(s.kind == kind and s.in_window(elapsed) for s in self.specs):
                return Decision(kind=kind, status=status, body=dict(body), runs=False)
        return None

    def decide(self, token: int, elapsed: float) -> Decision:
        """The fault for the next request of ``token``, ``elapsed`` seconds after the shop started
        (call :meth:`shop_wide` first: this one does not look at shop-wide faults)."""
        if not self.active:
            return NO_FAULT
        seen = self._seen.get(token, 0)
        self._seen[token] = seen + 1
        for spec in self._of("revoke", token):
            if (seen >= spec.after) if spec.after is not None else spec.in_window(elapsed):
                return Decision(kind="revoke", status=401, body=dict(INVALID_TOKEN_BODY), runs=False)
        hang = next((s for s in self._of("hang", token) if self._fires(s, elapsed)), None)
        outcome = self._outcome(token, elapsed)
        if hang is None:
            return outcome
        return Decision(
            kind="hang" if outcome.kind == "none" else outcome.kind,
            status=outcome.status,
            body=outcome.body,
            headers=outcome.headers,
            runs=outcome.runs,
            after_run=outcome.after_run,
            drain=outcome.drain,
            hold=True,
            hold_s=hang.hold,
            request_id=outcome.request_id,
        )

    def _outcome(self, token: int, elapsed: float) -> Decision:
        for spec in self._of("429", token):
            if self._fires(spec, elapsed):
                headers = {"Retry-After": f"{spec.retry_after:.1f}"}
                return Decision(kind="429", status=429, body=dict(TOO_MANY_BODY), headers=headers, runs=False)
        for spec in self._of("throttle", token):
            if self._fires(spec, elapsed):
                return Decision(kind="throttle", drain=True)
        for spec in self._of("5xx", token):
            if self._fires(spec, elapsed):
                body = dict(SERVER_ERROR_BODIES[spec.status])
                refused = spec.status == 503
                return Decision(
                    kind="5xx", status=spec.status, body=body, runs=not refused, after_run=not refused
                )
        for spec in self._of("ise", token):
            if self._fires(spec, elapsed):
                request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
                body = internal_error_body(request_id)
                headers = {"X-Request-Id": request_id}
                return Decision(kind="ise", body=body, headers=headers, after_run=True, request_id=request_id)
        return NO_FAULT

    def _of(self, kind: str, token: int) -> list[FaultSpec]:
        return [s for s in self.specs if s.kind == kind and s.hits(token)]

    def _fires(self, spec: FaultSpec, elapsed: float) -> bool:
        if not spec.in_window(elapsed):
            return False
        return spec.rate is None or self._rng.random() < spec.rate

    def __repr__(self) -> str:
        return f"FaultSchedule({[s.text for s in self.specs]})"
