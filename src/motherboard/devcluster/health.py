"""Small HTTP(S) probes for component health endpoints, and free-port allocation."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TLSClient:
    """Trust our CA and, for the API server, present the admin client certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if self.cert is not None:
            ctx.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        return ctx


def probe(url: str, tls: TLSClient | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    """GET ``url``: (True, body) on HTTP 200, else (False, the reason)."""
    try:
        ctx = tls.context() if tls is not None and url.startswith("https") else None
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
            body = resp.read(4096).decode(errors="replace").strip()
            return resp.status == 200, body
    except urllib.error.HTTPError as exc:
        body = exc.read(4096).decode(errors="replace").strip()
        return False, f"HTTP {exc.code}: {body.splitlines()[-1] if body else exc.reason}"
    except (OSError, ssl.SSLError) as exc:
        return False, str(getattr(exc, "reason", exc))


def wait_until(
    check: Callable[[], tuple[bool, str]], timeout_s: float, what: str, interval_s: float = 0.25
) -> None:
    """Poll ``check`` until it passes; raise ``TimeoutError`` with the last reason otherwise."""
    deadline = time.monotonic() + timeout_s
    reason = "not checked"
    while time.monotonic() < deadline:
        ok, reason = check()
        if ok:
            return
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s: {reason}")


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so the kernel cannot hand one out twice)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
