"""Workload-mix families: variants of a pod list that stress one kind of pod, reproducible from a seed.

The FGD authors evaluated their scheduler on variants of the default pod list (the ``openb_pod_list_cpu*``,
``gpushare*``, ``gpuspec*`` and ``multigpu*`` lists of alibaba/clusterdata). Those lists are sampled from
the default one; this module rebuilds each family from any base list and a seed, the way the upstream lists
are built (checked against them: ``multigpu50`` is the default list plus multi-GPU pods drawn from its own
until they ask half the GPU demand; ``gpushare100`` keeps the pod count and makes every GPU pod a share;
``gpuspec20`` constrains 20.4 % of the GPU pods and leaves every request as it was):

``cpu=K``
    The number of CPU-only pods scaled by ``K`` (0 … 3): ``K ≤ 1`` keeps a seeded ``round(K·n)`` of them,
    ``K > 1`` keeps all and adds draws (with replacement) from them. GPU pods are untouched.
``share=S``
    ``S`` (0 … 1) of the GPU pods, by count, ask a fractional GPU. The GPU pod count is kept: the list's
    fractional and non-fractional GPU pods are redrawn (each original at most once while it lasts, then
    with replacement) in those proportions. CPU-only pods are untouched.
``spec=S``
    ``S`` (0 … 1) of the GPU pods, by count, may run on named GPU models only (a seeded choice of pods; any
    constraint the base list had is cleared first). Each constraint is drawn from a pool of observed ones
    for the same kind of pod (share, one whole GPU, several GPUs): by default the ``gpu_spec`` column of
    the upstream ``gpuspec20`` list, so the constraints are the authors'.
``multi=S``
    Multi-GPU pods ask ``S`` (0 … 1) of the GPU demand (milli-GPU): multi-GPU pods drawn from the list's
    own are appended until their share reaches ``S`` (or seeded ones dropped while it exceeds ``S``).

Families combine (``cpu=2,spec=0.2``); they are applied in the order cpu, share, multi, spec. Every variant
renames its pods ``<base>-mix-<i>`` in their new order, so two variants never share a name by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from motherboard.scheduler.simulate.trace import TracePod

FAMILIES = {
    "cpu": (0.0, 3.0),
    "share": (0.0, 1.0),
    "spec": (0.0, 1.0),
    "multi": (0.0, 1.0),
}
"""Each family's knob and the range it accepts."""

LEVELS: dict[str, tuple[float, ...]] = {
    "cpu": (0.0, 0.5, 1.0, 2.0, 2.5, 3.0),
    "share": (0.2, 0.4, 0.6, 0.8, 1.0),
    "spec": (0.05, 0.1, 0.2, 0.25, 0.33),
    "multi": (0.2, 0.3, 0.4, 0.5),
}
"""The levels the benchmark sweeps (those of the upstream lists, cpu ×0 … ×3)."""

ORDER = ("cpu", "share", "multi", "spec")


class MixError(ValueError):
    """A ``--mix`` text that cannot be read; the message names the part and the fix."""


