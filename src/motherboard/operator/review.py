"""The webhook's HTTP edge: strict AdmissionReview parsing, answered with 400 when the review is malformed.

kopf's server passed anything that was JSON to the handlers: a review without ``request`` or with an
``apiVersion`` of ``admission.k8s.io/v9`` got a 500 with a traceback or was answered as if valid. Here a
review is checked against what the API server sends (``admission.k8s.io/v1`` or ``v1beta1``, the fields
kopf reads, of the right types) before kopf sees it; what is wrong is answered with a 400 naming it. The
server also takes bodies up to :data:`MAX_BODY` (aiohttp's default of 1 MiB refused the reviews of large
objects, and with ``failurePolicy: Fail`` that would refuse the object).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp.web
import kopf

log = logging.getLogger(__name__)

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
MAX_BODY = 16 * 1024 * 1024
"""An UPDATE's review carries the object twice; the API server stores objects up to ~1.5 MiB."""


def review_problem(data: object) -> str | None:
    """What makes ``data`` no AdmissionReview the API server would send; ``None`` when it is one."""
    if not isinstance(data, Mapping):
        return "the body is not a JSON object"
    if data.get("apiVersion") not in API_VERSIONS:
        return f"apiVersion {data.get('apiVersion')!r} is not one of {', '.join(API_VERSIONS)}"
    if data.get("kind") != "AdmissionReview":
        return f"kind {data.get('kind')!r} is not AdmissionReview"
    request = data.get("request")
    if not isinstance(request, Mapping):
        return "request is missing or not an object"
    return _request_problem(request)


def _request_problem(request: Mapping[str, Any]) -> str | None:
    for key in ("uid", "operation"):
        if not isinstance(request.get(key), str) or not request[key]:
            return f"request.{key} is missing or not a string"
    if request["operation"] not in OPERATIONS:
        return f"request.operation {request['operation']!r} is not one of {', '.join(OPERATIONS)}"
    resource = request.get("resource")
    if not isinstance(resource, Mapping):
        return "request.resource is missing or not an object"
    for key in ("group", "version", "resource"):
        if not isinstance(resource.get(key), str):
            return f"request.resource.{key} is missing or not a string"
    if not isinstance(request.get("userInfo"), Mapping):
        return "request.userInfo is missing or not an object"
    for key in ("subResource", "name", "namespace"):
        if request.get(key) is not None and not isinstance(request[key], str):
            return f"request.{key} is not a string"
    if request.get("dryRun") is not None and not isinstance(request["dryRun"], bool):
        return "request.dryRun is not a boolean"
    new, old = request.get("object"), request.get("oldObject")
    for key, value in (("object", new), ("oldObject", old)):
        if value is not None and not _is_object(value):
            return f"request.{key} is not a Kubernetes object (a JSON object with metadata)"
    needs = {"CREATE": ("object",), "UPDATE": ("object", "oldObject"), "DELETE": ("oldObject",)}
    for key in needs.get(request["operation"], ()):
        if request.get(key) is None:
            return f"request.{key} is missing for {request['operation']}"
    if new is None and old is None:
        return "request has neither object nor oldObject"
    return None


def _is_object(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("metadata", {}), Mapping)


class StrictWebhookServer(kopf.WebhookServer):
    """kopf's webhook server, with a strict, size-aware front door (see the module's note)."""

    @staticmethod
    async def _serve(fn: Any, request: aiohttp.web.Request) -> aiohttp.web.Response:
        request = request.clone(client_max_size=MAX_BODY)
        try:
            data = json.loads(await request.read())
        except aiohttp.web.HTTPRequestEntityTooLarge:
            raise
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested past the decoder
            return _bad_request(f"the body is not JSON: {type(exc).__name__}")
        problem = review_problem(data)
        if problem is not None:
            return _bad_request(problem)
        try:
            # kopf reads the body again from aiohttp's cache and builds the response as before.
            return await kopf.WebhookServer._serve(fn, request)
        except aiohttp.web.HTTPException:
            raise
        except Exception as exc:  # a bug of ours: the API server gets one line, the log the traceback
            log.exception("admission review %s failed", data["request"]["uid"])
            return aiohttp.web.Response(status=500, text=f"the webhook failed: {type(exc).__name__}\n")


def _bad_request(problem: str) -> aiohttp.web.Response:
    log.warning("malformed admission review: %s", problem)
    return aiohttp.web.Response(status=400, text=f"malformed AdmissionReview: {problem}\n")
