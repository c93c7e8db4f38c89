"""The simulated shop's HTTP surface (aiohttp): Admin GraphQL, staged uploads, result files, stats.

Why a real HTTP server (not an in-process shortcut): clients must exercise their real transport —
connection pools, timeouts, 5xx and dropped connections — against the simulator exactly as they will
against Shopify. What this layer adds to :class:`~bulk.sim._gateway.Gateway`:

- ``POST /admin/api/2026-04/graphql.json`` with ``X-Shopify-Access-Token``; other versions → 404,
  unknown token → Shopify's 401 body;
- the hard concurrency cap: a request beyond it is refused at once (HTTP 503) and counted as a
  violation, before anything else is looked at;
- the scripted faults of ``--fault`` (:mod:`bulk.sim._fault_schedule` decides, this layer carries
  out: refusals, holds, answers replaced after running), then latency (lognormal, in simulated
  time) and the random faults of ``fault_rate``/``drop_rate`` (see :mod:`bulk.sim._faults`);
- ``POST /_sim/uploads`` (multipart, like the GCS/S3 form upload Shopify's staged targets use, held
  to the form's signed policy: :mod:`bulk.sim._storage`) and ``GET /_sim/files/{key}``
  (bulk-operation results), both over the shop's file store;
- ``GET /_sim/stats`` and ``POST /_sim/reset-stats``; ``POST /_sim/requests`` (``{"ids": [...]}``):
  what the shop drew and took for those requests, named by the ``X-Request-Id`` every GraphQL answer
  carries (as Shopify's do: the id support asks for).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import BodyPartReader, web

from bulk.clock import Clock
from bulk.sim._fault_schedule import INVALID_TOKEN_BODY, NOT_FOUND_BODY, Decision, FaultSchedule
from bulk.sim._faults import BODY_502, BODY_503, Fault, FaultPlan
from bulk.sim._gateway import FileStoreLike, Gateway
from bulk.sim._holds import Slot, hold
from bulk.sim._latency_log import LatencyLog
from bulk.sim._schema import API_VERSION
from bulk.sim._stats import InFlight
from bulk.sim._storage import MAX_BULK_UPLOAD_BYTES, StorageError, UploadPolicy, too_large, too_small

__all__ = ["GRAPHQL_PATH", "INVALID_TOKEN_BODY", "SimApp"]

GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
REQUEST_ID_HEADER = "X-Request-Id"
_CHUNK = 1 << 16
_SENT_AT_ONCE = 1 << 18


def _xml_error(code: str, message: str, status: int) -> web.Response:
    """An error the way a cloud storage bucket answers a form upload (XML)."""
    return _storage_error(StorageError(status, code, message))


def _storage_error(error: StorageError) -> web.Response:
    return web.Response(status=error.status, text=error.xml(), content_type="application/xml")


class SimApp:
    """The aiohttp application of one simulated shop; all state lives in the parts it is given."""

    def __init__(
        self,
        *,
        gateway: Gateway,
        files: FileStoreLike,
        tokens: dict[str, int],
        clock: Clock,
        faults: FaultPlan,
        inflight: InFlight,
        describe: dict[str, Any],
        schedule: FaultSchedule | None = None,
        uploads: UploadPolicy | None = None,
    ) -> None:
        self.gateway = gateway
        self.files = files
        self.clock = clock
        self.faults = faults
        self.schedule = schedule or FaultSchedule()
        self.uploads = uploads or UploadPolicy()
        self.inflight = inflight
        self.started = clock.now()
        self.closing = asyncio.Event()  # set when the shop stops: held requests let go
        self.unattributed: Counter[str] = Counter()  # answers to requests without a known token
        self.upload_refusals: Counter[str] = Counter()  # storage error code → uploads refused
        self._tokens = tokens
        self._describe = describe
        self.latency = LatencyLog(float(describe.get("speed", 1.0)))  # what the shop added, by root field

    @property
    def max_upload_bytes(self) -> int:
        """The upload maximum signed into new policies (and applied to forms without one)."""
        return self.uploads.max_bytes

    @max_upload_bytes.setter
    def max_upload_bytes(self, value: int) -> None:
        self.uploads.max_bytes = value

    def application(self) -> web.Application:
        """A fresh aiohttp application routing to this shop."""
        app = web.Application(client_max_size=MAX_BULK_UPLOAD_BYTES + (1 << 20))
        app.router.add_get("/", self.index)
        app.router.add_post("/admin/api/{version}/graphql.json", self.graphql)
        app.router.add_post("/_sim/uploads", self.upload)
        app.router.add_get("/_sim/files/{key:.*}", self.download)
        app.router.add_get("/_sim/stats", self.stats)
        app.router.add_post("/_sim/reset-stats", self.reset_stats)
        app.router.add_post("/_sim/requests", self.requests)
        return app

    async def index(self, request: web.Request) -> web.Response:
        """A plain reminder that this is not a real shop."""
        return web.Response(text=f"SIMULATED Shopify shop (bulk.sim). GraphQL: POST {GRAPHQL_PATH}\n")

    async def graphql(self, request: web.Request) -> web.StreamResponse:
        """The Admin GraphQL endpoint, behind the concurrency cap; every attempt is counted."""
        token_index = self._tokens.get(request.headers.get("X-Shopify-Access-Token", ""))
        arrived, began = self.clock.now(), time.perf_counter()  # began: real time, for the latency log
        request_id = str(uuid.uuid4())
        if not self.inflight.enter(arrived):
            response: web.StreamResponse = web.json_response(
                {
                    "errors": "Service Unavailable: too many concurrent requests "
                    f"(the simulated shop's hard cap is {self.inflight.cap})"
                },
                status=503,
            )
            self._count(token_index, arrived, "503", "cap")
        else:
            slot = Slot(self.inflight, self.clock)
            try:
                response, status, fault = await self._graphql(request, token_index, slot, began, request_id)
            finally:
                slot.release()
            self._count(token_index, arrived, status, fault)
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)  # a fault's answer may name its own
        return response

    def _count(self, token_index: int | None, arrived: float, status: str, fault: str) -> None:
        if token_index is None:
            self.unattributed[status] += 1
        else:
            counters = self.gateway.counters[token_index]
            counters.answered(arrived - self.started, self.clock.now() - self.started, status, fault)

    async def _graphql(
        self, request: web.Request, token_index: int | None, slot: Slot, began: float, request_id: str
    ) -> tuple[web.StreamResponse, str, str]:
        """The answer, its status label for the counters, and the fault kind behind it."""
        if request.match_info["version"] != API_VERSION:
            return web.json_response(NOT_FOUND_BODY, status=404), "404", "none"
        elapsed = self.clock.now() - self.started
        shop_wide = self.schedule.shop_wide(elapsed)
        if shop_wide is not None:  # a wrong, frozen or locked shop answers so whatever the token
            return _answer(shop_wide), str(shop_wide.status), shop_wide.kind
        if token_index is None:
            return web.json_response(INVALID_TOKEN_BODY, status=401), "401", "none"
        raw = await request.read()  # read now: a held request's client may be gone when it runs
        decision = self.schedule.decide(token_index, elapsed)
        if decision.hold:
            goes_on = await hold(request, slot, decision.hold_s, clock=self.clock, closing=self.closing)
            if not goes_on or (not decision.runs and not slot.held):
                return web.Response(status=504), "abandoned", decision.kind  # nobody reads this answer
        if not decision.runs:
            if decision.status >= 500:
                self.gateway.counters[token_index].server_errors += 1
            return _answer(decision), str(decision.status), decision.kind
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("query"), str):
            self.gateway.foresee(payload["query"])  # a new document is checked during the latency
        delay = self.faults.latency_s()
        if delay > 0:
            await self.clock.sleep(delay)
        fault = self.faults.fault()
        counters = self.gateway.counters[token_index]
        if fault is Fault.REFUSE_503:
            counters.server_errors += 1
            return web.json_response(BODY_503, status=503), "503", "5xx"
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            missing = {"errors": {"query": "Required parameter missing or invalid"}}
            return web.json_response(missing, status=400), "400", decision.kind
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            bad = {"errors": {"variables": "must be a JSON object"}}
            return web.json_response(bad, status=400), "400", decision.kind
        if decision.drain:  # another client of this app spent the bucket: THROTTLED follows
            self.gateway.buckets[token_index].drain(self.clock.now())
        self.latency.record(payload["query"], delay, request_id)
        body = await self.gateway.handle(
            token_index,
            payload["query"],
            variables,
            operation_name if isinstance(operation_name, str) else None,
        )
        if not slot.held:  # a held request whose client gave up: it ran, nobody hears of it
            return web.Response(status=504), "abandoned", decision.kind
        if decision.after_run:  # ran (applied, charged), then the answer is the fault's
            if decision.status >= 500:
                counters.server_errors += 1
            return _answer(decision), str(decision.status), decision.kind
        if fault is Fault.FAIL_502:  # applied, then the gateway failed
            counters.server_errors += 1
            return web.json_response(BODY_502, status=502), "502", "5xx"
        if fault is Fault.DROP:  # applied, then the connection dropped without an answer
            counters.dropped += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500), "dropped", "drop"  # never reaches the client
        answer = web.json_response(body)
        self.latency.served(payload["query"], time.perf_counter() - began, request_id)
        return answer, "200", decision.kind

    async def upload(self, request: web.Request) -> web.Response:
        """A staged-upload form POST: ``key``, the policy and its other fields, then ``file``.

        Held to the form's signed ``policy`` (:meth:`UploadPolicy.limit`): its signature, its exact
        conditions and its ``content-length-range``, counted while the file streams in."""
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            return _xml_error("InvalidArgument", "POST requires a multipart/form-data body.", 400)
        fields: dict[str, str] = {}
        data: bytes | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name != "file":
                fields[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")
                continue
            limit = self.uploads.limit(fields)
            if isinstance(limit, StorageError):
                return self._refuse_upload(limit)
            low, high = limit
            chunks: list[bytes] = []
            size = 0
            while chunk := await part.read_chunk(_CHUNK):
                size += len(chunk)
                if size > high:
                    return self._refuse_upload(too_large())
                chunks.append(chunk)
            if size < low:
                return self._refuse_upload(too_small())
            data = b"".join(chunks)
        key = fields.get("key")
        if not key:
            return _xml_error("InvalidArgument", "Bucket POST must contain a field named 'key'.", 400)
        if data is None:
            return _xml_error("InvalidArgument", "Bucket POST must contain a file field named 'file'.", 400)
        try:
            self.files.put(key, data)
        except ValueError as exc:
            return _xml_error("InvalidArgument", str(exc), 400)
        if fields.get("success_action_status") == "201":
            location = f"{self.gateway.base_url}/_sim/files/{key}"
            return web.Response(
                status=201,
                content_type="application/xml",
                text=(
                    "<?xml version='1.0' encoding='UTF-8'?><PostResponse>"
                    f"<Location>{escape(location)}</Location><Bucket>sim</Bucket>"
                    f"<Key>{escape(key)}</Key></PostResponse>"
                ),
            )
        return web.Response(status=204)

    def _refuse_upload(self, error: StorageError) -> web.Response:
        self.upload_refusals[error.code] += 1
        return _storage_error(error)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """A stored file (bulk-operation result JSONL), written a piece at a time: a result of tens
        of MB written at once held the shop's loop, and every other app's request, for ~40 ms."""
        data = self.files.get(request.match_info["key"])
        if data is None:
            return _xml_error("NoSuchKey", "The specified key does not exist.", 404)
        response = web.StreamResponse(headers={"Content-Type": "application/jsonl"})
        response.content_length = len(data)
        await response.prepare(request)
        whole = memoryview(data)
        for start in range(0, len(data), _SENT_AT_ONCE):
            await response.write(whole[start : start + _SENT_AT_ONCE])  # waits while the peer is behind
        await response.write_eof()
        return response

    async def requests(self, request: web.Request) -> web.Response:
        """``{"ids": [...]}`` → ``{"requests": {id: {"root", "drawn_ms", "served_ms"}}}`` (ids kept)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return web.json_response({"errors": 'expected {"ids": ["…", …]}'}, status=400)
        return web.json_response({"requests": self.latency.requests(ids)})

    async def stats(self, request: web.Request) -> web.Response:
        """Everything the referee measured, plus the shop's own statistics."""
        return web.json_response(self.statistics())

    async def reset_stats(self, request: web.Request) -> web.Response:
        """Zero counters (bucket levels and shop contents stay); for benchmarks."""
        self.gateway.reset_statistics()
        self.inflight.reset(self.clock.now())
        self.unattributed.clear()
        self.upload_refusals.clear()
        return web.json_response({"reset": True})

    def statistics(self) -> dict[str, Any]:
        """The ``/_sim/stats`` document."""
        return {
            "simulated": True,
            **self._describe,
            "clock": round(self.clock.now(), 6),
            **self.gateway.statistics(),
            "concurrency": self.inflight.statistics(self.clock.now()),
            "unattributed": dict(sorted(self.unattributed.items())),
            "uploads": {
                "max_bytes": self.uploads.max_bytes,
                "refused": dict(sorted(self.upload_refusals.items())),
            },
            "fault_specs": [spec.text for spec in self.schedule.specs],
            "latency_by_operation": self.latency.statistics(),
            "shop": self.gateway.state.statistics(),
        }

    def __repr__(self) -> str:
        return f"SimApp({self.gateway!r}, {self.inflight!r})"


def _answer(decision: Decision) -> web.Response:
    """The answer a fault decision prescribes (JSON body, its status and headers; an internal error
    names its request as its body does)."""
    headers = dict(decision.headers or {})
    if decision.request_id is not None:
        headers[REQUEST_ID_HEADER] = decision.request_id
    return web.json_response(decision.body, status=decision.status, headers=headers or None)
