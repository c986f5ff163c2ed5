"""A small HTTP/1.1 server on ``asyncio.Protocol``: what the inference path needs and nothing more.

Why not aiohttp: on the 2-core machine the project measures on, a trivial aiohttp handler costs ~300 µs per
tritonclient round trip at concurrency 1, which alone is most of the runtime's 0.5 ms overhead budget. This
server parses a request with a few ``bytes`` operations, hands the complete body to the handler, and writes
status line, headers and body in one ``transport.write`` on a ``TCP_NODELAY`` socket (the research note's
44 ms Nagle/delayed-ACK stall comes from writing them separately).

Scope, on purpose: ``Content-Length`` bodies only (tritonclient never chunks; chunked requests get 411),
keep-alive by default, requests on one connection answered in order (pipelining-safe: the next request is
parsed only after the previous one is answered), a bounded header block and body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
MAX_HEAD_BYTES = 64 << 10
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    """The path without the query string, not yet percent-decoded."""
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool) -> bytes:
        head = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
        ]
        head.extend(f"{k}: {v}" for k, v in self.headers.items())
        if not keep_alive:
            head.append("Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, separators=(",", ":")).encode())


def error_response(status: int, message: str) -> Response:
    """The protocol's error body (tritonclient parses any non-200 body as JSON and raises ``error``)."""
    return json_response({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False
        self._closing = False
        self._discard = 0
        """Bytes of a refused (too large) body still to arrive: read and dropped, never stored."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # A client that leaves mid-request: its handler (if any) finishes and the answer is dropped.
        self._transport = None
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self._discard:
            self._discard -= len(data)
            if self._discard <= 0:
                self._discard = 0
                self._fail(
                    413, f"request body exceeds the server's limit of {self._server.max_body_bytes} bytes"
                )
            return
        self._buffer += data
        if not self._busy:
            self._next()

    @property
    def idle(self) -> bool:
        return not self._busy

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _fail(self, status: int, message: str) -> None:
        """Answer and close: after a framing error the rest of the stream cannot be trusted."""
        if self._transport is not None:
            self._transport.write(error_response(status, message).encode(keep_alive=False))
            self._transport.close()
        self._buffer.clear()
        self._closing = True

    def _next(self) -> None:
        if self._closing or self._transport is None:
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._fail(431, f"request header block exceeds {MAX_HEAD_BYTES} bytes")
            return
        try:
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        except ValueError:
            self._fail(400, "malformed HTTP request line or header")
            return
        if "transfer-encoding" in headers:
            self._fail(411, "chunked request bodies are not supported; send Content-Length")
            return
        try:
            length = int(headers.get("content-length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            self._fail(
                400, f"Content-Length must be a non-negative integer, got {headers['content-length']!r}"
            )
            return
        start = end + 4
        if length > self._server.max_body_bytes:
            # Read the body to its end without keeping it, then answer: a client still sending when the
            # socket closes gets a reset instead of the 413 and its reason.
            self._discard = length - (len(self._buffer) - start)
            self._buffer.clear()
            if self._discard <= 0:
                self._discard = 0
                self._fail(
                    413, f"request body exceeds the server's limit of {self._server.max_body_bytes} bytes"
                )
            return
        if len(self._buffer) < start + length:
            return  # wait for the rest of the body
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        if self._server.draining:  # a request that arrives after SIGTERM on a kept-alive connection
            self._fail(503, "the server is shutting down; retry on another replica")
            return
        keep_alive = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
        path = target.split("?", 1)[0]
        self._busy = True
        task = asyncio.get_running_loop().create_task(
            self._serve(Request(method, path, headers, body), keep_alive)
        )
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _serve(self, request: Request, keep_alive: bool) -> None:
        try:
            response = await self._server.handler(request)
        except Exception:  # a bug must cost one request, not the connection's other requests
            log.exception("handler failed on %s %s", request.method, request.path)
            response = error_response(500, "internal server error (see the server log)")
        if self._transport is None:
            return
        self._transport.write(response.encode(keep_alive))
        self._busy = False
        if keep_alive:
            self._next()
        else:
            self._transport.close()
            self._closing = True


class HttpServer:
    """Listens on ``host:port`` and answers every request through ``handler``."""

    def __init__(self, handler: Handler, *, max_body_bytes: int) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.draining = False
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; return the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
        return int(self._server.sockets[0].getsockname()[1])

    async def shutdown(self, timeout: float) -> None:
        """Stop listening, let requests already received finish (up to ``timeout``), close connections.

        Requests that arrive meanwhile on open connections get 503 with ``Connection: close``.
        """
        self.draining = True
        if self._server is not None:
            self._server.close()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
