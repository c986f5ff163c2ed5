"""The small HTTP/1.1 server: framing, keep-alive order, refusals, one write per response."""

from __future__ import annotations

import asyncio
import json

from motherboard.runtime.http import HttpServer, Request, Response, json_response


async def _echo(request: Request) -> Response:
    if request.path == "/slow":
        await asyncio.sleep(0.05)
    return json_response(
        {
            "method": request.method,
            "path": request.path,
            "body": request.body.decode(),
            "n": len(request.body),
        }
    )


async def _exchange(chunks: list[bytes], *, max_body: int = 1 << 20) -> bytes:
    server = HttpServer(_echo, max_body_bytes=max_body)
    port = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)
    data = await asyncio.wait_for(_read_all(reader), 5)
    writer.close()
    await server.shutdown(1)
    return data


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes, or until it has been quiet for 0.2 s (a kept-alive socket)."""
    out = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 0.2)
        except TimeoutError:
            return out
        if not chunk:
            return out
        out += chunk


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        out.append((int(lines[0].split(" ")[1]), headers, rest[:length]))
        data = rest[length:]
    return out


def test_pipelined_requests_in_pieces_are_answered_in_order() -> None:
    first = b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    second = b"GET /v2?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    wire = first + second
    # Split mid-header and mid-body: framing must not depend on how TCP cut the bytes.
    data = asyncio.run(_exchange([wire[:10], wire[10:50], wire[50:]]))
    answers = _responses(data)
    assert [json.loads(body)["path"] for _, _, body in answers] == ["/slow", "/v2"]
    assert json.loads(answers[0][2])["body"] == "hello"
    assert all(status == 200 for status, _, _ in answers)


def test_chunked_bodies_get_411_and_the_connection_closes() -> None:
    data = asyncio.run(
        _exchange([b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"])
    )
    [(status, headers, body)] = _responses(data)
    assert (
        status == 411 and headers["connection"] == "close" and "Content-Length" in json.loads(body)["error"]
    )


def test_an_oversized_body_is_read_then_refused_with_413() -> None:
    body = b"x" * 5000
    data = asyncio.run(
        _exchange(
            [b"POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", body[:2000], body[2000:]], max_body=1000
        )
    )
    [(status, _, answer)] = _responses(data)
    assert status == 413 and "limit of 1000 bytes" in json.loads(answer)["error"]


def test_malformed_request_lines_and_lengths_get_400() -> None:
    for wire in (
        b"NONSENSE\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: ab\r\n\r\n",
    ):
        [(status, _, body)] = _responses(asyncio.run(_exchange([wire])))
        assert status == 400 and json.loads(body)["error"]


def test_connection_close_is_honoured() -> None:
    data = asyncio.run(_exchange([b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n"]))
    answers = _responses(data)
    assert len(answers) == 1 and answers[0][1]["connection"] == "close"
