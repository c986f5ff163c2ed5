"""The thin API client turns every answer into JSON or an ApiError, never a decode error."""

from __future__ import annotations

from motherboard.kube.client import _parse, path_for


def test_plain_text_error_bodies_become_a_message() -> None:
    assert _parse(b"404 page not found\n") == {"message": "404 page not found"}
    assert _parse(b'{"kind": "Status", "reason": "NotFound"}')["reason"] == "NotFound"
    assert _parse(b"") == {}


def test_paths_for_core_and_custom_resources() -> None:
    assert path_for("", "v1", "pods", "ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert path_for("motherboard.io", "v1alpha1", "queues") == "/apis/motherboard.io/v1alpha1/queues"
