"""The simulated shop's HTTP surface (aiohttp): Admin GraphQL, staged uploads, result files, stats.

Why a real HTTP server (not an in-process shortcut): clients must exercise their real transport —
connection pools, timeouts, 5xx and dropped connections — against the simulator exactly as they will
against Shopify. What this layer adds to :class:`~bulk.sim.gateway.Gateway`:

- ``POST /admin/api/2026-04/graphql.json`` with ``X-Shopify-Access-Token``; other versions → 404,
  unknown token → Shopify's 401 body;
- the hard concurrency cap: a request beyond it is refused at once (HTTP 503) and counted as a
  violation, before anything else is looked at;
- latency (lognormal, in simulated time) and injected faults (see :mod:`bulk.sim.faults`);
- ``POST /_sim/uploads`` (multipart, like the GCS/S3 form upload Shopify's staged targets use) and
  ``GET /_sim/files/{key}`` (bulk-operation results), both over the shop's file store;
- ``GET /_sim/stats`` and ``POST /_sim/reset-stats``.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import BodyPartReader, web

from bulk.clock import Clock
from bulk.sim.faults import BODY_502, BODY_503, Fault, FaultPlan
from bulk.sim.files import MAX_UPLOAD_BYTES  # 100 MB, the staged-upload limit
from bulk.sim.gateway import FileStoreLike, Gateway
from bulk.sim.schema import API_VERSION
from bulk.sim.stats import InFlight

GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
INVALID_TOKEN_BODY = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}
_CHUNK = 1 << 16


def _xml_error(code: str, message: str, status: int) -> web.Response:
    """An error the way a cloud storage bucket answers a form upload (XML)."""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


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
    ) -> None:
        self.gateway = gateway
        self.files = files
        self.clock = clock
        self.faults = faults
        self.inflight = inflight
        self._tokens = tokens
        self._describe = describe
        self.max_upload_bytes = MAX_UPLOAD_BYTES

    def application(self) -> web.Application:
        """A fresh aiohttp application routing to this shop."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + (1 << 20))
        app.router.add_get("/", self.index)
        app.router.add_post("/admin/api/{version}/graphql.json", self.graphql)
        app.router.add_post("/_sim/uploads", self.upload)
        app.router.add_get("/_sim/files/{key:.*}", self.download)
        app.router.add_get("/_sim/stats", self.stats)
        app.router.add_post("/_sim/reset-stats", self.reset_stats)
        return app

    async def index(self, request: web.Request) -> web.Response:
        """A plain reminder that this is not a real shop."""
        return web.Response(text=f"SIMULATED Shopify shop (bulk.sim). GraphQL: POST {GRAPHQL_PATH}\n")

    async def graphql(self, request: web.Request) -> web.StreamResponse:
        """The Admin GraphQL endpoint, behind the concurrency cap."""
        if not self.inflight.enter(self.clock.now()):
            return web.json_response(
                {
                    "errors": "Service Unavailable: too many concurrent requests "
                    f"(the simulated shop's hard cap is {self.inflight.cap})"
                },
                status=503,
            )
        try:
            return await self._graphql(request)
        finally:
            self.inflight.leave(self.clock.now())

    async def _graphql(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["version"] != API_VERSION:
            return web.json_response({"errors": "Not Found"}, status=404)
        token_index = self._tokens.get(request.headers.get("X-Shopify-Access-Token", ""))
        if token_index is None:
            return web.json_response(INVALID_TOKEN_BODY, status=401)
        delay = self.faults.latency_s()
        if delay > 0:
            await self.clock.sleep(delay)
        fault = self.faults.fault()
        counters = self.gateway.counters[token_index]
        if fault is Fault.REFUSE_503:
            counters.server_errors += 1
            return web.json_response(BODY_503, status=503)
        try:
            payload = json.loads(await request.read())
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            missing = {"errors": {"query": "Required parameter missing or invalid"}}
            return web.json_response(missing, status=400)
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return web.json_response({"errors": {"variables": "must be a JSON object"}}, status=400)
        body = await self.gateway.handle(
            token_index,
            payload["query"],
            variables,
            operation_name if isinstance(operation_name, str) else None,
        )
        if fault is Fault.FAIL_502:  # applied, then the gateway failed
            counters.server_errors += 1
            return web.json_response(BODY_502, status=502)
        if fault is Fault.DROP:  # applied, then the connection dropped without an answer
            counters.dropped += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client: the socket is gone
        return web.json_response(body)

    async def upload(self, request: web.Request) -> web.Response:
        """A staged-upload form POST: ``key`` (and other policy fields) then ``file``."""
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
            chunks: list[bytes] = []
            size = 0
            while chunk := await part.read_chunk(_CHUNK):
                size += len(chunk)
                if size > self.max_upload_bytes:
                    return _xml_error(
                        "EntityTooLarge",
                        "Your proposed upload is larger than the maximum object size specified in your "
                        f"Policy Document ({self.max_upload_bytes} bytes).",
                        400,
                    )
                chunks.append(chunk)
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

    async def download(self, request: web.Request) -> web.Response:
        """A stored file (bulk-operation result JSONL)."""
        data = self.files.get(request.match_info["key"])
        if data is None:
            return _xml_error("NoSuchKey", "The specified key does not exist.", 404)
        return web.Response(body=data, content_type="application/jsonl")

    async def stats(self, request: web.Request) -> web.Response:
        """Everything the referee measured, plus the shop's own statistics."""
        return web.json_response(self.statistics())

    async def reset_stats(self, request: web.Request) -> web.Response:
        """Zero counters (bucket levels and shop contents stay); for benchmarks."""
        self.gateway.reset_statistics()
        self.inflight.reset(self.clock.now())
        return web.json_response({"reset": True})

    def statistics(self) -> dict[str, Any]:
        """The ``/_sim/stats`` document."""
        return {
            "simulated": True,
            **self._describe,
            "clock": round(self.clock.now(), 6),
            **self.gateway.statistics(),
            "concurrency": self.inflight.statistics(self.clock.now()),
            "shop": self.gateway.state.statistics(),
        }

    def __repr__(self) -> str:
        return f"SimApp({self.gateway!r}, {self.inflight!r})"
