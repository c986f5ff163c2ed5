"""Wait until an address answers as a Motherboard runtime: what a client of a new Service needs first.

kube-proxy programs a new Service's rules a moment (a sync, >= 1 s) after its endpoints turn ready. Until then
a connection to the ClusterIP is not DNATed: on a host without a route it is refused, but on a host whose
default route leads to a transparent proxy (CI machines often have one) something else answers, typically
an empty 404. Retrying on "connection refused" alone is therefore not enough; the only reliable sign that the
Service reaches a replica is the replica's own answer to the protocol's server-metadata request.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

#: The name the runtime gives in its server metadata (``GET /v2``).
SERVER_NAME = "motherboard"

# Environment proxies must not be consulted: the point is to reach the ClusterIP itself.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers_as_runtime(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET http://<url>/v2`` answers with the runtime's server metadata."""
    try:
        with _DIRECT.open(f"http://{url}/v2", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):  # refused, reset, timed out, an HTTP error, or a body that is not JSON
        return False
    return isinstance(body, dict) and body.get("name") == SERVER_NAME


def wait_until_serving(url: str, timeout: float = 60.0, poll: float = 0.2) -> float:
    """Block until ``url`` (``host:port``) answers as a runtime; return the seconds it took.

    Raises :class:`TimeoutError` naming the address when it does not within ``timeout`` seconds.
    """
    started = time.monotonic()
    while not answers_as_runtime(url):
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"{url} did not answer as a Motherboard runtime (GET /v2) within {timeout:.0f}s: "
                "is the Service's endpoint ready and kube-proxy running?"
            )
        time.sleep(poll)
    return time.monotonic() - started
