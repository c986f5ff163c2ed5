"""``explain aijob``: one screen on why a job waits or where it runs. Pure: built from the AIJob, its pods,
their nodes and the recent events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.constants import LABEL_MODEL_VERSION, LABEL_SITE, LABEL_TASK_NAME

_WAITING = {"Pending", "Queued", "Admitted"}
MAX_EVENTS = 10


@dataclass
class PodLine:
    """One pod of the job: where it runs and on which devices, or why it waits."""

    name: str
    task: str
    phase: str
    node: str | None
    site: str | None
    devices: list[str]
    waiting: str | None
    serving: str | None = None
    """A model-serving replica: the version it serves and why it is not serving (fetch error, probe)."""


@dataclass
class EventLine:
    """A recent event of the job or one of its pods."""

    time: str
    type: str
    reason: str
    object: str
    message: str


@dataclass
class JobExplanation:
    """Everything ``explain aijob`` prints."""

    namespace: str
    name: str
    queue: str | None
    phase: str
    reason: str | None
    message: str | None
    ready: str | None
    restarts: int
    preemptions: int
    summary: str
    conditions: list[dict[str, str]] = field(default_factory=list)
    pods: list[PodLine] = field(default_factory=list)
    events: list[EventLine] = field(default_factory=list)
    serving: list[dict[str, str]] = field(default_factory=list)
    """Per model-serving task: the model, versions and replicas, the artifact per target, why not serving."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain_job(
    job: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    nodes: Mapping[str, Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
) -> JobExplanation:
    """The explanation of one AIJob from its object, pods, the nodes they run on and events."""
    meta, spec, status = job.get("metadata") or {}, job.get("spec") or {}, job.get("status") or {}
    phase = status.get("phase") or "Pending"
    lines = sorted((_pod_line(p, nodes) for p in pods), key=lambda p: (p.task, p.name))
    explanation = JobExplanation(
        namespace=meta.get("namespace") or "",
        name=meta.get("name") or "",
        queue=spec.get("queue"),
        phase=phase,
        reason=status.get("reason"),
        message=status.get("message"),
        ready=status.get("ready"),
        restarts=int(status.get("restarts") or 0),
        preemptions=int(status.get("preemptions") or 0),
        summary=_summary(phase, status, lines),
        conditions=[
            {k: str(c.get(k, "")) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
            for c in status.get("conditions") or []
        ],
        pods=lines,
        events=_events(events),
        serving=[_serving_line(entry) for entry in status.get("serving") or []],
    )
    return explanation


def _serving_line(entry: Mapping[str, Any]) -> dict[str, str]:
    versions = ", ".join(
        f"v{v.get('version')}: {v.get('ready', 0)}/{v.get('replicas', 0)} ready"
        for v in entry.get("versions") or []
    )
    artifacts = "\n".join(
        f"{a.get('target')} → v{a.get('version')} {a.get('backend')} {str(a.get('digest', ''))[:19]}"
        for a in entry.get("artifacts") or []
    )
    failed = ", ".join(f"v{v}" for v in entry.get("failedVersions") or [])
    return {
        "task": str(entry.get("task", "")),
        "model": str(entry.get("model", "")),
        "stable": str(entry.get("stableVersion") or "-"),
        "canary": str(entry.get("canaryVersion") or "-"),
        "replicas": versions or f"0/{entry.get('desiredReplicas', 0)}",
        "artifacts": artifacts or "-",
        "rolledBack": failed or "-",
        "why": str(entry.get("message") or ""),
    }


def _pod_line(pod: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> PodLine:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    labels = ((nodes.get(node) or {}).get("metadata") or {}).get("labels") or {} if node else {}
    devices: list[str] = []
    try:
        assignment = DeviceAssignment.from_pod_annotations(meta.get("annotations"))
    except AssignmentError as exc:
        assignment, devices = None, [f"invalid assignment: {exc}"]
    for entry in assignment.containers if assignment else ():
        for device in entry.devices:
            share = "" if device.milli == 1000 else f" ({device.milli / 1000:g})"
            devices.append(f"{entry.resource} {device.id}{share}")
    waiting = None
    if not node:
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        waiting = (scheduled or {}).get("message") or "not scheduled yet"
    return PodLine(
        name=meta.get("name") or "",
        task=(meta.get("labels") or {}).get(LABEL_TASK_NAME, ""),
        phase=status.get("phase") or "Pending",
        node=node,
        site=labels.get(LABEL_SITE),
        devices=devices,
        waiting=waiting,
        serving=_replica(meta, status),
    )


def _replica(meta: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    """``v2 serving`` or ``v2 not serving: <why>`` for a model replica; None for other pods."""
    version = (meta.get("labels") or {}).get(LABEL_MODEL_VERSION)
    if version is None:
        return None
    runtime = next((c for c in status.get("containerStatuses") or [] if c.get("name") == "runtime"), None)
    if runtime is not None and runtime.get("ready"):
        return f"v{version} serving"
    why = "not started yet"
    if runtime is not None:
        state = runtime.get("state") or {}
        last = (runtime.get("lastState") or {}).get("terminated") or {}
        if state.get("waiting"):
            why = f"{state['waiting'].get('reason', '')}: {last.get('message') or state['waiting'].get('message') or ''}"
        elif state.get("running"):
            why = "loading the artifact (readiness probe not passed yet)"
        elif state.get("terminated"):
            why = f"exited: {state['terminated'].get('message') or state['terminated'].get('reason')}"
    return f"v{version} not serving: {why.strip(': ')}"


def _summary(phase: str, status: Mapping[str, Any], pods: list[PodLine]) -> str:
    """One sentence: why the job waits, or where it runs."""
    if phase in _WAITING:
        reasons = sorted({p.waiting for p in pods if p.waiting})
        why = status.get("message") or (reasons[0] if reasons else "no reason reported yet")
        return f"{phase}: {why}"
    if phase == "Running":
        nodes = sorted({p.node for p in pods if p.node})
        sites = sorted({p.site for p in pods if p.site})
        devices = sum(len(p.devices) for p in pods)
        where = f" at {', '.join(sites)}" if sites else ""
        return f"Running: {len(pods)} pod(s) on {len(nodes)} node(s){where} with {devices} device(s)"
    return f"{phase}: {status.get('message') or status.get('reason') or ''}".rstrip(": ")


def _events(events: Iterable[Mapping[str, Any]]) -> list[EventLine]:
    def when(event: Mapping[str, Any]) -> str:
        return str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp")
            or ""
        )

    recent = sorted(events, key=when)[-MAX_EVENTS:]
    return [
        EventLine(
            time=when(e),
            type=str(e.get("type") or ""),
            reason=str(e.get("reason") or ""),
            object=f"{(e.get('involvedObject') or {}).get('kind', '')}/{(e.get('involvedObject') or {}).get('name', '')}",
            message=str(e.get("message") or ""),
        )
        for e in recent
    ]


def pending_jobs(jobs: Iterable[Mapping[str, Any]], queues: set[str]) -> list[dict[str, str]]:
    """The waiting AIJobs of ``queues``, oldest first, each with the reason it waits (its status message)."""
    rows = []
    for job in jobs:
        meta, spec, status = job.get("metadata") or {}, job.get("spec") or {}, job.get("status") or {}
        phase = status.get("phase") or "Pending"
        if spec.get("queue") not in queues or phase not in _WAITING - {"Admitted"}:
            continue
        rows.append(
            {
                "namespace": meta.get("namespace") or "",
                "name": meta.get("name") or "",
                "queue": spec.get("queue") or "",
                "phase": phase,
                "priorityClass": spec.get("priorityClassName") or "",
                "since": str(status.get("queuedTime") or meta.get("creationTimestamp") or ""),
                "reason": status.get("message") or status.get("reason") or "waiting for the operator",
            }
        )
    return sorted(rows, key=lambda r: (r["since"], r["namespace"], r["name"]))
