"""The thin API client turns every answer into JSON or an ApiError, never a decode error."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from motherboard.kube.client import Kube, WatchLineTooLong, _lines, _loads, _parse, path_for
from motherboard.kube.config import ClusterAccess


def test_plain_text_error_bodies_become_a_message() -> None:
    assert _parse(b"404 page not found\n") == {"message": "404 page not found"}
    assert _parse(b'{"kind": "Status", "reason": "NotFound"}')["reason"] == "NotFound"
    assert _parse(b"") == {}


def test_paths_for_core_and_custom_resources() -> None:
    assert path_for("", "v1", "pods", "ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert path_for("motherboard.io", "v1alpha1", "queues") == "/apis/motherboard.io/v1alpha1/queues"


# --- watch streams: one event per line, of any size the API server can store -------------------------------
def _big_pod(name: str, size: int) -> dict[str, Any]:
    env = [{"name": "BIG", "value": "x" * size}]
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": name, "resourceVersion": "7"},
        "spec": {"containers": [{"name": "c", "image": "i", "env": env}]},
    }


async def _watch_server(lines: list[bytes], chunk: int) -> tuple[web.AppRunner, str]:
    """A local HTTP server answering every GET with ``lines`` as a chunked stream, like a watch."""

    async def watch(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = b"".join(lines)
        for start in range(0, len(data), chunk):
            await response.write(data[start : start + chunk])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", watch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _read_watch(lines: list[bytes], chunk: int = 65536) -> list[dict[str, Any]]:
    runner, server = await _watch_server(lines, chunk)
    try:
        async with Kube(ClusterAccess(server, ssl.create_default_context())) as kube:
            return [event async for event in kube.watch("/api/v1/pods", "1")]
    finally:
        await runner.cleanup()


def test_a_watch_reads_events_of_one_and_a_half_mebibytes_between_small_ones() -> None:
    # aiohttp's line reader raised LineTooLong past 128 KiB, which killed every watch of the operator.
    big = {"type": "ADDED", "object": _big_pod("big", 1_500_000)}
    small = {"type": "MODIFIED", "object": _big_pod("small", 10)}
    lines = [json.dumps(small).encode() + b"\n", json.dumps(big).encode() + b"\n", json.dumps(small).encode()]
    events = asyncio.run(_read_watch(lines, chunk=7_001))
    assert [e["object"]["metadata"]["name"] for e in events] == ["small", "big", "small"]
    assert len(events[1]["object"]["spec"]["containers"][0]["env"][0]["value"]) == 1_500_000


def test_a_watch_line_past_the_bound_is_an_error_not_unbounded_memory() -> None:
    with pytest.raises(WatchLineTooLong):
        asyncio.run(_read_lines([b"x" * 5000], limit=1024))


async def _read_lines(chunks: list[bytes], limit: int) -> list[bytes]:
    stream = aiohttp.StreamReader(_Protocol(), 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    return [line async for line in _lines(stream, limit)]


class _Protocol:
    """What a StreamReader needs of its protocol when fed by hand."""

    _reading_paused = False

    def pause_reading(self, **_: object) -> None: ...

    def resume_reading(self, **_: object) -> None: ...


def test_lines_split_across_chunks_and_blank_lines_skipped() -> None:
    got = asyncio.run(_read_lines([b'{"a"', b":1}\n\n", b'{"b":2}\n{"c"', b":3}"], limit=100))
    assert got == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_json_nested_deeper_than_pythons_recursion_limit_decodes() -> None:
    # The API server accepts 10,000 levels; Python's decoder alone stops near 1,000 (RecursionError).
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    value = _loads(deep)
    depth = 0
    while isinstance(value, dict):
        value, depth = value["a"], depth + 1
    assert depth == 5000
