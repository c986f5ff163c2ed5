"""`explain aijob` and `queue pending`: why a job waits, or where its pods run and on which devices."""

from __future__ import annotations

from typing import Any

from motherboard.quota.explain import explain_job, pending_jobs
from tests.unit.quota.builders import pod


def job(name: str, phase: str, message: str | None = None, queue: str = "q", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "team",
            "creationTimestamp": f"2025-01-01T00:00:0{len(name)}Z",
        },
        "spec": {"queue": queue, "priorityClassName": "high"},
        "status": {"phase": phase, **({"message": message} if message else {}), **status},
    }


def test_a_pending_job_says_why_from_its_status_or_its_pods() -> None:
    waiting = pod("j-0", node=None, job="j")
    waiting["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "message": "0/20 nodes fit"}
    ]
    with_status = explain_job(job("j", "Queued", "queue q over quota for nvidia.com/gpu"), [waiting], {}, [])
    assert with_status.summary == "Queued: queue q over quota for nvidia.com/gpu"
    assert with_status.pods[0].waiting == "0/20 nodes fit"
    assert explain_job(job("j", "Pending"), [waiting], {}, []).summary == "Pending: 0/20 nodes fit"


def test_a_running_job_says_where_each_pod_runs_on_which_devices() -> None:
    pods = [
        pod("j-1", job="j", node="gpu-1", devices={"nvidia.com/mig-1g.10gb": [142]}),
        pod("j-0", job="j", node="gpu-0", devices={"nvidia.com/gpu": [1000, 1000]}),
    ]
    nodes = {n: {"metadata": {"labels": {"motherboard.io/site": "central"}}} for n in ("gpu-0", "gpu-1")}
    events = [
        {
            "lastTimestamp": f"2025-01-01T00:00:{i:02d}Z",
            "type": "Normal",
            "reason": f"R{i}",
            "involvedObject": {"kind": "AIJob", "name": "j"},
            "message": "m",
        }
        for i in range(15)
    ]
    explained = explain_job(job("j", "Running", ready="2/2"), pods, nodes, events)
    assert explained.summary == "Running: 2 pod(s) on 2 node(s) at central with 3 device(s)"
    assert [(p.name, p.node, p.site) for p in explained.pods] == [
        ("j-0", "gpu-0", "central"),
        ("j-1", "gpu-1", "central"),
    ]
    assert explained.pods[1].devices == ["nvidia.com/mig-1g.10gb nvidia.com/mig-1g.10gb-0 (0.142)"]
    assert [e.reason for e in explained.events] == [f"R{i}" for i in range(5, 15)]  # the ten most recent


def test_pending_lists_only_waiting_jobs_of_the_queues_oldest_first() -> None:
    jobs = [
        job("bb", "Queued", "over quota"),
        job("a", "Pending"),
        job("ccc", "Running"),
        job("dddd", "Queued", queue="other"),
    ]
    rows = pending_jobs(jobs, {"q"})
    assert [(r["name"], r["reason"]) for r in rows] == [
        ("a", "waiting for the operator"),
        ("bb", "over quota"),
    ]
    assert rows[0]["priorityClass"] == "high"


def test_a_serving_job_says_what_each_replica_serves_and_why_one_does_not() -> None:
    job = {
        "metadata": {"name": "ocr-svc", "namespace": "t"},
        "spec": {"queue": "q"},
        "status": {
            "phase": "Running",
            "serving": [
                {
                    "task": "serve", "model": "ocr", "stableVersion": 2, "failedVersions": [3],
                    "versions": [{"version": 2, "replicas": 2, "ready": 1}],
                    "artifacts": [{"target": "cpu-x86_64", "version": 2, "backend": "onnxruntime",
                                   "digest": "sha256:" + "a" * 64}],
                    "message": "compiling model ocr version 4 for cpu-aarch64; version 2 serves meanwhile",
                }
            ],
        },
    }  # fmt: skip
    ok = {"metadata": {"name": "ocr-svc-serve-0", "labels": {"motherboard.io/model-version": "2"}},
          "spec": {"nodeName": "n"}, "status": {"phase": "Running",
          "containerStatuses": [{"name": "runtime", "ready": True, "state": {"running": {}}}]}}  # fmt: skip
    crashing = {"metadata": {"name": "ocr-svc-serve-1", "labels": {"motherboard.io/model-version": "2"}},
                "spec": {"nodeName": "n"}, "status": {"phase": "Running", "containerStatuses": [
                    {"name": "runtime", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"message": '{"error": "no artifact for cpu-x86_64"}'}}}]}}  # fmt: skip
    explained = explain_job(job, [ok, crashing], {}, [])
    (line,) = explained.serving
    assert line["replicas"] == "v2: 1/2 ready" and line["rolledBack"] == "v3"
    assert line["artifacts"] == "cpu-x86_64 → v2 onnxruntime sha256:aaaaaaaaaaaa"
    assert line["why"].endswith("version 2 serves meanwhile")
    assert [p.serving for p in explained.pods] == [
        "v2 serving",
        'v2 not serving: CrashLoopBackOff: {"error": "no artifact for cpu-x86_64"}',
    ]
