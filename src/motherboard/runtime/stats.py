"""Per model-version counters: the source of both the statistics extension and the Prometheus metrics.

One set of numbers feeds ``GET /v2/models/{m}/stats`` (Triton's JSON) and ``/metrics`` (Triton's
``nv_inference_*`` names), so the two can never disagree. Only the event loop thread writes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the request latency histogram: p99 panels and SLO alerts need a distribution,
which Triton's cumulative ``nv_inference_request_duration_us`` cannot give."""


@dataclass
class Duration:
    """A count of events and their summed duration in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def to_json(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class BatchStats:
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class VersionStats:
    """What happened to one model version since it was loaded."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    inference_count: int = 0
    """Inferences: a request of batch n counts n (Triton's ``nv_inference_count``)."""
    execution_count: int = 0
    """Backend executions: one per (dynamic) batch."""
    last_inference_ms: int = 0
    batches: dict[int, BatchStats] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_REASONS, 0))
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_S))
    """Successful requests per latency bucket (not cumulative; the last bucket above holds the rest)."""
    latency_overflow: int = 0

    def record_batch(self, rows: int, requests: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        """One execution of ``rows`` rows gathered from ``requests`` requests."""
        self.execution_count += 1
        self.inference_count += rows
        self.last_inference_ms = int(time.time() * 1000)
        # Triton charges each request its batch's compute time; the per-batch-size table holds the batch once.
        self.compute_input.add(input_ns * requests, requests)
        self.compute_infer.add(infer_ns * requests, requests)
        self.compute_output.add(output_ns * requests, requests)
        stats = self.batches.get(rows)
        if stats is None:
            stats = self.batches[rows] = BatchStats()
        stats.compute_input.add(input_ns)
        stats.compute_infer.add(infer_ns)
        stats.compute_output.add(output_ns)

    def record_request(self, ok: bool, duration_ns: int, reason: str = "OTHER") -> None:
        if ok:
            self.success.add(duration_ns)
            seconds = duration_ns / 1e9
            for index, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    self.latency_buckets[index] += 1
                    break
            else:
                self.latency_overflow += 1
        else:
            self.fail.add(duration_ns)
            self.failures[reason] = self.failures.get(reason, 0) + 1

    def to_triton_json(self, name: str, version: str) -> dict[str, Any]:
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": self.success.to_json(),
                "fail": self.fail.to_json(),
                "queue": self.queue.to_json(),
                "compute_input": self.compute_input.to_json(),
                "compute_infer": self.compute_infer.to_json(),
                "compute_output": self.compute_output.to_json(),
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": [
                {
                    "batch_size": rows,
                    "compute_input": b.compute_input.to_json(),
                    "compute_infer": b.compute_infer.to_json(),
                    "compute_output": b.compute_output.to_json(),
                }
                for rows, b in sorted(self.batches.items())
            ],
        }
