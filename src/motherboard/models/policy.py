"""The adaptation policy: which artifact a target serves, and why.

Measured beats assumed: where artifacts were measured on the target itself, the one with the lowest
latency wins (the geometric mean of p50 over the batch sizes both measured), so a served artifact is never
slower than a measured alternative. Where nothing could be measured (a cross-compiled target, a GPU this
machine lacks), the policy serves ONNX Runtime — its kernels are hand-tuned per provider, while untuned
TVM code measured 3–71× slower on this project's CPU benchmarks and even tuned TVM may stay slower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from motherboard.models.manifest import Latency, Manifest
from motherboard.models.targets import Target


@dataclass(frozen=True)
class Choice:
    """The artifact to serve on a target, the reason, and the runner-up (the fallback)."""

    manifest: Manifest
    reason: str
    fallback: Manifest | None = None


def _score(latency: Sequence[Latency], batches: set[int]) -> float:
    values = [lat.p50_us for lat in latency if lat.batch in batches]
    return math.exp(sum(math.log(max(v, 1e-3)) for v in values) / len(values))


def choose(target: Target, candidates: Sequence[tuple[Manifest, Sequence[Latency]]]) -> Choice | None:
    if not candidates:
        return None
    if len(candidates) == 1:
        only = candidates[0][0]
        return Choice(only, f"{only.backend} is the only backend that builds this model for {target.name}")
    measured = [(m, lat) for m, lat in candidates if lat]
    if len(measured) == len(candidates):
        common = set.intersection(*({x.batch for x in lat} for _, lat in measured))
        if common:
            ranked = sorted(measured, key=lambda c: _score(c[1], common))
            (best, best_lat), (second, second_lat) = ranked[0], ranked[1]
            a, b = _score(best_lat, common), _score(second_lat, common)
            batches = ",".join(str(x) for x in sorted(common))
            return Choice(
                best,
                f"{best.backend} measured fastest on {target.name}: p50 {a:.0f} µs against {second.backend}'s "
                f"{b:.0f} µs ({b / a:.1f}×, geometric mean over batch {batches})",
                fallback=second,
            )
    # Nothing measured on this target: never serve TVM on faith, tuned or not (tuned TVM still measured
    # 2.1× slower than ONNX Runtime on a CNN); the node that runs it can measure and switch.
    by_backend = {m.backend: m for m, _ in candidates}
    ort = by_backend.get("onnxruntime")
    if ort is not None:
        others = [m for m, _ in candidates if m is not ort]
        return Choice(
            ort,
            f"not measured on {target.name} here; ONNX Runtime's kernels are preferred over TVM code "
            "that was not measured there",
            others[0] if others else None,
        )
    first = candidates[0][0]
    return Choice(first, f"not measured on {target.name} here; first backend allowed", candidates[1][0])
