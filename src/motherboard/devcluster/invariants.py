"""What must hold after any fault, judged from the API server's view: the fault suite's invariants.

Given the AIJobs and pods as listed after the system settled, :func:`violations` names each breach:

- **stuck**: a job neither Running nor Succeeded, and not terminal with a reason (Failed names one);
- **duplicate pods**: two live pods for one slot (job, task, replica) of one attempt;
- **bound elsewhere**: a pod whose device assignment names another node than the one it is bound to (a
  second binding, or an assignment written for a plan the pod did not follow);
- **device held twice**: one device of a node given to live pods for more than its whole (1000 milli);
- **partial gang**: an attempt with some members bound and running and others waiting unbound;
- **lost**: a Succeeded job whose last attempt has pods that never ran to completion.

Pure functions over plain dicts: the tests (``tests/faults``) and ``bench/faults.py`` share them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.constants import (
    ANNOTATION_GANG_MIN_AVAILABLE,
    LABEL_ATTEMPT,
    LABEL_JOB_NAME,
    LABEL_REPLICA_INDEX,
    LABEL_TASK_NAME,
)

Obj = Mapping[str, Any]
SETTLED = {"Running", "Succeeded"}
TERMINAL = {"Failed"}
WHOLE = 1000


def violations(jobs: Iterable[Obj], pods: Iterable[Obj]) -> list[str]:
    """Every invariant broken by this picture of the cluster (empty: all hold)."""
    pods = list(pods)
    return [*_jobs(jobs, pods), *_duplicates(pods), *_devices(pods), *_gangs(pods)]


def _where(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _live(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def _labels(pod: Obj) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def _jobs(jobs: Iterable[Obj], pods: list[Obj]) -> list[str]:
    out = []
    by_job: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for pod in pods:
        owner = _labels(pod).get(LABEL_JOB_NAME)
        if owner:
            by_job[((pod.get("metadata") or {}).get("namespace", ""), owner)].append(pod)
    for job in jobs:
        status = job.get("status") or {}
        phase = status.get("phase") or "Pending"
        if phase in TERMINAL:
            if not (status.get("reason") or status.get("message")):
                out.append(f"stuck: job {_where(job)} is {phase} without a reason")
            continue
        if phase not in SETTLED:
            out.append(f"stuck: job {_where(job)} is {phase}: {status.get('message', '')}".rstrip(": "))
            continue
        if phase == "Succeeded":
            meta = job.get("metadata") or {}
            mine = by_job.get((meta.get("namespace", ""), meta.get("name", "")), [])
            last = max((int(_labels(p).get(LABEL_ATTEMPT, "0") or 0) for p in mine), default=0)
            unfinished = [
                _where(p)
                for p in mine
                if int(_labels(p).get(LABEL_ATTEMPT, "0") or 0) == last
                and (p.get("status") or {}).get("phase") != "Succeeded"
            ]
            if unfinished:
                out.append(f"lost: job {_where(job)} Succeeded but {', '.join(unfinished)} did not")
    return out


def _duplicates(pods: list[Obj]) -> list[str]:
    slots: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for pod in pods:
        labels = _labels(pod)
        if not _live(pod) or LABEL_JOB_NAME not in labels:
            continue
        slot = (
            (pod.get("metadata") or {}).get("namespace", ""),
            labels[LABEL_JOB_NAME],
            labels.get(LABEL_TASK_NAME, ""),
            labels.get(LABEL_REPLICA_INDEX, ""),
            labels.get(LABEL_ATTEMPT, "0"),
        )
        slots[slot].append(_where(pod))
    return [f"duplicate pods: {', '.join(names)} for one slot" for names in slots.values() if len(names) > 1]


def _devices(pods: list[Obj]) -> list[str]:
    out = []
    held: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or not _live(pod):
            continue
        try:
            assignment = DeviceAssignment.from_pod_annotations((pod.get("metadata") or {}).get("annotations"))
        except AssignmentError as exc:
            out.append(f"bound elsewhere: {_where(pod)} has an unreadable assignment: {exc}")
            continue
        if assignment is None:
            continue
        if assignment.node != node:
            out.append(f"bound elsewhere: {_where(pod)} is on {node}, its devices on {assignment.node}")
        for entry in assignment.containers:
            for device in entry.devices:
                held[(node, device.parent or device.id)].append((_where(pod), device.milli))
    for (node, device_id), holders in held.items():
        if sum(milli for _, milli in holders) > WHOLE:
            names = ", ".join(name for name, _ in holders)
            out.append(f"device held twice: {node}/{device_id} by {names}")
    return out


def _gangs(pods: list[Obj]) -> list[str]:
    attempts: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
    for pod in pods:
        labels = _labels(pod)
        if LABEL_JOB_NAME in labels and _live(pod):
            key = (
                (pod.get("metadata") or {}).get("namespace", ""),
                labels[LABEL_JOB_NAME],
                labels.get(LABEL_ATTEMPT, "0"),
            )
            attempts[key].append(pod)
    out = []
    for (namespace, job, attempt), members in attempts.items():
        annotations = (members[0].get("metadata") or {}).get("annotations") or {}
        need = int(annotations.get(ANNOTATION_GANG_MIN_AVAILABLE, "1") or 1)
        bound = [p for p in members if (p.get("spec") or {}).get("nodeName")]
        if bound and len(bound) < need and len(bound) < len(members):
            out.append(f"partial gang: {namespace}/{job} attempt {attempt} has {len(bound)} of {need} bound")
    return out