@dataclass(frozen=True)
class Mix:
    """A workload mix: a level per family (``None`` = as in the base list)."""

    cpu: float | None = None
    share: float | None = None
    spec: float | None = None
    multi: float | None = None

    def __str__(self) -> str:
        parts = [f"{k}={getattr(self, k):g}" for k in ORDER if getattr(self, k) is not None]
        return ",".join(parts) or "base"

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``cpu=2.5``, ``share=60%``, ``spec=0.2,cpu=2``: family=level pairs, shares as fractions or %."""
        values: dict[str, float] = {}
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in FAMILIES:
                raise MixError(
                    f"--mix: {part!r} is not family=level; families: {', '.join(FAMILIES)} "
                    "(e.g. --mix cpu=2.5 or --mix share=0.6,spec=20%)"
                )
            if key in values:
                raise MixError(f"--mix: {key} is given twice; give each family once")
            value = value.strip()
            try:
                level = float(value[:-1]) / 100 if value.endswith("%") else float(value)
            except ValueError:
                raise MixError(
                    f"--mix: {key}={value!r} is not a number (e.g. {key}=0.5 or {key}=50%)"
                ) from None
            lo, hi = FAMILIES[key]
            if not lo <= level <= hi:
                unit = "a multiple of the base list's CPU-only pods" if key == "cpu" else "a share"
                raise MixError(f"--mix: {key}={value} is out of range; {key} is {unit} from {lo:g} to {hi:g}")
            values[key] = level
        if not values:
            raise MixError("--mix: empty; give family=level pairs, e.g. --mix cpu=2.5")
        return cls(**values)


def _kind(pod: TracePod) -> str:
    if pod.num_gpu == 0:
        return "cpu"
    if pod.num_gpu > 1:
        return "multi"
    return "share" if pod.gpu_milli < 1000 else "whole"


def _draw(pool: Sequence[TracePod], n: int, rng: np.random.Generator) -> list[TracePod]:
    """``n`` pods from ``pool``: each once in a seeded order while they last, then with replacement."""
    if n <= 0 or not pool:
        return []
    first = [pool[i] for i in rng.permutation(len(pool))[:n]]
    extra = [pool[int(i)] for i in rng.integers(len(pool), size=max(0, n - len(pool)))]
    return first + extra


def _cpu(pods: list[TracePod], k: float, rng: np.random.Generator) -> list[TracePod]:
    cpu = [p for p in pods if p.num_gpu == 0]
    keep = _draw(cpu, round(k * len(cpu)), rng)
    return [p for p in pods if p.num_gpu > 0] + keep


def _share(pods: list[TracePod], s: float, rng: np.random.Generator) -> list[TracePod]:
    gpu = [p for p in pods if p.num_gpu > 0]
    shares = [p for p in gpu if _kind(p) == "share"]
    others = [p for p in gpu if _kind(p) != "share"]
    n_share = round(s * len(gpu))
    if (n_share and not shares) or (len(gpu) - n_share and not others):
        raise MixError(
            f"share={s:g}: the base list has no {'fractional' if not shares else 'whole'} GPU pods"
        )
    drawn = _draw(shares, n_share, rng) + _draw(others, len(gpu) - n_share, rng)
    return [p for p in pods if p.num_gpu == 0] + drawn


def _multi(pods: list[TracePod], s: float, rng: np.random.Generator) -> list[TracePod]:
    multi = [p for p in pods if _kind(p) == "multi"]
    rest_demand = sum(p.total_gpu_milli for p in pods if p.num_gpu == 1)
    if not multi:
        raise MixError(f"multi={s:g}: the base list has no multi-GPU pods to draw from")
    demand = sum(p.total_gpu_milli for p in multi)
    out = list(pods)
    if demand < s * (demand + rest_demand):
        while demand < s * (demand + rest_demand):
            pick = multi[int(rng.integers(len(multi)))]
            out.append(pick)
            demand += pick.total_gpu_milli
        return out
    drop: set[int] = set()
    index = [i for i, p in enumerate(pods) if _kind(p) == "multi"]
    for i in rng.permutation(index):
        if demand <= s * (demand + rest_demand):
            break
        drop.add(int(i))
        demand -= pods[int(i)].total_gpu_milli
    return [p for i, p in enumerate(out) if i not in drop]


def _spec(
    pods: list[TracePod], s: float, pool: Sequence[TracePod], rng: np.random.Generator
) -> list[TracePod]:
    by_kind: dict[str, list[tuple[str, ...]]] = {}
    for p in pool:
        if p.gpu_spec and p.num_gpu:
            by_kind.setdefault(_kind(p), []).append(p.gpu_spec)
    out = [replace(p, gpu_spec=()) for p in pods]
    gpu_rows = [i for i, p in enumerate(out) if p.num_gpu > 0]
    chosen = rng.permutation(gpu_rows)[: round(s * len(gpu_rows))]
    for i in sorted(int(x) for x in chosen):
        kind = _kind(out[i])
        specs = by_kind.get(kind) or by_kind.get("whole") or []
        if not specs:
            raise MixError(
                f"spec={s:g}: no GPU-model constraints to draw from; give a list with a gpu_spec column "
                "(the upstream openb_pod_list_gpuspec20.csv) as the constraint pool"
            )
        out[i] = replace(out[i], gpu_spec=specs[int(rng.integers(len(specs)))])
    return out


def generate(
    base: Sequence[TracePod], mix: Mix, seed: int, spec_pool: Sequence[TracePod] = ()
) -> list[TracePod]:
    """The variant of ``base`` for ``mix``; the same base, mix and seed give the same list, pod for pod.

    ``spec_pool`` supplies the GPU-model constraints for ``spec`` (pods with a ``gpu_spec``; the base list's
    own are used when it is empty). The result keeps the base list's pod fields; only the set of pods, their
    order (a seeded shuffle, as the upstream lists are not time-ordered either) and names change.
    """
    rng = np.random.default_rng([seed, 20])
    pods = list(base)
    if mix.cpu is not None:
        pods = _cpu(pods, mix.cpu, rng)
    if mix.share is not None:
        pods = _share(pods, mix.share, rng)
    if mix.multi is not None:
        pods = _multi(pods, mix.multi, rng)
    if mix.spec is not None:
        pods = _spec(pods, mix.spec, spec_pool or base, rng)
    pods = [pods[i] for i in rng.permutation(len(pods))]
    return [replace(p, name=f"{p.name}-mix-{i}") for i, p in enumerate(pods)]


def composition(pods: Sequence[TracePod]) -> dict[str, float]:
    """Counts and shares that define the families (what the tests and the docs report)."""
    gpu = [p for p in pods if p.num_gpu > 0]
    demand = sum(p.total_gpu_milli for p in gpu)
    return {
        "pods": len(pods),
        "cpu_only": sum(1 for p in pods if p.num_gpu == 0),
        "gpu_pods": len(gpu),
        "share": sum(1 for p in gpu if _kind(p) == "share") / len(gpu) if gpu else 0.0,
        "spec": sum(1 for p in gpu if p.gpu_spec) / len(gpu) if gpu else 0.0,
        "multi_demand": sum(p.total_gpu_milli for p in gpu if p.num_gpu > 1) / demand if demand else 0.0,
        "gpu_demand_milli": demand,
    }


POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
    "scheduled_time"
)


def to_csv(pods: Sequence[TracePod]) -> str:
    """The variant as an 11-column pod list (what ``--trace`` reads back)."""

    def opt(v: int | None) -> str:
        return "" if v is None else str(v)

    lines = [POD_HEADER]
    for p in pods:
        lines.append(
            f"{p.name},{p.cpu_milli},{p.memory_mib},{p.num_gpu},{p.gpu_milli},{'|'.join(p.gpu_spec)},{p.qos},"
            f",{opt(p.creation_time)},{opt(p.deletion_time)},{opt(p.scheduled_time)}"
        )
    return "\n".join(lines) + "\n"
