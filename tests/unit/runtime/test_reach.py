"""Waiting for a Service to reach a runtime: only the runtime's own answer counts.

The CI failure this guards against: a new Service's ClusterIP, not yet programmed by kube-proxy, was answered
by the CI machine's transparent proxy with an empty 404 (``server: keryx``), which a retry on "connection
refused" let through to tritonclient as an error.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from motherboard.runtime.reach import answers_as_runtime, wait_until_serving


class _Answers(BaseHTTPRequestHandler):
    """Plays the part the test sets: the transparent proxy, or the runtime once kube-proxy has caught up."""

    as_runtime = threading.Event()

    def do_GET(self) -> None:
        if self.as_runtime.is_set() and self.path == "/v2":
            body = json.dumps({"name": "motherboard", "version": "0", "extensions": []}).encode()
            self.send_response(200)
        else:
            body = b""
            self.send_response(404)
        self.send_header("server", "keryx")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads answers, not logs."""


@pytest.fixture
def server() -> Iterator[str]:
    _Answers.as_runtime.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_an_empty_404_from_something_else_is_not_the_runtime(server: str) -> None:
    assert not answers_as_runtime(server)


def test_a_refused_connection_is_not_the_runtime() -> None:
    assert not answers_as_runtime(_closed_port())


def test_waiting_ends_when_the_runtime_answers(server: str) -> None:
    threading.Timer(0.5, _Answers.as_runtime.set).start()
    took = wait_until_serving(server, timeout=10, poll=0.05)
    assert 0.4 < took < 10


def test_waiting_gives_up_naming_the_address(server: str) -> None:
    with pytest.raises(TimeoutError, match=f"{server} did not answer as a Motherboard runtime"):
        wait_until_serving(server, timeout=0.3, poll=0.05)
