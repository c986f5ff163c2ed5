"""Model-serving tasks: which version and artifacts each replica gets, targets from the nodes a placement
allows, the rendered runtime container, rollout one replica at a time, rollback, canary and scale-down."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from motherboard.api import constants as c
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec, JobPhase
from motherboard.devices.model import NodeInventory
from motherboard.models.fetch import ENV, ServingRequest
from motherboard.operator.aggregate import NodeView
from motherboard.operator.lifecycle import plan
from motherboard.operator.observed import ObservedPod
from motherboard.operator.render import render_pod, render_services, serving_hash, slots
from motherboard.operator.serving import Candidate, ModelView, TaskServing, VersionView, resolve
from motherboard.operator.targeting import task_targets

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def serving_job(status: dict[str, Any] | None = None, **model: Any) -> AIJob:
    task: dict[str, Any] = {
        "name": "serve",
        "replicas": model.pop("replicas", 2),
        "model": {"name": "ocr", **model},
    }
    body: dict[str, Any] = {
        "metadata": {"name": "ocr-svc", "namespace": "team-a", "uid": "u1"},
        "spec": {"type": "Inference", "tasks": [task]},
    }
    if status:
        body["status"] = status
    return AIJob.model_validate(body)


def cands(version: int, backend: str = "onnxruntime") -> tuple[Candidate, ...]:
    return (Candidate(f"key{version}-{backend}", f"sha256:{version:064x}", backend),)


def view(
    *versions: int, targets: tuple[str, ...] = ("cpu-x86_64",), compiled: tuple[int, ...] | None = None
) -> ModelView:
    compiled = versions if compiled is None else compiled
    return ModelView(
        "ocr",
        {
            v: VersionView(
                v,
                f"sha256:{v:064x}",
                artifacts={t: cands(v) for t in targets} if v in compiled else {},
                compiling={} if v in compiled else {t: "compile job x Pending" for t in targets},
            )
            for v in versions
        },
    )


def node(
    name: str, arch: str = "amd64", site: str = "central", kind: str = "central", **labels: str
) -> NodeView:
    return NodeView(
        name,
        {"kubernetes.io/arch": arch, c.LABEL_SITE: site, c.LABEL_SITE_KIND: kind, **labels},
        {},
        NodeInventory(),
    )


# --- the API ------------------------------------------------------------------------------------------------
def test_a_model_task_needs_no_container_but_a_plain_one_does() -> None:
    assert serving_job().spec.tasks[0].template == {}
    with pytest.raises(ValidationError, match=r"template\.spec\.containers"):
        AIJob.model_validate(
            {
                "metadata": {"name": "x"},
                "spec": {"type": "Inference", "tasks": [{"name": "a", "template": {}}]},
            }
        )


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"versionPolicy": "Pinned"}, "model.version: required with versionPolicy Pinned"),
        ({"version": 2}, "model.version: only allowed with versionPolicy Pinned"),
        ({"canary": {"version": 2, "replicas": 2}}, "leaves none on the stable version"),
    ],
)
def test_serving_spec_errors_name_the_field(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        serving_job(**model)


def test_serving_and_autoscaling_need_an_inference_job() -> None:
    with pytest.raises(ValidationError, match="set type: Inference"):
        AIJob.model_validate(
            {
                "metadata": {"name": "x"},
                "spec": {"type": "Batch", "tasks": [{"name": "a", "model": {"name": "m"}}]},
            }
        )
    with pytest.raises(ValidationError, match="serve a model"):
        AIJob.model_validate(
            {"metadata": {"name": "x"}, "spec": {"type": "Inference", "tasks": [
                {"name": "a", "autoscaling": {"maxReplicas": 3},
                 "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}]}}
        )  # fmt: skip


# --- targets ------------------------------------------------------------------------------------------------
def test_targets_follow_the_architectures_and_devices_the_placement_allows() -> None:
    nodes = {
        "c1": node("c1"),
        "arm": node("arm", arch="arm64", site="edge-east", kind="edge"),
        "t4": node("t4", site="edge-east", kind="edge", **{c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "T4"}),
        "h100": node("h100", **{c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "H100-80GB"}),
    }  # fmt: skip
    job = serving_job()
    assert task_targets(job, job.spec.tasks[0], nodes, {}) == (("cpu-aarch64", "cpu-x86_64"), "")
    edge = job.model_copy(deep=True)
    edge.spec.placement.required_sites = ["edge-east"]
    assert task_targets(edge, edge.spec.tasks[0], nodes, {})[0] == ("cpu-aarch64", "cpu-x86_64")
    gpu = AIJob.model_validate(
        {"metadata": {"name": "g", "namespace": "t"}, "spec": {"type": "Inference", "tasks": [
            {"name": "s", "model": {"name": "ocr"}, "devices": {"vendor": "nvidia"}}]}}
    )  # fmt: skip
    assert task_targets(gpu, gpu.spec.tasks[0], nodes, {})[0] == ("cuda-sm75", "cuda-sm90")
    pools = {"t4s": DevicePoolSpec.model_validate({"vendor": "nvidia", "model": "T4", "site": "edge-east"})}
    gpu.spec.tasks[0].devices.pool = "t4s"  # type: ignore[union-attr]
    assert task_targets(gpu, gpu.spec.tasks[0], nodes, pools)[0] == ("cuda-sm75",)


def test_no_target_says_what_to_widen() -> None:
    job = serving_job()
    job.spec.placement.required_sites = ["moon"]
    targets, problem = task_targets(job, job.spec.tasks[0], {"c1": node("c1")}, {})
    assert targets == ()
    assert "placement allows no any node (0 of 1 nodes match): widen spec.placement" in problem
    plan_ = resolve(job, job.spec.tasks[0], view(1), targets, problem)
    assert (plan_.ready, plan_.reason) == (False, "NoTarget")


# --- versions -----------------------------------------------------------------------------------------------
def test_latest_serves_the_newest_version_compiled_for_every_target() -> None:
    job = serving_job()
    task = job.spec.tasks[0]
    targets = ("cpu-aarch64", "cpu-x86_64")
    ready = resolve(job, task, view(1, 2, targets=targets), targets)
    assert (ready.ready, ready.stable, ready.message) == (True, 2, "")
    # Version 3 still compiling: version 2 keeps serving, and the status says so.
    meanwhile = resolve(job, task, view(1, 2, 3, targets=targets, compiled=(1, 2)), targets)
    assert meanwhile.stable == 2
    assert "compiling model ocr version 3 for cpu-aarch64" in meanwhile.message
    assert meanwhile.message.endswith("version 2 serves meanwhile")
    first = resolve(job, task, view(1, targets=targets, compiled=()), targets)
    assert (first.ready, first.reason) == (False, "Compiling")


def test_pinned_and_missing_versions() -> None:
    pinned = serving_job(versionPolicy="Pinned", version=1)
    assert resolve(pinned, pinned.spec.tasks[0], view(1, 2), ("cpu-x86_64",)).stable == 1
    missing = serving_job(versionPolicy="Pinned", version=7)
    result = resolve(missing, missing.spec.tasks[0], view(1, 2), ("cpu-x86_64",))
    assert (result.ready, result.reason) == (False, "VersionNotFound")
    assert "has no version 7 (it has 1, 2): set tasks[].model.version" in result.message
    gone = resolve(pinned, pinned.spec.tasks[0], None, ("cpu-x86_64",))
    assert (gone.reason, gone.ready) == ("ModelNotFound", False)


def test_a_rolled_back_version_is_not_served_again() -> None:
    job = serving_job(status={"serving": [{"task": "serve", "model": "ocr", "failedVersions": [2]}]})
    assert resolve(job, job.spec.tasks[0], view(1, 2), ("cpu-x86_64",)).stable == 1


def test_canary_replicas_are_the_highest_numbered() -> None:
    job = serving_job(replicas=4, versionPolicy="Pinned", version=1, canary={"version": 2, "replicas": 1})
    plan_ = resolve(job, job.spec.tasks[0], view(1, 2), ("cpu-x86_64",))
    assert [plan_.version_for(i) for i in range(4)] == [1, 1, 1, 2]
    assert plan_.plan_hash(0) == plan_.plan_hash(2) != plan_.plan_hash(3)


# --- rendering ----------------------------------------------------------------------------------------------
def ready_plan(job: AIJob, stable: int = 1, **kw: Any) -> TaskServing:
    base = resolve(job, job.spec.tasks[0], view(1, 2, 3), ("cpu-x86_64",))
    return replace(base, stable=stable, plans={stable: {"cpu-x86_64": cands(stable)}}, endpoint="http://10.0.0.1:8090",
                   image="docker.io/motherboard/motherboard:0.1.0", **kw)  # fmt: skip


def test_the_replica_runs_the_runtime_with_its_plan_probes_and_cache() -> None:
    job = serving_job()
    plan_ = ready_plan(job)
    pod = render_pod(job, "u1", slots(job)[0], serving=plan_)
    runtime = pod["spec"]["containers"][0]
    assert runtime["name"] == "runtime"
    assert runtime["command"][:6] == ["python3", "-m", "motherboard.cli", "runtime", "serve", "--fetch"]
    assert runtime["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8000}
    env = {e["name"]: e for e in runtime["env"]}
    request = ServingRequest.from_json(env[ENV]["value"])
    assert (request.model, request.version, request.endpoint) == ("ocr", 1, "http://10.0.0.1:8090")
    assert request.plan == {"cpu-x86_64": [cands(1)[0].to_json()]}
    assert pod["metadata"]["labels"][c.LABEL_MODEL_VERSION] == "1"
    assert {v["name"]: v for v in pod["spec"]["volumes"]}["artifact-cache"]["hostPath"]["path"] == (
        "/var/cache/motherboard/artifacts"
    )
    service = render_services(job, "u1")[0]
    assert service["metadata"]["name"] == "ocr-svc"
    assert [p["port"] for p in service["spec"]["ports"]] == [8000, 8001, 8002]


def test_edge_replicas_tolerate_a_disconnected_node_for_the_grace() -> None:
    job = serving_job()
    job.spec.placement.required_sites = ["edge-east"]
    pod = render_pod(job, "u1", slots(job)[0], serving=ready_plan(job))
    grace = {
        t["key"]: t.get("tolerationSeconds")
        for t in pod["spec"]["tolerations"]
        if t.get("effect") == "NoExecute"
    }
    assert grace == {"node.kubernetes.io/unreachable": 3600, "node.kubernetes.io/not-ready": 3600}
    job.spec.placement.disconnect_grace_seconds = 120
    pod = render_pod(job, "u1", slots(job)[0], serving=ready_plan(job))
    assert {
        t.get("tolerationSeconds") for t in pod["spec"]["tolerations"] if t.get("effect") == "NoExecute"
    } == {120}


# --- the planner ------------------------------------------------------------------------------------------------
def replica(job: AIJob, plan_: TaskServing, index: int, version: int, **kw: Any) -> ObservedPod:
    task = job.spec.tasks[0]
    fields: dict[str, Any] = {"phase": "Running", "node": "n1", "ready": True, "created": T0}
    fields.update(kw)
    return ObservedPod(
        f"ocr-svc-serve-{index}", "serve", index, template_hash=serving_hash(task, replace(plan_, stable=version,
        plans={version: {"cpu-x86_64": cands(version)}}), index), model_version=version, **fields,
    )  # fmt: skip


def test_no_replica_until_an_artifact_exists_and_the_reason_is_the_phase() -> None:
    job = serving_job()
    waiting = resolve(job, job.spec.tasks[0], view(1, compiled=()), ("cpu-x86_64",))
    result = plan(job, "u1", [], T0, serving={"serve": waiting})
    assert result.create == []
    assert (result.status.phase, result.status.reason) == (JobPhase.QUEUED, "Compiling")
    assert result.status.serving[0].message.startswith("Compiling: compiling model ocr version 1")


def test_a_new_version_rolls_out_one_replica_at_a_time() -> None:
    job = serving_job()
    new = ready_plan(job, stable=2)
    pods = [replica(job, new, 0, 1), replica(job, new, 1, 1)]
    result = plan(job, "u1", pods, T0, serving={"serve": new})
    assert result.delete == ["ocr-svc-serve-0"]
    # The replacement is not ready yet: nothing else is touched.
    pods = [replica(job, new, 0, 2, ready=False, phase="Pending"), replica(job, new, 1, 1)]
    assert plan(job, "u1", pods, T0, serving={"serve": new}).delete == []
    pods = [replica(job, new, 0, 2), replica(job, new, 1, 1)]
    result = plan(job, "u1", pods, T0, serving={"serve": new})
    assert result.delete == ["ocr-svc-serve-1"]
    versions = {v.version: (v.replicas, v.ready) for v in result.status.serving[0].versions}
    assert versions == {1: (1, 1), 2: (1, 1)}


def test_a_version_whose_replica_fails_readiness_is_rolled_back() -> None:
    status = {"serving": [{"task": "serve", "model": "ocr", "rolledOutVersion": 1}]}
    job = serving_job(status=status)
    new = ready_plan(job, stable=2)
    bad = replica(job, new, 0, 2, ready=False, restarts=3, fetched='{"error": "no artifact"}')
    result = plan(job, "u1", [bad, replica(job, new, 1, 1)], T0, serving={"serve": new})
    assert result.status.serving[0].failed_versions == [2]
    event = next(e for e in result.events if e.reason == "RolledBack")
    assert "version 2: replica ocr-svc-serve-0 failed its rollout (it restarted 3 times" in event.message
    assert "back to version 1" in event.message
    # Slow, not crashing: the progress deadline.
    slow = replica(job, new, 0, 2, ready=False, phase="Pending", created=T0 - timedelta(seconds=301))
    assert plan(job, "u1", [slow, replica(job, new, 1, 1)], T0, serving={"serve": new}).status.serving[
        0
    ].failed_versions == [2]


def test_the_first_rollout_is_never_rolled_back() -> None:
    job = serving_job()
    first = ready_plan(job, stable=1)
    bad = replica(job, first, 0, 1, ready=False, restarts=5)
    result = plan(job, "u1", [bad], T0, serving={"serve": first})
    assert result.status.serving[0].failed_versions == []


def test_autoscaled_replicas_follow_the_plan_and_scale_down_from_the_top() -> None:
    body = json.loads(serving_job(replicas=2).model_dump_json(by_alias=True, exclude_none=True))
    body["spec"]["tasks"][0]["autoscaling"] = {"minReplicas": 1, "maxReplicas": 4}
    job = AIJob.model_validate(body)
    up = replace(ready_plan(job), replicas=4)
    pods = [replica(job, up, i, 1) for i in range(2)]
    result = plan(job, "u1", pods, T0, serving={"serve": up})
    assert sorted(p["metadata"]["name"] for p in result.create) == ["ocr-svc-serve-2", "ocr-svc-serve-3"]
    down = replace(ready_plan(job), replicas=1)
    pods = [replica(job, down, i, 1) for i in range(3)]
    result = plan(job, "u1", pods, T0, serving={"serve": down})
    assert sorted(result.delete) == ["ocr-svc-serve-1", "ocr-svc-serve-2"]


def test_targets_skip_nodes_whose_taints_the_pods_do_not_tolerate() -> None:
    arm_npu = replace(
        node(
            "npu",
            arch="arm64",
            **{c.LABEL_ACCELERATOR_VENDOR: "huawei", c.LABEL_ACCELERATOR_MODEL: "Ascend310P"},
        ),
        taints=(("huawei.com/Ascend310P", "NoSchedule"),),
    )
    nodes = {"c1": node("c1"), "npu": arm_npu}
    job = serving_job()
    assert task_targets(job, job.spec.tasks[0], nodes, {})[0] == ("cpu-x86_64",)
    # A template tolerating everything may land there, so its CPU architecture counts.
    job.spec.tasks[0].template = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert task_targets(job, job.spec.tasks[0], nodes, {})[0] == ("cpu-aarch64", "cpu-x86_64")


@pytest.mark.parametrize(
    ("env", "arch", "target"),
    [
        ({}, "x86_64", "cpu-x86_64"),
        ({}, "aarch64", "cpu-aarch64"),
        (
            {"MOTHERBOARD_DEVICE_VENDOR": "nvidia", "MOTHERBOARD_DEVICE_MODEL": "A100-80GB"},
            "x86_64",
            "cuda-sm80",
        ),
        ({"MOTHERBOARD_DEVICE_VENDOR": "nvidia", "MOTHERBOARD_DEVICE_MODEL": "T4"}, "x86_64", "cuda-sm75"),
        (
            {"MOTHERBOARD_DEVICE_VENDOR": "huawei", "MOTHERBOARD_DEVICE_MODEL": "Ascend310P"},
            "aarch64",
            "ascend-310p",
        ),
    ],
)
def test_a_replica_learns_its_target_from_what_the_device_plugin_gave_it(
    env: dict[str, str], arch: str, target: str
) -> None:
    from motherboard.models.fetch import detect_target

    assert detect_target(env, arch) == target


def test_a_rollout_never_takes_a_second_replica_down_while_the_first_is_away() -> None:
    """The replaced replica terminating (its new pod cannot take the name yet) is one replica unavailable:
    the next stale one must wait, else the Service is left with no endpoint (seen on the real node)."""
    job = serving_job()
    new = ready_plan(job, stable=2)
    # Pod 0 was deleted: it is terminating, so the planner's "current" pods hold only pod 1, old and ready.
    result = plan(job, "u1", [replace(replica(job, new, 0, 1), deleting=True), replica(job, new, 1, 1)], T0,
                  serving={"serve": new})  # fmt: skip
    assert result.delete == []
    # The new pod 0 exists but is not ready yet: still wait.
    starting = replica(job, new, 0, 2, ready=False, phase="Pending")
    assert plan(job, "u1", [starting, replica(job, new, 1, 1)], T0, serving={"serve": new}).delete == []
