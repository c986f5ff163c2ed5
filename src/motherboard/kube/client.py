"""Async JSON calls to the API server over one pooled aiohttp session."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from motherboard.kube.config import ClusterAccess

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class ApiError(RuntimeError):
    """A non-2xx answer from the API server; ``status`` and ``reason`` as the server said."""

    def __init__(self, status: int, reason: str, message: str, body: Obj | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message, self.body = status, reason, message, body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def path_for(
    group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None
) -> str:
    """The REST path of a collection or object (core group when ``group`` is empty)."""
    prefix = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{ns}/{plural}" + (f"/{name}" if name else "")


class Kube:
    """A small async client: ``get``, ``list``, ``create``, ``patch``, ``delete``, ``watch`` on REST paths."""

    def __init__(self, access: ClusterAccess, *, connections: int = 64, timeout: float = 30.0) -> None:
        self._access = access
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._access.ssl_context, limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self._access.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        data = None if body is None else json.dumps(body)
        async with self._client().request(
            method,
            self._access.server + path,
            data=data,
            params=params,
            headers=self._headers(content_type if data is not None else None),
        ) as response:
            payload = await response.read()
            parsed = _parse(payload)
            if response.status >= 300:
                raise ApiError(
                    response.status,
                    parsed.get("reason", response.reason or ""),
                    parsed.get("message", ""),
                    parsed,
                )
            return parsed

    async def get(self, path: str) -> Obj:
        return await self.request("GET", path)

    async def text(self, path: str, **params: str) -> str:
        """A plain-text GET (a container's log); :class:`ApiError` on an error status."""
        async with self._client().get(
            self._access.server + path, params=params, headers={**self._headers(None), "Accept": "*/*"}
        ) as response:
            payload = await response.read()
            if response.status >= 300:
                parsed = _parse(payload)
                raise ApiError(
                    response.status,
                    parsed.get("reason", response.reason or ""),
                    parsed.get("message", ""),
                    parsed,
                )
            return payload.decode(errors="replace")

    async def list(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body)

    async def patch(self, path: str, body: Any, content_type: str = MERGE_PATCH) -> Obj:
        return await self.request("PATCH", path, body, content_type=content_type)

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body)

    async def watch(self, path: str, resource_version: str, **params: str) -> AsyncIterator[Obj]:
        """Stream watch events (``{"type": ..., "object": ...}``) from ``resource_version`` until the server
        closes the stream. A 410 Gone arrives as an ``ERROR`` event; the caller relists."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            **params,
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self._client().get(
            self._access.server + path, params=query, headers=self._headers(), timeout=timeout
        ) as response:
            if response.status >= 300:
                parsed = _parse(await response.read())
                raise ApiError(response.status, parsed.get("reason", ""), parsed.get("message", ""), parsed)
            # Not ``async for line in response.content``: aiohttp's line reader refuses a line over its
            # buffer's high-water mark (128 KiB by default; a 512 KiB pod raised ``LineTooLong``, which is no
            # ClientError, and killed the watch). The API server stores objects up to ~1.5 MiB and a watch
            # event is one JSON line, so lines are split here with a bound far above anything it can send.
            async for line in _lines(response.content, MAX_WATCH_LINE):
                yield _loads(line)


MAX_WATCH_LINE = 32 * 1024 * 1024
"""Longest watch event accepted (bytes). etcd stores at most ~1.5 MiB per object and the API server accepts
3 MiB request bodies; its JSON can grow with escaping, so 32 MiB leaves room and still bounds memory."""


class WatchLineTooLong(ValueError):
    """A watch event longer than :data:`MAX_WATCH_LINE`: the stream is dropped (the reflector relists)."""


async def _lines(stream: aiohttp.StreamReader, limit: int) -> AsyncIterator[bytes]:
    """Non-empty newline-terminated lines of ``stream`` (and a last unterminated one), each at most ``limit``."""
    pending = bytearray()
    async for chunk in stream.iter_any():
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            pending += chunk[start:end]
            start = end + 1
            if pending.strip():
                yield bytes(pending)
            pending.clear()
        pending += chunk[start:]
        if len(pending) > limit:
            raise WatchLineTooLong(f"a watch event is longer than {limit} bytes")
    if pending.strip():
        yield bytes(pending)


DEEPEST_JSON = 10_500
"""Nesting the decoder must follow: the API server decodes (hence stores) up to 10,000 levels."""


def _loads(text: bytes) -> Any:
    """``json.loads``, also for the deeply nested documents the API server accepts: Python's decoder stops at
    the interpreter's recursion limit (1,000), so a deeper object is decoded again under a higher one."""
    try:
        return json.loads(text)
    except RecursionError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, DEEPEST_JSON))
        try:
            return json.loads(text)
        finally:
            sys.setrecursionlimit(limit)


def _parse(payload: bytes) -> Obj:
    """A JSON body, or ``{"message": text}`` for the plain-text errors some paths answer (e.g. a 404 of a
    resource whose CRD is missing), so callers always get an :class:`ApiError`, never a decode error."""
    if not payload:
        return {}
    try:
        parsed = _loads(payload)
    except ValueError:
        return {"message": payload.decode(errors="replace").strip()}
    return parsed if isinstance(parsed, dict) else {"items": parsed}


async def ignore(status: int, call: Any) -> Obj | None:
    """Await ``call``; an :class:`ApiError` with ``status`` (e.g. 404 on delete, 409 on create) is not an error."""
    try:
        result: Obj = await call
        return result
    except ApiError as exc:
        if exc.status == status:
            return None
        raise


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MAX_WATCH_LINE",
    "MERGE_PATCH",
    "ApiError",
    "Kube",
    "WatchLineTooLong",
    "ignore",
    "path_for",
]
