"""Latency of a loaded artifact: p50/p99 per batch size on random inputs, in microseconds.

Dynamic dimensions other than the batch take :data:`FREE_DIM` (models whose other dimensions matter,
such as an image detector's height and width, should be imported with those dimensions fixed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from motherboard.models.manifest import Latency
from motherboard.models.runner import Runner
from motherboard.models.tensors import TensorSpec

FREE_DIM = 32


def sample_shape(spec: TensorSpec, batch: int) -> tuple[int, ...]:
    return tuple(
        (batch if axis == 0 else FREE_DIM) if dim < 0 else dim for axis, dim in enumerate(spec.shape)
    )


def random_inputs(specs: Sequence[TensorSpec], batch: int, seed: int = 0) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for spec in specs:
        shape = sample_shape(spec, batch)
        if spec.dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        elif spec.dtype.kind in "iu":
            feeds[spec.name] = rng.integers(0, 8, shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.integers(0, 2, shape).astype(spec.dtype)
    return feeds


def batch_sizes(runner: Runner, wanted: Sequence[int]) -> list[int]:
    """The batch sizes a runner accepts among ``wanted`` (a fixed batch dimension allows only itself)."""
    first = runner.inputs[0].shape if runner.inputs else ()
    if first and first[0] >= 0:
        return [first[0]]
    return list(wanted)


def measure(
    runner: Runner, batches: Sequence[int] = (1, 8, 32), budget_s: float = 0.3, max_calls: int = 100
) -> tuple[Latency, ...]:
    """Time ``runner.run`` per batch size: a warm-up call, then up to ``max_calls`` within ``budget_s``."""
    results = []
    for batch in batch_sizes(runner, batches):
        feeds = random_inputs(runner.inputs, batch)
        runner.run(feeds)
        samples: list[float] = []
        deadline = time.perf_counter() + budget_s
        while len(samples) < max_calls and (len(samples) < 5 or time.perf_counter() < deadline):
            start = time.perf_counter()
            runner.run(feeds)
            samples.append((time.perf_counter() - start) * 1e6)
        results.append(
            Latency(
                batch,
                round(float(np.percentile(samples, 50)), 1),
                round(float(np.percentile(samples, 99)), 1),
            )
        )
    return tuple(results)
