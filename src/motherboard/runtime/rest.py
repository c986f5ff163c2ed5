"""The Open Inference Protocol over HTTP (KServe v2 REST, with Triton's extensions).

Framework-neutral: :meth:`RestApi.handle` takes a parsed :class:`~motherboard.runtime.http.Request` and
returns a :class:`~motherboard.runtime.http.Response`; :mod:`motherboard.runtime.http` carries it. Every
error is a JSON ``{"error": "..."}`` body with the protocol's status (tritonclient parses the body of any
non-200 answer as JSON).

Routes (``{v}`` optional everywhere a model is named, as ``/versions/{v}``)::

    GET  /v2/health/live | /v2/health/ready | /v2
    GET  /v2/models/{m}[/versions/{v}]            metadata
    GET  /v2/models/{m}[/versions/{v}]/ready|config|stats
    POST /v2/models/{m}[/versions/{v}]/infer
    GET  /v2/models/stats
    POST /v2/repository/index | /v2/repository/models/{m}/load | /v2/repository/models/{m}/unload
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from motherboard.runtime.codec import encode_rest_response, parse_rest_request
from motherboard.runtime.errors import InferError, Status, invalid
from motherboard.runtime.http import Request, Response, error_response, json_response
from motherboard.runtime.repository import LoadedVersion, Repository
from motherboard.runtime.state import ServerState

HEADER_LENGTH = "Inference-Header-Content-Length"
_HEADER_LENGTH_KEY = HEADER_LENGTH.lower()
EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics", "model_repository")
_MODEL_ACTIONS = {"": "GET", "ready": "GET", "config": "GET", "stats": "GET", "infer": "POST"}


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

    def __init__(self, repository: Repository, state: ServerState) -> None:
        self.repository = repository
        self.state = state

    async def handle(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except InferError as exc:
            return error_response(exc.status.http, exc.message)

    async def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[:1] != ["v2"]:
            return error_response(404, f"no route for {request.path}")
        rest = parts[1:]
        if len(rest) >= 2 and rest[0] == "models" and rest[1] != "stats":
            return await self._model_route(request, rest[1:])
        if request.method == "GET":
            if rest == []:
                return json_response(
                    {"name": "motherboard", "version": self.state.version, "extensions": list(EXTENSIONS)}
                )
            if rest == ["health", "live"]:
                return json_response({"live": True})
            if rest == ["health", "ready"]:
                ready = self.state.ready
                return json_response({"ready": ready}, 200 if ready else Status.UNAVAILABLE.http)
            if rest == ["models", "stats"]:
                versions = [v for m in self.repository.models.values() for v in m.versions.values()]
                return self._stats(versions)
        if request.method == "POST" and rest[:1] == ["repository"]:
            if rest == ["repository", "index"]:
                return self._index(request.body)
            if len(rest) == 4 and rest[1] == "models" and rest[3] in ("load", "unload"):
                name = unquote(rest[2])
                if rest[3] == "load":
                    await self.repository.load(name)
                else:
                    await self.repository.unload(name)
                return json_response({})
        return error_response(404, f"no route for {request.method} {request.path}")

    async def _model_route(self, request: Request, rest: list[str]) -> Response:
        name = unquote(rest[0])
        version = ""
        tail = rest[1:]
        if len(tail) >= 2 and tail[0] == "versions":
            version, tail = unquote(tail[1]), tail[2:]
        action = tail[0] if tail else ""
        if len(tail) > 1 or action not in _MODEL_ACTIONS:
            return error_response(404, f"no route for {request.method} {request.path}")
        if request.method != _MODEL_ACTIONS[action]:
            return error_response(405, f"{request.path} takes {_MODEL_ACTIONS[action]}, not {request.method}")
        if action == "infer":
            return await self._infer(request, name, version)
        if action == "stats":
            if version:
                return self._stats([self.repository.get(name, version)])
            self.repository.get(name)
            return self._stats(list(self.repository.models[name].versions.values()))
        served = self.repository.get(name, version)
        if action == "ready":
            return json_response({"name": name, "ready": True})
        if action == "config":
            return json_response(served.config.to_triton_json())
        return json_response(model_metadata(served, sorted(self.repository.models[served.model].versions)))

    def _stats(self, versions: list[LoadedVersion]) -> Response:
        return json_response(
            {"model_stats": [v.stats.to_triton_json(v.model, str(v.version)) for v in versions]}
        )

    def _index(self, body: bytes) -> Response:
        ready_only = False
        if body:
            try:
                doc = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise invalid(f"repository index body is not JSON: {exc}") from None
            ready_only = bool(doc.get("ready", False)) if isinstance(doc, dict) else False
        return json_response(self.repository.index(ready_only))

    async def _infer(self, request: Request, name: str, version: str) -> Response:
        self.state.in_flight += 1
        try:
            encoding = request.headers.get("content-encoding", "identity")
            if encoding not in ("identity", ""):
                raise invalid(f"Content-Encoding {encoding} is not supported; send the body uncompressed")
            raw_length = request.headers.get(_HEADER_LENGTH_KEY)
            header_length: int | None = None
            if raw_length is not None:
                try:
                    header_length = int(raw_length)
                except ValueError:
                    raise invalid(f"{HEADER_LENGTH} must be an integer, got {raw_length!r}") from None
            parsed = parse_rest_request(request.body, header_length)
            requested = [o.name for o in parsed.outputs] if parsed.outputs is not None else None
            served, outputs = await self.repository.infer(name, version, parsed.inputs, requested)
            if parsed.outputs is None:
                chosen = [(s.name, outputs[s.name], parsed.binary_output) for s in served.config.outputs]
            else:
                chosen = [(o.name, outputs[o.name], o.binary) for o in parsed.outputs]
            payload, json_length = encode_rest_response(served.model, str(served.version), parsed.id, chosen)
            if json_length is None:
                return Response(200, payload)
            return Response(200, payload, "application/octet-stream", {HEADER_LENGTH: str(json_length)})
        finally:
            self.state.in_flight -= 1
