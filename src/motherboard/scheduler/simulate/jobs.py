"""Job traces for the time-driven replay: the CSV format, its loader, and where job traces come from.

A job is a gang: ``replicas`` pods of ``gpus_per_replica`` devices each, submitted at ``submit_time``,
running ``duration`` seconds once *all* its pods are placed. The CSV (times in seconds)::

    name,submit_time,duration,tenant,replicas,gpus_per_replica,gpu_model,priority[,cpu_milli,memory_mib,gpu_milli,checkpoint]

``gpu_model`` empty means any model; ``gpu_milli`` below 1000 asks for a fractional share of one device per
replica (``gpus_per_replica`` must then be 1); ``checkpoint`` (``true``/``false``, default false) says
whether a preempted job keeps its progress. A malformed file fails with a
:class:`~motherboard.scheduler.simulate.trace.TraceError` naming the file, line, column and the fix.

Sources:

* :func:`jobs_from_pods` — the Alibaba 2023 pod lists, each pod a one-pod job (creation, scheduling and
  deletion times give its submit time and duration);
* :func:`synthetic_jobs` — a seeded gang-heavy trace: 1–128 GPU jobs, heavy-tailed (log-normal)
  durations, several tenants with bursts, at a chosen offered load;
* :func:`jobs_from_philly` — the Microsoft Philly trace (ATC '19, ``cluster_job_log``): submit time, GPU
  count from the attempts' ``detail``, duration of the last attempt, virtual cluster as the tenant.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from motherboard.scheduler.simulate.trace import TraceError, TracePod

JOB_COLUMNS = (
    "name", "submit_time", "duration", "tenant", "replicas", "gpus_per_replica", "gpu_model", "priority",
)  # fmt: skip
OPTIONAL_COLUMNS = ("cpu_milli", "memory_mib", "gpu_milli", "checkpoint")
DEFAULT_CPU_MILLI = 4000
DEFAULT_MEMORY_MIB = 16384


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One row of a job trace."""

    name: str
    submit_time: float
    duration: float
    tenant: str
    replicas: int = 1
    gpus_per_replica: int = 1
    gpu_model: str = ""
    priority: int = 0
    cpu_milli: int = DEFAULT_CPU_MILLI
    memory_mib: int = DEFAULT_MEMORY_MIB
    gpu_milli: int = 1000
    """Compute per device in thousandths: below 1000, each replica asks for a share of one device."""
    checkpoint: bool = False
    """A preempted job keeps its progress (else it restarts from the beginning)."""

    @property
    def gpus(self) -> float:
        """Devices the whole gang holds (fractional shares count as their share)."""
        return self.replicas * self.gpus_per_replica * self.gpu_milli / 1000

    def row(self) -> list[str]:
        return [
            self.name, _num(self.submit_time), _num(self.duration), self.tenant, str(self.replicas),
            str(self.gpus_per_replica), self.gpu_model, str(self.priority), str(self.cpu_milli),
            str(self.memory_mib), str(self.gpu_milli), "true" if self.checkpoint else "false",
        ]  # fmt: skip


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def write_jobs(path: Path, jobs: Iterable[JobSpec]) -> Path:
    """Write ``jobs`` as a job trace CSV (every column, optional ones included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([*JOB_COLUMNS, *OPTIONAL_COLUMNS])
        out.writerows(job.row() for job in jobs)
    return path


def load_jobs(path: str | Path) -> list[JobSpec]:
    """Read a job trace CSV, sorted by submit time (then name)."""
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise TraceError(path, 0, 0, f"cannot open: {exc.strerror}") from exc
    jobs: list[JobSpec] = []
    names: set[str] = set()
    with handle:
        reader = csv.reader(handle)
        header = tuple(h.strip() for h in next(reader, []))
        missing = [c for c in JOB_COLUMNS if c not in header]
        if missing:
            raise TraceError(
                path, 1, 1, f"missing column(s) {', '.join(missing)}; a job trace's header starts "
                f"{','.join(JOB_COLUMNS)} (optional: {','.join(OPTIONAL_COLUMNS)})",
            )  # fmt: skip
        col = {name: i for i, name in enumerate(header)}
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise TraceError(path, line, min(len(row), len(header)) + 1,
                                 f"expected {len(header)} fields, found {len(row)}")  # fmt: skip
            job = _job(path, line, col, row)
            if job.name in names:
                raise TraceError(path, line, col["name"] + 1, f"name: job {job.name!r} appears twice; "
                                 "give every job a unique name")  # fmt: skip
            names.add(job.name)
            jobs.append(job)
    jobs.sort(key=lambda j: (j.submit_time, j.name))
    return jobs


def _job(path: Path, line: int, col: dict[str, int], row: list[str]) -> JobSpec:
    def text(name: str) -> str:
        return row[col[name]].strip() if name in col else ""

    def number(name: str, default: float | None = None, *, integer: bool = False, low: float = 0) -> float:
        raw = text(name)
        if raw == "" and default is not None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isnan(value) or math.isinf(value) or (integer and not value.is_integer()) or value < low:
            kind = "a whole number" if integer else "a number"
            raise TraceError(path, line, col[name] + 1,
                             f"{name}: {raw!r} is not {kind} >= {low:g}; fix the value in this row")  # fmt: skip
        return value

    name, tenant = text("name"), text("tenant")
    if not name:
        raise TraceError(path, line, col["name"] + 1, "name: empty; every job needs a unique name")
    if not tenant:
        raise TraceError(path, line, col["tenant"] + 1, "tenant: empty; name the tenant (queue) of the job")
    gpus_per_replica = int(number("gpus_per_replica", integer=True))
    gpu_milli = int(number("gpu_milli", 1000, integer=True, low=1))
    if gpu_milli > 1000:
        raise TraceError(path, line, col["gpu_milli"] + 1,
                         f"gpu_milli: {gpu_milli} is over one device (1000); use gpus_per_replica for more")  # fmt: skip
    if gpu_milli < 1000 and gpus_per_replica != 1:
        raise TraceError(path, line, col["gpus_per_replica"] + 1,
                         "gpus_per_replica: a fractional share (gpu_milli < 1000) is a share of exactly one "
                         "device; set gpus_per_replica to 1")  # fmt: skip
    checkpoint = text("checkpoint").lower()
    if checkpoint not in ("", "true", "false", "1", "0", "yes", "no"):
        raise TraceError(path, line, col["checkpoint"] + 1, f"checkpoint: {checkpoint!r}; use true or false")
    try:
        priority = int(text("priority") or 0)
    except ValueError:
        raise TraceError(path, line, col["priority"] + 1,
                         f"priority: {text('priority')!r} is not an integer") from None  # fmt: skip
    return JobSpec(
        name=name,
        submit_time=number("submit_time"),
        duration=number("duration"),
        tenant=tenant,
        replicas=int(number("replicas", integer=True, low=1)),
        gpus_per_replica=gpus_per_replica,
        gpu_model=text("gpu_model"),
        priority=priority,
        cpu_milli=int(number("cpu_milli", DEFAULT_CPU_MILLI, integer=True)),
        memory_mib=int(number("memory_mib", DEFAULT_MEMORY_MIB, integer=True)),
        gpu_milli=gpu_milli,
        checkpoint=checkpoint in ("true", "1", "yes"),
    )


# --- sources ---------------------------------------------------------------------------------------------


def jobs_from_pods(pods: Sequence[TracePod]) -> list[JobSpec]:
    """Alibaba pod-list rows as one-pod jobs: submitted at creation, running from scheduling to deletion.

    Pods still running at the end of the trace (no deletion time) and pods without GPUs are left out; the
    QoS class is the tenant (LS, Burstable, BE …) and sets the priority as in the packing replay.
    """
    from motherboard.scheduler.simulate.convert import PRIORITY

    jobs = []
    for pod in pods:
        if pod.num_gpu == 0 or pod.creation_time is None or pod.deletion_time is None:
            continue
        start = pod.scheduled_time if pod.scheduled_time is not None else pod.creation_time
        fractional = pod.gpu_milli < 1000
        jobs.append(
            JobSpec(
                name=pod.name,
                submit_time=float(pod.creation_time),
                duration=float(max(pod.deletion_time - start, 0)),
                tenant=pod.qos,
                replicas=1,
                gpus_per_replica=1 if fractional else pod.num_gpu,
                gpu_model=pod.gpu_spec[0] if len(pod.gpu_spec) == 1 else "",
                priority=PRIORITY.get(pod.qos, 0),
                cpu_milli=pod.cpu_milli,
                memory_mib=pod.memory_mib,
                gpu_milli=pod.gpu_milli,
            )
        )
    jobs.sort(key=lambda j: (j.submit_time, j.name))
    return jobs


GANG_SIZES = (1, 1, 1, 1, 2, 2, 4, 4, 8, 8, 16, 32, 64, 128)
"""GPUs per job, drawn uniformly from this list: mostly small jobs, a heavy tail of large gangs (the shape
of the Philly and Helios traces: most jobs use one GPU, most GPU time goes to the large ones)."""


def synthetic_jobs(
    seed: int,
    count: int,
    *,
    capacity_gpus: int,
    load: float = 0.9,
    tenants: int = 4,
    gpus_per_node: int = 8,
    median_duration_s: float = 1800.0,
    sigma: float = 1.6,
    max_duration_s: float = 3 * 86400.0,
    burst_share: float = 0.3,
    checkpoint: float = 0.0,
) -> list[JobSpec]:
    """A reproducible gang-heavy job trace at offered load ``load`` of ``capacity_gpus``.

    Sizes from :data:`GANG_SIZES` (a job over ``gpus_per_node`` GPUs is a gang of full nodes); durations
    log-normal with the given median and ``sigma`` (heavy-tailed), capped at ``max_duration_s``; arrivals
    Poisson at the rate that offers ``load`` × capacity in GPU-seconds per second, with ``burst_share`` of
    the jobs arriving in bursts (one tenant submits 10–30 jobs within a few minutes). Tenants are
    ``t0``…; the tenant's index sets a skew in its share of the jobs (t0 submits most). A ``checkpoint``
    fraction of the jobs (chosen by the seed) keep their progress when preempted.
    """
    if count < 1 or capacity_gpus < 1 or not 0 < load <= 10 or tenants < 1:
        raise ValueError("synthetic_jobs: count, capacity_gpus, tenants >= 1 and 0 < load <= 10 required")
    rng = random.Random(seed)
    sizes = [min(s, capacity_gpus) for s in GANG_SIZES]
    mean_gpus = sum(sizes) / len(sizes)
    mu = math.log(median_duration_s)
    # The mean of a capped log-normal, estimated by sampling with a side generator (same seed).
    probe = random.Random(seed + 1)
    mean_duration = sum(min(probe.lognormvariate(mu, sigma), max_duration_s) for _ in range(20000)) / 20000
    rate = load * capacity_gpus / (mean_gpus * mean_duration)  # jobs per second
    weights = [1.0 / (i + 1) for i in range(tenants)]
    jobs: list[JobSpec] = []
    t = 0.0
    while len(jobs) < count:
        if rng.random() < burst_share / 20:  # a burst: ~20 jobs of one tenant within minutes
            tenant = rng.choices(range(tenants), weights)[0]
            burst = rng.randint(10, 30)
            at = t
            for _ in range(min(burst, count - len(jobs))):
                at += rng.expovariate(1 / 10.0)
                jobs.append(
                    _synthetic(rng, len(jobs), at, tenant, sizes, gpus_per_node, mu, sigma, max_duration_s)
                )
            t += burst / rate
            continue
        t += rng.expovariate(rate)
        tenant = rng.choices(range(tenants), weights)[0]
        jobs.append(_synthetic(rng, len(jobs), t, tenant, sizes, gpus_per_node, mu, sigma, max_duration_s))
    if checkpoint > 0:
        pick = random.Random(seed + 2)
        jobs = [replace(j, checkpoint=True) if pick.random() < checkpoint else j for j in jobs]
    jobs.sort(key=lambda j: (j.submit_time, j.name))
    return jobs


def _synthetic(
    rng: random.Random,
    index: int,
    at: float,
    tenant: int,
    sizes: Sequence[int],
    per_node: int,
    mu: float,
    sigma: float,
    cap: float,
) -> JobSpec:
    gpus = rng.choice(sizes)
    replicas, per_replica = (gpus // per_node, per_node) if gpus > per_node else (1, gpus)
    duration = round(max(30.0, min(rng.lognormvariate(mu, sigma), cap)))
    return JobSpec(
        name=f"job-{index:06d}",
        submit_time=round(at, 3),
        duration=float(duration),
        tenant=f"t{tenant}",
        replicas=replicas,
        gpus_per_replica=per_replica,
        priority=0,
        cpu_milli=4000 * per_replica,
        memory_mib=32768 * per_replica,
    )


def jobs_from_philly(path: str | Path) -> list[JobSpec]:
    """The Philly trace's ``cluster_job_log`` (a JSON list) as jobs.

    Documented fields (msr-fiddle/philly-traces): ``jobid``, ``vc`` (virtual cluster: the tenant),
    ``submitted_time`` (``YYYY-MM-DD HH:MM:SS``), ``status`` and ``attempts`` (each with ``start_time``,
    ``end_time`` and ``detail``: one entry per machine with its ``gpus``). The GPU count is that of the last
    attempt; the duration runs from its start to its end; jobs without a finished attempt are left out.
    Replicas are the machines of the last attempt; times are seconds since the first submission.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TraceError(path, 0, 0, f"not a Philly cluster_job_log (a JSON list): {exc}") from exc
    if not isinstance(records, list):
        raise TraceError(path, 1, 1, "not a Philly cluster_job_log: expected a JSON list of jobs")
    rows: list[tuple[datetime, JobSpec]] = []
    for i, rec in enumerate(records):
        try:
            submitted = _philly_time(rec["submitted_time"])
            attempts = [a for a in rec.get("attempts") or () if a.get("start_time") and a.get("end_time")]
            if submitted is None or not attempts:
                continue
            last = attempts[-1]
            start, end = _philly_time(last["start_time"]), _philly_time(last["end_time"])
            machines = [d for d in last.get("detail") or () if d.get("gpus")]
            if start is None or end is None or not machines:
                continue
            per_machine = max(len(d["gpus"]) for d in machines)
        except (KeyError, TypeError, AttributeError) as exc:
            raise TraceError(path, i + 1, 1, f"job record {i}: missing or malformed field {exc}") from exc
        spec = JobSpec(
            name=str(rec.get("jobid", f"philly-{i}")),
            submit_time=0.0,
            duration=max((end - start).total_seconds(), 0.0),
            tenant=str(rec.get("vc") or "default"),
            replicas=len(machines),
            gpus_per_replica=per_machine,
        )
        rows.append((submitted, spec))
    if not rows:
        return []
    first = min(t for t, _ in rows)
    jobs = [_with_submit(spec, (t - first).total_seconds()) for t, spec in rows]
    jobs.sort(key=lambda j: (j.submit_time, j.name))
    return jobs


def _philly_time(value: object) -> datetime | None:
    if not value or value == "None":
        return None
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")


def _with_submit(job: JobSpec, at: float) -> JobSpec:
    return replace(job, submit_time=at)
