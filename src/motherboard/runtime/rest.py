"""The Open Inference Protocol over HTTP/1.1 (KServe v2 REST, with Triton's extensions), on aiohttp.

Every error is a JSON ``{"error": "..."}`` body with the protocol's status (tritonclient parses the body of
any non-200 answer as JSON). aiohttp sets ``TCP_NODELAY`` on accepted sockets and sends a small response's
headers and body together, which avoids the 44 ms Nagle/delayed-ACK stall measured with a server that
writes them separately.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from motherboard.runtime.codec import encode_rest_response, parse_rest_request
from motherboard.runtime.errors import InferError, Status, invalid
from motherboard.runtime.repository import LoadedVersion, Repository
from motherboard.runtime.state import ServerState

log = logging.getLogger(__name__)
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics", "model_repository")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


def error_response(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def model_metadata(version: LoadedVersion, versions: list[int]) -> dict[str, Any]:
    """KServe v2 model metadata; shapes keep the batch dimension (-1), as Triton's do."""

    def tensor(spec: Any) -> dict[str, Any]:
        return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}

    return {
        "name": version.model,
        "versions": [str(v) for v in versions],
        "platform": version.config.platform,
        "inputs": [tensor(s) for s in version.config.inputs],
        "outputs": [tensor(s) for s in version.config.outputs],
    }


class RestApi:
    """Routes and handlers; holds no state of its own (the repository and the server state do)."""

    def __init__(self, repository: Repository, state: ServerState, *, max_body_bytes: int) -> None:
        self.repository = repository
        self.state = state
        self.max_body_bytes = max_body_bytes

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self._errors])
        r = app.router
        r.add_get("/v2/health/live", self.live)
        r.add_get("/v2/health/ready", self.ready)
        r.add_get("/v2", self.server_metadata)
        r.add_get("/v2/models/stats", self.stats)
        for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            r.add_get(prefix, self.metadata)
            r.add_get(prefix + "/ready", self.model_ready)
            r.add_get(prefix + "/config", self.config)
            r.add_get(prefix + "/stats", self.stats)
            r.add_post(prefix + "/infer", self.infer)
        r.add_post("/v2/repository/index", self.index)
        r.add_post("/v2/repository/models/{model}/load", self.load)
        r.add_post("/v2/repository/models/{model}/unload", self.unload)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except InferError as exc:
            return error_response(exc.status.http, exc.message)
        except web.HTTPRequestEntityTooLarge:
            return error_response(
                Status.TOO_LARGE.http,
                f"request body exceeds the server's limit of {self.max_body_bytes} bytes",
            )
        except web.HTTPException as exc:
            if exc.status >= 400:
                return error_response(exc.status, exc.reason or "error")
            raise

    async def live(self, request: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        ready = self.state.ready
        return _json({"ready": ready}, 200 if ready else Status.UNAVAILABLE.http)

    async def server_metadata(self, request: web.Request) -> web.Response:
        return _json({"name": "motherboard", "version": self.state.version, "extensions": list(EXTENSIONS)})

    def _version(self, request: web.Request) -> LoadedVersion:
        return self.repository.get(request.match_info["model"], request.match_info.get("version", ""))

    async def metadata(self, request: web.Request) -> web.Response:
        version = self._version(request)
        return _json(model_metadata(version, sorted(self.repository.models[version.model].versions)))

    async def model_ready(self, request: web.Request) -> web.Response:
        self._version(request)
        return _json({"name": request.match_info["model"], "ready": True})

    async def config(self, request: web.Request) -> web.Response:
        return _json(self._version(request).config.to_triton_json())

    async def stats(self, request: web.Request) -> web.Response:
        name = request.match_info.get("model")
        if name is None:
            chosen = [v for m in self.repository.models.values() for v in m.versions.values()]
        elif "version" in request.match_info:
            chosen = [self._version(request)]
        else:
            self.repository.get(name)
            chosen = list(self.repository.models[name].versions.values())
        return _json({"model_stats": [v.stats.to_triton_json(v.model, str(v.version)) for v in chosen]})

    async def index(self, request: web.Request) -> web.Response:
        body = await request.read()
        ready_only = False
        if body:
            try:
                doc = json.loads(body)
            except json.JSONDecodeError as exc:
                raise invalid(f"repository index body is not JSON: {exc}") from None
            ready_only = bool(doc.get("ready", False)) if isinstance(doc, dict) else False
        return _json(self.repository.index(ready_only))

    async def load(self, request: web.Request) -> web.Response:
        await self.repository.load(request.match_info["model"])
        return _json({})

    async def unload(self, request: web.Request) -> web.Response:
        await self.repository.unload(request.match_info["model"])
        return _json({})

    async def infer(self, request: web.Request) -> web.Response:
        self.state.in_flight += 1
        try:
            if request.headers.get("Content-Encoding", "identity") not in ("identity", ""):
                raise invalid(
                    f"Content-Encoding {request.headers['Content-Encoding']} is not supported; send identity"
                )
            raw_length = request.headers.get(HEADER_LENGTH)
            header_length: int | None = None
            if raw_length is not None:
                try:
                    header_length = int(raw_length)
                except ValueError:
                    raise invalid(f"{HEADER_LENGTH} must be an integer, got {raw_length!r}") from None
            body = await request.read()
            parsed = parse_rest_request(body, header_length)
            requested = [o.name for o in parsed.outputs] if parsed.outputs is not None else None
            version, outputs = await self.repository.infer(
                request.match_info["model"], request.match_info.get("version", ""), parsed.inputs, requested
            )
            if parsed.outputs is None:
                chosen = [(s.name, outputs[s.name], parsed.binary_output) for s in version.config.outputs]
            else:
                chosen = [(o.name, outputs[o.name], o.binary) for o in parsed.outputs]
            payload, json_length = encode_rest_response(
                version.model, str(version.version), parsed.id, chosen
            )
            headers = {"Content-Type": "application/octet-stream" if json_length else "application/json"}
            if json_length is not None:
                headers[HEADER_LENGTH] = str(json_length)
            return web.Response(body=payload, headers=headers)
        finally:
            self.state.in_flight -= 1
