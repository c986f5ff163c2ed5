"""Events on objects the operator cannot read: a garbage annotation or an object its handlers refuse.

The object is skipped (or read without the broken part) and the operator goes on; the Warning Event
``Unreadable`` on the object itself tells its owner what is wrong, once per object and problem (a node's
heartbeats would otherwise repeat it every few seconds).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from motherboard.kube import Kube
from motherboard.kube.client import path_for

log = logging.getLogger(__name__)
Obj = dict[str, Any]
REASON = "Unreadable"
REMEMBERED = 10_000
"""Objects whose last reported problem is remembered (oldest forgotten first)."""


class ProblemReporter:
    """``reporter(object, problem)``: post a Warning Event on the object, once per object and problem."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._reported: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, obj: Obj, problem: str) -> None:
        meta = obj.get("metadata") or {}
        key = str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")
        if self._reported.get(key) == problem:
            return
        self._reported.pop(key, None)
        self._reported[key] = problem
        while len(self._reported) > REMEMBERED:
            del self._reported[next(iter(self._reported))]
        task = asyncio.get_running_loop().create_task(self._post(obj, problem))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, obj: Obj, problem: str) -> None:
        meta = obj.get("metadata") or {}
        name, namespace = str(meta.get("name", "")), meta.get("namespace")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        involved = {
            "apiVersion": obj.get("apiVersion", "v1"),
            "kind": obj.get("kind", ""),
            "name": name,
            "uid": meta.get("uid", ""),
            **({"namespace": namespace} if namespace else {}),
        }
        body = {
            # Events of cluster-scoped objects (nodes, queues, pools) live in ``default``, as kubectl shows them.
            "metadata": {"generateName": f"{name[:200]}.", "namespace": namespace or "default"},
            "involvedObject": involved,
            "type": "Warning",
            "reason": REASON,
            "message": problem[:1024],
            "source": {"component": "motherboard-operator"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._kube.create(path_for("", "v1", "events", namespace or "default"), body)
        except Exception as exc:  # an Event is best effort; the problem is in the log either way
            log.warning("could not post an Event on %s %s: %s", involved["kind"], name, exc)
