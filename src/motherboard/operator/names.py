"""Names of what an AIJob becomes, and the name rules the API server would only enforce later.

The AIJob's own name is a DNS subdomain (253 characters), but its children are stricter:

- every pod carries it as the value of ``motherboard.io/job-name`` and ``motherboard.io/pod-group``
  (label values: at most 63 characters);
- a job with a headless Service names the Service after itself (a DNS-1035 label: at most 63
  characters, starting with a letter), and its pods' ``subdomain`` after the Service;
- each such pod's ``hostname`` is its name, ``<job>-<task>-<index>`` (a DNS-1123 label: at most 63).

The first two are checked at admission (:func:`name_problems`; the webhook refuses, and a job that got
in without the webhook is failed by the reconciler with the same message), because no derived name can
fix them without breaking what selects by the label or resolves the Service. The hostname and the Ray
head and inference Service names are derived to fit instead (:func:`fit`): cut, plus a hash of the
full name, as the Job controller names its pods, so two long names never collide.
"""

from __future__ import annotations

import hashlib

from motherboard.api.v1alpha1 import AIJob, Framework, JobType

DNS_LABEL_MAX = 63
HASH_LENGTH = 10


def fit(name: str, limit: int = DNS_LABEL_MAX) -> str:
    """``name`` when it fits in ``limit`` characters; else its start, ``-`` and a hash of the whole."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_LENGTH]
    return f"{name[: limit - HASH_LENGTH - 1].rstrip('-')}-{digest}"


def has_headless_service(job: AIJob) -> bool:
    """Whether the job gets a headless Service (rank addressing) and its pods a hostname and subdomain."""
    return job.spec.framework is not Framework.GENERIC or job.spec.type is JobType.TRAINING


def has_service_named_after_it(job: AIJob) -> bool:
    """A headless Service, or an inference job's endpoint (named after the job when it is the only one)."""
    if has_headless_service(job):
        return True
    return job.spec.type is JobType.INFERENCE and any(
        task.model is not None
        or any(
            container.get("ports") for container in (task.template.get("spec") or {}).get("containers", [])
        )
        for task in job.spec.tasks
    )


def name_problems(job: AIJob) -> list[str]:
    """What in the job's name its pods or Service would be refused for (empty when nothing)."""
    name = job.metadata.name
    problems = []
    if len(name) > DNS_LABEL_MAX:
        problems.append(
            f"metadata.name: {len(name)} characters, at most {DNS_LABEL_MAX}: every pod of the job carries "
            "it as a label value; choose a shorter name"
        )
    if has_service_named_after_it(job) and not name[:1].isalpha():
        problems.append(
            f"metadata.name: {name!r} starts with a digit; this job gets a Service named after it, and a "
            "Service name must start with a letter"
        )
    return problems
