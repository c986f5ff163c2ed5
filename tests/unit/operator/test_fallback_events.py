"""A replica that serves a fallback artifact gets an Event on its AIJob, from the fetch report in its log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from motherboard.kube.client import ApiError
from motherboard.operator.artifacts import ArtifactService
from motherboard.operator.modelctl import FALLBACK_LOG_TRIES, ModelController, ServingOptions
from motherboard.operator.observed import ObservedPod
from motherboard.operator.store import Store

BORN = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FELL_BACK = {
    "target": "cpu-x86_64", "key": "k2", "digest": "sha256:" + "2" * 64, "backend": "onnxruntime",
    "cache": False, "fallback": "tvm artifact sha256:111111111111: 404 no such artifact",
}  # fmt: skip


class LogKube:
    """Serves each pod's log (or an error) and records the Events created."""

    def __init__(self, logs: dict[str, str | ApiError]) -> None:
        self.logs, self.reads, self.events = logs, [], []  # type: ignore[var-annotated]

    async def text(self, path: str, **params: str) -> str:
        pod = path.split("/pods/")[1].removesuffix("/log")
        self.reads.append((pod, params["container"]))
        answer = self.logs[pod]
        if isinstance(answer, ApiError):
            raise answer
        return answer

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path.endswith("/events")
        self.events.append(body)
        return body


def controller(tmp_path: Path, kube: LogKube) -> ModelController:
    store = Store()
    store.jobs[("apps", "ocr")] = {
        "metadata": {"name": "ocr", "namespace": "apps", "uid": "job-uid"},
        "spec": {"tasks": [{"name": "serve", "model": {"name": "ocr"}}]},
    }
    store.job_pods[("apps", "ocr")] = {
        name: ObservedPod(name, "serve", i, phase="Running", ready=True, created=BORN)
        for i, name in enumerate(("ocr-serve-0", "ocr-serve-1", "ocr-serve-2"))
    }
    artifacts = ArtifactService(tmp_path / "operator")
    options = ServingOptions(endpoint="http://operator", image="img")
    return ModelController(kube, store, artifacts, options, lambda key: None)  # type: ignore[arg-type]


def test_a_fallback_becomes_one_event_on_the_job_and_each_log_is_read_once(tmp_path: Path) -> None:
    kube = LogKube(
        {
            "ocr-serve-0": "fetched " + json.dumps(FELL_BACK) + "\nserving on :8000\n",
            "ocr-serve-1": "fetched " + json.dumps({**FELL_BACK, "fallback": ""}) + "\n",  # the preferred one
            "ocr-serve-2": ApiError(404, "NotFound", "no kubelet serves this node's logs"),
        }
    )
    ctl = controller(tmp_path, kube)

    async def passes(n: int) -> None:
        for _ in range(n):
            await ctl.report_fallbacks()

    asyncio.run(passes(FALLBACK_LOG_TRIES + 2))
    (event,) = kube.events
    assert (event["reason"], event["type"]) == ("ServingFallback", "Warning")
    assert event["involvedObject"] == {
        "apiVersion": "motherboard.io/v1alpha1", "kind": "AIJob", "name": "ocr", "namespace": "apps", "uid": "job-uid",
    }  # fmt: skip
    assert "ocr-serve-0 serves the onnxruntime artifact sha256:22222222222" in event["message"]
    assert "404 no such artifact" in event["message"]
    # Each readable log once, from the runtime container; an unreadable one a few times, then no more.
    assert kube.reads.count(("ocr-serve-0", "runtime")) == 1
    assert kube.reads.count(("ocr-serve-1", "runtime")) == 1
    assert kube.reads.count(("ocr-serve-2", "runtime")) == FALLBACK_LOG_TRIES


def test_a_new_incarnation_of_the_replica_is_read_again(tmp_path: Path) -> None:
    kube = LogKube(
        {"ocr-serve-0": "fetched " + json.dumps(FELL_BACK) + "\n", "ocr-serve-1": "", "ocr-serve-2": ""}
    )
    ctl = controller(tmp_path, kube)
    asyncio.run(ctl.report_fallbacks())
    pods = ctl._store.job_pods[("apps", "ocr")]
    pods["ocr-serve-0"] = ObservedPod(
        "ocr-serve-0", "serve", 0, phase="Running", ready=True, created=BORN.replace(hour=13)
    )
    asyncio.run(ctl.report_fallbacks())
    assert len(kube.events) == 2
