"""Fluent builders for API manifests, so each test states only what it is about."""

from __future__ import annotations

import copy
from typing import Any


def aijob(**spec: Any) -> dict[str, Any]:
    """A valid one-task AIJob manifest; keyword arguments override spec fields."""
    base: dict[str, Any] = {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "AIJob",
        "metadata": {"name": "job", "namespace": "research"},
        "spec": {
            "queue": "research",
            "tasks": [task()],
        },
    }
    base["spec"].update(copy.deepcopy(spec))
    return base


def task(name: str = "worker", replicas: int = 2, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "replicas": replicas,
        "devices": {"vendor": "nvidia", "count": 1},
        "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}},
    }
    body.update(extra)
    return body


def queue(name: str = "research", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "Queue",
        "metadata": {"name": name},
        "spec": {"parent": "org", "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]},
    }
    base["spec"].update(copy.deepcopy(spec))
    return base


def devicepool(name: str = "pool", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "DevicePool",
        "metadata": {"name": name},
        "spec": {"vendor": "nvidia", "sharing": {"mode": "Whole"}},
    }
    base["spec"].update(copy.deepcopy(spec))
    return base
